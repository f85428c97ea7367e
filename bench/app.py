"""The device application's figures: command round trip, heap growth and the smallest heap.

A simulated board runs the real firmware (python -m simulator, with a world and a config) against a
scripted protocol server on 127.0.0.1 (tests/host/protoserver.py). The server sends relay.set
commands one after the other and times each until the board's result arrives, in rounds: before
each, the same runtime's WebSocket client times its plain echo (one message in flight, as the
commands go) and the round's ratio is its median over that echo's; the verdict is the median of
the rounds' ratios. On MicroPython, the heap the board reports (after a
collection, through the status command) every 1000 of 10,000 commands gives the growth along its
trend, and a binary search over the application's heap finds the smallest one in which the board
comes online, answers 200 commands and rides out two server restarts (reconnecting, answering
again) without a MemoryError, a task restart or a reset: once with the firmware in a ROMFS image
(the code stays in flash, as `make image ROMFS=1` lays out a board: the target) and once as .mpy
files on the flash (their code in the heap, as `make deploy` leaves it: reported).
"""

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "host"))

from websockets.exceptions import ConnectionClosed  # noqa: E402

from protoserver import ProtoServer  # noqa: E402
from simdevice import SimDevice, config, world  # noqa: E402

TOKEN = "bench-token"
RELAYS = [
    {"name": "heater", "pin": 26, "active_low": True, "boot": "off", "on_link_loss": "hold"},
    {"name": "pump", "pin": 27, "active_low": True, "on_link_loss": "hold"},
]
SENSORS = [
    {"name": "air", "kind": "dht22", "pin": 4, "interval": 2},
    {"name": "chip", "kind": "chip_temperature", "interval": 5, "filters": [{"round": 1}]},
]
WORLD = world([{"kind": "dht22", "name": "air", "pin": 4}, {"kind": "chip_temperature", "name": "chip"}])
TARGET_RATIO = 3.0  # command round trip median, times the client's echo round trip
TARGET_HEAP_KIB = 64
GROWTH_STEP = 500  # commands between two free-heap samples: 11 samples over 10,000 messages
# The heap is counted in 16-byte blocks, and data whose size varies (the digits of numbers) moves
# the free heap by a few blocks either way between samples. A leak is a steady loss: less than
# 10 blocks along the trend over 10,000 messages (under one block per 1,000 messages) is none.
GROWTH_TOLERANCE = 160
ROUNDS = 5  # rounds of commands, each next to an echo measurement of its own
WARM_S = 12.0  # the growth is measured from this long after the hello: two readings of each sensor
RESTARTS = 2  # server restarts a board must ride out in the smallest-heap search


def _board(tmp, runtime, server, heap=None, name="board", romfs=False):
    cfg = config("bench-1", TOKEN, server.url, relays=RELAYS, sensors=SENSORS, log_level="warning")
    cfg["intervals"].update({"lease": 60, "keepalive": 20, "telemetry": 2})
    for var, value in (("SIM_TEST_HEAP", heap), ("SIM_TEST_ROMFS", "1" if romfs else None)):
        if value:
            os.environ[var] = value
        else:
            os.environ.pop(var, None)
    try:
        return SimDevice(Path(tmp), runtime, cfg, WORLD, name=name).start()
    finally:
        os.environ.pop("SIM_TEST_HEAP", None)
        os.environ.pop("SIM_TEST_ROMFS", None)


def _commands(server, n, method="relay.set"):
    """Send n commands one after the other; their round trips in µs."""

    def make(i):
        if method == "relay.set":
            return method, {"relay": "heater", "on": bool(i & 1)}
        return method, {"relay": "heater"}

    times, results = server.timed_calls(n, make)
    for r in results:
        if not r["ok"]:
            raise RuntimeError("command failed: %s" % r)
    return times


