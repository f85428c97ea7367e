"""python -m bench (make bench): our client against a raw-frame floor, on MicroPython and CPython.

Starts a `websockets` echo server on 127.0.0.1 (an ephemeral port), runs every measurement on
MicroPython (the targets) and on CPython (for reference), prints each figure with its target,
ratio and PASS/MISSED, and stops the server by its PID. Exits non-zero only if something failed.
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time

from bench import report
from bench.run import (
    FIRMWARE,
    BenchError,
    EchoServer,
    MpyTree,
    heap_live,
    micropython_version,
    mpy_arch,
    run_script,
    smallest_heap,
    tool,
)

APP_ECHO_COUNT = 500  # the client's echoes measured before each round of the application's commands


def _options(argv):
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=1000, help="timed messages per round (1000)")
    ap.add_argument("--warmup", type=int, default=100, help="warm-up messages per round (100)")
    ap.add_argument("--rounds", type=int, default=5, help="rounds (separate processes) per size (5)")
    ap.add_argument("--growth", type=int, default=10000, help="messages of the heap growth run (10000)")
    ap.add_argument("--rx", type=int, default=2048, help="rx_buffer_size of the extra client variant")
    ap.add_argument("--skip-heap", action="store_true", help="skip the smallest-heap search")
    ap.add_argument(
        "--heap-only", action="store_true", help="only the smallest-heap search and the heap in use by stage"
    )
    ap.add_argument("--no-client", action="store_true", help="measure the floor and the core only")
    ap.add_argument("--skip-app", action="store_true", help="skip the device application's figures")
    ap.add_argument("--app-count", type=int, default=1000, help="timed commands per runtime (1000)")
    ap.add_argument("--json", metavar="PATH", help="also write the raw results there")
    opt = ap.parse_args(argv)
    if opt.count < 1 or opt.rounds < 1 or opt.growth < 10:
        ap.error("--count and --rounds must be at least 1, --growth at least 10")
    return opt


def _step(text):
    print("...", text, flush=True)


def main(argv=None):
    opt = _options(argv)
    started = time.monotonic()
    mp_exe = tool("micropython")
    has_client = not opt.no_client and os.path.exists(os.path.join(FIRMWARE, "ws", "client.py"))
    info = {
        "count": opt.count,
        "warmup": opt.warmup,
        "rounds": opt.rounds,
        "growth_count": opt.growth,
        "rx": opt.rx,
        "client": has_client,
        "cp_version": platform.python_version(),
        "mp_version": micropython_version(mp_exe) if mp_exe else None,
    }
    mp = cp = None
    with EchoServer() as server:
        port = server.port
        import websockets

        info["where"] = "echo server: websockets %s on 127.0.0.1:%d (pid %d); %s, %d CPUs" % (
            websockets.__version__,
            port,
            server.proc.pid,
            platform.machine(),
            os.cpu_count() or 0,
        )
        _step(info["where"])
        rtt_args = (opt.count, opt.warmup, 1 if has_client else 0)
        if opt.heap_only:
            if not mp_exe:
                raise BenchError("--heap-only needs `micropython` on PATH")
            mp = {}
            _heap(opt, mp, mp_exe, port, has_client)
            rep = report.heap_only(info, mp)
            print()
            print(rep.text())
            print("(bench took %.0f s)" % (time.monotonic() - started))
            return 0
        if mp_exe:
            mp = {"rtt": {32: [], 1024: []}}
            for size in (32, 1024):
                for i in range(opt.rounds):
                    _step("MicroPython round trips, %d B, round %d/%d" % (size, i + 1, opt.rounds))
                    rx = opt.rx if size + 14 > 1024 else 0  # the variant only matters for big frames
                    mp["rtt"][size].append(
                        run_script("micropython", ("rtt", port, size) + rtt_args + (rx,), mp_exe)
                    )
            driver = "client" if has_client else "core"
            _step("MicroPython heap growth over %d messages (%s)" % (opt.growth, driver))
            mp["growth"] = run_script(
                "micropython", ("growth", port, 1024, opt.growth, opt.warmup, driver), mp_exe
            )
            _step("MicroPython masking throughput")
            mp["mask"] = run_script("micropython", ("mask",), mp_exe)
            _heap(opt, mp, mp_exe, port, has_client)
        else:
            info["mp_skipped"] = "no `micropython` on PATH: its wheel exists for Linux x86_64 and macOS arm64"
        cp = {"rtt": {32: [], 1024: []}}
        for size in (32, 1024):
            for i in range(opt.rounds):
                _step("CPython round trips, %d B, round %d/%d" % (size, i + 1, opt.rounds))
                rx = opt.rx if size + 14 > 1024 else 0
                cp["rtt"][size].append(run_script("cpython", ("rtt", port, size) + rtt_args + (rx,)))
        _step("CPython masking throughput")
        cp["mask"] = run_script("cpython", ("mask",))
    rep = report.build(info, mp, cp)
    app_text = ""
    if has_client and not opt.skip_app:
        app_text = _app(opt, mp, cp, mp_exe)
    print()
    print(rep.text())
    print(app_text)
    print("(bench took %.0f s)" % (time.monotonic() - started))
    if opt.json:
        with open(opt.json, "w") as f:
            json.dump({"info": info, "micropython": mp, "cpython": cp}, f)
    return 0


def _app(opt, mp, cp, mp_exe):
    """The device application on a simulated board: command round trips against each runtime's
    echo (the client's 32 B median from this run), heap growth and the smallest heap."""
    from bench import app

    echo, results = {}, {}
    with EchoServer() as server:  # the client's echo again, next to each round of commands
        for runtime, data in (("micropython", mp), ("cpython", cp)):
            if not data or (runtime == "micropython" and not mp_exe):
                continue
            m = report.medians(data["rtt"][32], "client")
            echo[runtime] = statistics.median(m) if m else None

            def echo_now(runtime=runtime):
                # Timed as the commands are: one message in flight, each sent when the last came back.
                args = ("echo", server.port, 32, APP_ECHO_COUNT, opt.warmup)
                r = run_script(runtime, args, mp_exe if runtime == "micropython" else None)
                return report.medians([r], "client")[0]

            _step("%s: the application's command round trips (%d relay.set)" % (runtime, opt.app_count))
            growth = opt.growth // 2 if runtime == "micropython" else 0  # a command and its result
            results[runtime] = app.command_rtt(runtime, opt.app_count, opt.warmup, growth, echo_now)
    if mp_exe and not opt.skip_heap:
        _step("MicroPython: the smallest heap the whole application works in")
        results["smallest_heap_kib"] = app.smallest_heap()
        results["smallest_heap_romfs_kib"] = app.smallest_heap(romfs=True)
    return app.report(results, echo)


def _heap(opt, mp, mp_exe, port, has_client):
    mp["heap"] = {}
    if opt.skip_heap:
        mp["heap_skipped"] = "--skip-heap"
        return
    mpy_cross = tool("mpy-cross")
    arch = mpy_arch()
    if not mpy_cross or not arch:
        mp["heap_skipped"] = "needs mpy-cross and an x86/x64 machine (viper code is native)"
        return
    tree = MpyTree(mpy_cross, arch)
    try:
        drivers = ("client", "core") if has_client else ("core",)
        for driver in drivers:
            _step("MicroPython smallest heap, 1000 echoes of 1 KiB, .mpy (%s)" % driver)
            mp["heap"][driver] = smallest_heap(tree, mp_exe, port, driver)
        if has_client:
            _step("MicroPython smallest heap, 1000 echoes of 1 KiB, code in a ROMFS image (client)")
            mp["heap"]["client_rom"] = smallest_heap(tree, mp_exe, port, "client", rom=True)
            # Where the heap goes: the code alone, then a connection without messages.
            _step("MicroPython smallest heap to import ws.client, and to connect and close")
            mp["heap"]["import"] = smallest_heap(tree, mp_exe, port, "import")
            mp["heap"]["connect"] = smallest_heap(tree, mp_exe, port, "client", count=0)
            _step("MicroPython heap in use by stage")
            mp["live"] = heap_live(tree, mp_exe, port)
    finally:
        tree.cleanup()


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as e:
        print("make bench: ERROR:", e, file=sys.stderr)
        sys.exit(2)