def _heap_free(server, samples=12, remember=16):
    """The board's free heap after a collection, at a moment its outbox is empty (readings in
    flight are data, not growth) and its remembered results are `remember` relay.get results: the
    largest of several status calls. Each status result (about 250 B) is remembered too, so
    without the relay.gets before each call every call would find more of the heap taken by the
    results of the calls before it."""
    best = None
    found = 0
    for _ in range(samples * 5):
        _commands(server, remember, "relay.get")
        st = server.call("status", timeout=30)["result"]
        if st["outbox"] == 0:
            best = st["heap_free"] if best is None else max(best, st["heap_free"])
            found += 1
            if found >= samples:
                break
        time.sleep(0.05)
    if best is None:
        raise RuntimeError("the board's outbox never emptied")
    return best


def command_rtt(runtime, count=1000, warmup=100, growth=0, echo=None, rounds=ROUNDS):
    """{median_us, p99_us[, growth_bytes]} of relay.set round trips on one runtime.

    With echo (a callable: the client's plain echo round trip in µs, measured when called), the
    commands go in `rounds` rounds, each right after an echo measurement, and the ratio is the
    median of the rounds' ratios: a machine that is slower for a while slows both sides of one
    round's ratio instead of one side of the whole figure."""
    with tempfile.TemporaryDirectory() as tmp:
        server = ProtoServer({"bench-1": TOKEN}).start()
        dev = _board(tmp, runtime, server)
        try:
            server.wait_online(timeout=60)
            online_at = time.monotonic()
            _commands(server, warmup)
            if echo is None:
                times = _commands(server, count)
                out = {}
            else:
                times, echoes, ratios = [], [], []
                for _ in range(rounds):
                    e = echo()
                    _commands(server, warmup)  # as the echo run warms up: the machine idled meanwhile
                    t = _commands(server, max(1, count // rounds))
                    times += t
                    echoes.append(e)
                    ratios.append(statistics.median(t) / e)
                out = {
                    "echo_us": statistics.median(echoes),
                    "ratios": ratios,
                    "ratio": statistics.median(ratios),
                    "round_count": max(1, count // rounds),
                }
            out["median_us"] = statistics.median(times)
            out["p99_us"] = sorted(times)[int(len(times) * 0.99) - 1]
            if growth:
                # A warm-up of the same command, long enough for every sensor's filters and
                # the log of recent errors to have filled: growth is what comes after.
                # Command ids of one length from here on: a remembered result with a longer id
                # may take one more 16-byte block, which is data, not growth.
                server._ids = max(server._ids, 100_000)
                _commands(server, warmup, "relay.get")
                time.sleep(max(0.0, WARM_S - (time.monotonic() - online_at)))
                series = [_heap_free(server)]
                done = 0
                while done < growth:
                    n = min(GROWTH_STEP, growth - done)
                    _commands(server, n, "relay.get")
                    done += n
                    series.append(_heap_free(server))
                out["heap_series"] = series
                out["growth_bytes"] = growth_trend(series)
                out["growth_count"] = growth
            out["resets"] = dev.output().count("rst:") - 1
            return out
        finally:
            dev.stop()
            server.stop()


def growth_trend(series):
    """Bytes the free heap loses from the first sample to the last along its trend: the median of
    the slopes between every two samples (Theil-Sen), which one dipping sample cannot tilt."""
    slopes = [
        (series[j] - series[i]) / (j - i) for i in range(len(series)) for j in range(i + 1, len(series))
    ]
    return round(-statistics.median(slopes) * (len(series) - 1)) if slopes else 0


def _works(tmp, heap_kib, n=200, romfs=False, restarts=RESTARTS):
    """Whether a board with this application heap comes online, answers n commands and a
    sensors.read, then, `restarts` times, sees the server restart, reconnects and answers
    n // 4 commands, a sensors.read and a status: with no MemoryError, no task restarted, no
    reset. A reconnect needs room the running board does not (dialling and the handshake load
    their code, a new connection its buffers), in a heap that has had time to fragment."""
    server = ProtoServer({"bench-1": TOKEN}).start()
    name = "heap%d%s" % (heap_kib, "r" if romfs else "")
    dev = _board(tmp, "micropython", server, "%dk" % heap_kib, name=name, romfs=romfs)
    try:
        server.wait_online(timeout=20)
        _commands(server, n)
        server.call("sensors.read", {}, timeout=20)
        for _ in range(restarts):
            port = server.port
            server.stop()  # the board's connection drops (1001)
            time.sleep(0.3)
            server = ProtoServer({"bench-1": TOKEN}, port=port).start()
            server.wait_online(timeout=30)
            _commands(server, n // 4)
            server.call("sensors.read", {}, timeout=20)
            if not server.call("status", timeout=20)["ok"]:
                return False
        out = dev.output()
        return "MemoryError" not in out and "task failed" not in out and out.count("rst:") == 1
    except (AssertionError, RuntimeError, TimeoutError, ConnectionClosed):
        return False  # a board short of heap may never answer, or drop the connection
    finally:
        dev.stop()
        server.stop()


def smallest_heap(lo=32, hi=256, romfs=False):
    """The smallest application heap (KiB, MicroPython) in which the board works, by bisection;
    romfs: with the firmware's code in a ROMFS image (flash) instead of .mpy files in the heap."""
    with tempfile.TemporaryDirectory() as tmp:
        if not _works(tmp, hi, romfs=romfs):
            return None
        while hi - lo > 4:
            mid = (lo + hi) // 2
            if _works(tmp, mid, romfs=romfs):
                hi = mid
            else:
                lo = mid
        return hi


def _kib(h):
    return "%d KiB" % h if h else "more than 256 KiB"


def report(results, echo_us):
    """Printed lines: each runtime's command round trip against its echo, growth, smallest heap."""
    lines = ["", "Device application (firmware/app on a simulated board, scripted server on loopback)"]
    for runtime in ("micropython", "cpython"):
        r = results.get(runtime)
        if not r:
            continue
        echo = r.get("echo_us") or echo_us.get(runtime)
        ratio = r.get("ratio") or (r["median_us"] / echo if echo else None)
        verdict = "" if ratio is None else ("PASS" if ratio <= TARGET_RATIO else "MISSED")
        lines.append(
            "  %-11s command round trip (relay.set): median %7.0f us, p99 %7.0f us; "
            "echo %s; ratio %s (target <= %.0fx) %s"
            % (
                runtime,
                r["median_us"],
                r["p99_us"],
                "%.0f us" % echo if echo else "n/a",
                "%.2fx" % ratio if ratio else "n/a",
                TARGET_RATIO,
                verdict,
            )
        )
        if "ratios" in r:
            lines.append(
                "  %-11s per round (%d commands after an echo run of the client): %s; the ratio: their median"
                % (runtime, r["round_count"], " ".join("%.2fx" % x for x in r["ratios"]))
            )
            table = echo_us.get(runtime)
            if table:
                lines.append(
                    "  %-11s (the echo is the client's alone, one message after the other, as the commands"
                    " go; interleaved with the floors, the client's table has %.0f us: %.2fx)"
                    % (runtime, table, r["median_us"] / table)
                )
        if "growth_bytes" in r:
            g = r["growth_bytes"]
            lines.append(
                "  %-11s heap growth over %d commands (%d messages), along the trend: %d B "
                "(target 0: under %d B, 10 blocks) %s"
                % (
                    runtime,
                    r["growth_count"],
                    2 * r["growth_count"],
                    g,
                    GROWTH_TOLERANCE,
                    "PASS" if g < GROWTH_TOLERANCE else "MISSED",
                )
            )
            lines.append(
                "  %-11s free heap after a collection, every %d commands: %s"
                % (runtime, GROWTH_STEP, r["heap_series"])
            )
    # The target is the boards' layout: the code in a ROMFS partition (make image ROMFS=1), run
    # from flash. make deploy's .mpy files, loaded into the heap, are the development layout.
    h = results.get("smallest_heap_romfs_kib", -1)
    if h != -1:
        lines.append(
            "  micropython smallest application heap, code in ROMFS (make image ROMFS=1): %s "
            "(target <= %d KiB) %s"
            % (_kib(h), TARGET_HEAP_KIB, "PASS" if h and h <= TARGET_HEAP_KIB else "MISSED")
        )
    h = results.get("smallest_heap_kib", -1)
    if h != -1:
        lines.append(
            "  micropython smallest application heap, code as .mpy files in the heap (make deploy): %s "
            "(reported: the development layout)" % _kib(h)
        )
    return "\n".join(lines)
