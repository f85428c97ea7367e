"""How many simulated boards one machine runs at once: `python -m simulator.fleetbench`.

Starts a fleet (quiet, flash folders in a temporary folder), waits until every board printed its
first reading, then measures for --measure seconds: readings per board a second and the longest
gap between two readings of a board (the stand-in firmwares print one a second), the
boards' memory (PSS, summed over their processes, and how much MemAvailable fell), the CPU the
boards and the simulator use, and how long starting and stopping took. Every process it starts
is stopped by PID; it checks that none is left. Figures and how to read them: docs/fleet.md.

    python -m simulator.fleetbench --runtime cpython --devices 1000
    python -m simulator.fleetbench --runtime micropython --devices 100,200 --measure 20
    python -m simulator.fleetbench --runtime both --firmware asyncio --devices 1000

A run stops adding boards when MemAvailable falls under --reserve-mib (other work on the
machine keeps its memory) and reports how far it got.
"""

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import time

from simulator import fleet
from simulator.__main__ import (
    DEFAULT_BOARD,
    ESP32_HEAP,
    SimulatorError,
    board_command,
    board_config,
    board_ids,
    load_board,
    load_template,
    prepare_flash,
)

LATE_S = 2.0  # a board whose readings are further apart than this does not keep up
# The boards' firmware (--firmware): "standin" is the stand-in firmware/main.py that came before the
# application (a reading printed every second, time.sleep_ms between); "asyncio" is the same
# sleeping in asyncio, as the application does. (On the MicroPython unix port time.sleep_ms wakes
# every ~0.6 ms, while asyncio sleeps in one poll().) A folder runs its own main.py.
STANDIN_MAIN = """
import time
import esp32
import machine

led = machine.Pin(2, machine.Pin.OUT)
print("main.py: stand-in, reset cause %d" % machine.reset_cause())
n = 0
while True:
    led.value(n & 1)
    if n % 2 == 0:
        print("reading %d: chip temperature %d C" % (n // 2, (esp32.raw_temperature() - 32) * 5 // 9))
    n += 1
    time.sleep_ms(500)
"""
ASYNCIO_MAIN = """
import asyncio
import esp32
import machine


async def main():
    led = machine.Pin(2, machine.Pin.OUT)
    print("main.py: asyncio stand-in, reset cause %d" % machine.reset_cause())
    n = 0
    while True:
        led.value(n & 1)
        if n % 2 == 0:
            print("reading %d: chip temperature %d C" % (n // 2, (esp32.raw_temperature() - 32) * 5 // 9))
        n += 1
        await asyncio.sleep(0.5)


asyncio.run(main())
"""
FIRMWARES = {"standin": STANDIN_MAIN, "asyncio": ASYNCIO_MAIN}
TICK = os.sysconf("SC_CLK_TCK")


def meminfo(key="MemAvailable"):
    """A /proc/meminfo value in KiB."""
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def pss_kib(pid):
    """Proportional set size of a process in KiB (shared pages split among their users)."""
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_ticks(pid):
    """User + system clock ticks a process used."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            rest = f.read().rsplit(")", 1)[1].split()
        return int(rest[11]) + int(rest[12])
    except (OSError, IndexError, ValueError):
        return 0


class Bench(fleet.Supervisor):
    """A quiet fleet that times each board's readings."""

    def __init__(self, boards, command, start_rate, forks=None, report=b"reading "):
        fleet.Supervisor.__init__(
            self, boards, command, None, prefix=True, quiet=True, start_rate=start_rate, forks=forks
        )
        self.first = {}  # board id -> time of its first reading
        self.last = {}
        self.counts = {}  # readings in the measuring window
        self.gaps = {}  # longest gap in the measuring window
        self.measuring = False
        self.report = report  # what a report looks like on the console

    def _console(self, b, data):
        n = data.count(self.report)
        if n:
            now = time.monotonic()
            self.first.setdefault(b.id, now)
            if self.measuring:
                gap = now - self.last.get(b.id, now)
                self.gaps[b.id] = max(self.gaps.get(b.id, 0.0), gap)
                self.counts[b.id] = self.counts.get(b.id, 0) + n
            self.last[b.id] = now
        fleet.Supervisor._console(self, b, data)


def run(
    runtime,
    devices,
    start_rate,
    measure,
    firmware,
    reserve_mib,
    fork_server=True,
    config=None,
    report="reading ",
):
    """Measure one fleet (CPython boards forked by a fork server unless fork_server is False;
    config: a config template, each board's with its device_id); a dict of figures."""
    board = load_board(DEFAULT_BOARD)
    root = tempfile.mkdtemp(prefix="fleetbench-")
    boards = []
    try:
        name = firmware
        if firmware in FIRMWARES:
            firmware = os.path.join(root, "firmware")
            os.mkdir(firmware)
            with open(os.path.join(firmware, "main.py"), "w") as f:
                f.write(FIRMWARES[name])
        for n, board_id in enumerate(board_ids("bench", devices)):
            flash = os.path.join(root, board_id, "flash")
            prepare_flash(flash, board, None, None if config is None else board_config(config, board_id))
            boards.append(fleet.Board(n + 1, board_id, 1 + n, flash))

        def command(b, cause, elapsed_ms):
            argv, env = board_command(runtime, b.flash, b.id, b.seed, ESP32_HEAP, firmware)
            return argv + [str(cause)], env

        avail0 = meminfo()
        forks = None
        if runtime == "cpython" and fork_server:
            from simulator import fleetfork

            forks = fleetfork.ForkServer()
        bench = Bench(boards, command, start_rate, forks, report.encode())
        self0 = resource.getrusage(resource.RUSAGE_SELF)
        t0 = time.monotonic()
        bench.start()
        result = {"runtime": runtime, "devices": devices, "start_rate": start_rate}
        result["firmware"] = name
        result["fork_server"] = forks is not None
        next_note = t0 + 5
        try:
            while len(bench.first) < devices:
                bench.step(0.1)
                now = time.monotonic()
                if meminfo() < reserve_mib * 1024:
                    result["stopped"] = "MemAvailable fell under %d MiB with %d boards running" % (
                        reserve_mib,
                        sum(1 for b in boards if b.proc is not None),
                    )
                    break
                if now > next_note:
                    print("  %5.0f s: %d of %d boards reading" % (now - t0, len(bench.first), devices))
                    next_note = now + 5
                if now - t0 > devices / start_rate + 120:
                    result["stopped"] = "only %d of %d boards read within %.0f s" % (
                        len(bench.first),
                        devices,
                        now - t0,
                    )
                    break
            result["ramp_s"] = round(time.monotonic() - t0, 1)
            running = [b for b in boards if b.proc is not None]
            if "stopped" not in result:
                settle = time.monotonic() + 3  # startup work of the last boards is done
                while time.monotonic() < settle:
                    bench.step(0.1)
                ticks0 = dict((b.id, cpu_ticks(b.proc.pid)) for b in running)
                self1 = resource.getrusage(resource.RUSAGE_SELF)
                bench.measuring = True
                w0 = time.monotonic()
                while time.monotonic() < w0 + measure:
                    bench.step(0.1)
                window = time.monotonic() - w0
                bench.measuring = False
                self2 = resource.getrusage(resource.RUSAGE_SELF)
                used = sum(cpu_ticks(b.proc.pid) - ticks0[b.id] for b in running if b.proc is not None)
                pss = [pss_kib(b.proc.pid) for b in running if b.proc is not None]
                if forks is not None:  # the server's own share of what the boards share
                    result["fork_server_pss_mib"] = round(pss_kib(forks.proc.pid) / 1024, 1)
                    pss.append(pss_kib(forks.proc.pid))
                rates = [bench.counts.get(b.id, 0) / window for b in running]
                gaps = [bench.gaps.get(b.id, window) for b in running]
                result.update(
                    running=len(running),
                    readings_per_board_s=round(sum(rates) / len(rates), 3),
                    slowest_board_readings_s=round(min(rates), 3),
                    longest_gap_s=round(max(gaps), 2),
                    boards_late=sum(1 for g in gaps if g > LATE_S),
                    pss_mib_total=round(sum(pss) / 1024, 1),
                    pss_mib_per_board=round(sum(pss) / 1024 / len(running), 2),  # the server counted in
                    mem_available_drop_mib=round((avail0 - meminfo()) / 1024),
                    boards_cpu_cores=round(used / TICK / window, 3),
                    board_cpu_ms_per_s=round(used / TICK / window / len(running) * 1000, 2),
                    simulator_cpu_cores=round(
                        (self2.ru_utime + self2.ru_stime - self1.ru_utime - self1.ru_stime) / window, 3
                    ),
                )
        finally:
            s0 = time.monotonic()
            pids = [b.proc.pid for b in boards if b.proc is not None]
            bench.stop()
            result["stop_s"] = round(time.monotonic() - s0, 1)
            result["left_running"] = sum(1 for pid in pids if os.path.exists("/proc/%d" % pid))
            ram = self0.ru_maxrss
        result["simulator_rss_mib"] = round(
            max(ram, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) / 1024
        )
        return result
    finally:
        shutil.rmtree(root, ignore_errors=True)


TABLE_HEAD = (
    "| runtime | firmware | boards | readings a board a second (slowest) | longest gap | late | PSS a board |"
    " MemAvailable fell | CPU: boards | CPU: simulator | start | stop |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|---|"
)


def table_row(r):
    """A markdown table row of one result (docs/fleet.md)."""
    runtime = r["runtime"] + (" (forked)" if r.get("fork_server") else "")
    head = "| %s | %s | %d |" % (runtime, r["firmware"], r.get("running", r["devices"]))
    if "running" not in r:
        return head + " %s |" % r.get("stopped", "")
    return head + (
        " %.2f (%.2f) | %.1f s | %d | %.1f MiB | %d MiB | %.2f ms/s each, %.2f cores | %.2f cores |"
        " %.0f s | %.0f s |"
        % (
            r["readings_per_board_s"],
            r["slowest_board_readings_s"],
            r["longest_gap_s"],
            r["boards_late"],
            r["pss_mib_per_board"],
            r["mem_available_drop_mib"],
            r["board_cpu_ms_per_s"],
            r["boards_cpu_cores"],
            r["simulator_cpu_cores"],
            r["ramp_s"],
            r["stop_s"],
        )
    )


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m simulator.fleetbench", description=__doc__.splitlines()[0])
    ap.add_argument("--runtime", default="cpython", help="cpython, micropython or both")
    ap.add_argument("--devices", default="1000", help="fleet sizes, e.g. 250,1000")
    ap.add_argument("--start-rate", type=float, default=50.0, help="boards started a second")
    ap.add_argument("--measure", type=float, default=30.0, help="seconds measured once all boards read")
    ap.add_argument("--firmware", default="standin", help="standin, asyncio or a firmware folder")
    ap.add_argument(
        "--reserve-mib", type=int, default=3072, help="stop adding boards below this MemAvailable"
    )
    ap.add_argument("--json", help="append each result as a JSON line to this file")
    ap.add_argument("--no-fork-server", action="store_true", help="CPython boards as plain processes")
    ap.add_argument("--config", help="config template: each board's config.json, with its device_id")
    ap.add_argument(
        "--report", default="reading ", help="console text that marks one report (default: reading)"
    )
    a = ap.parse_args(argv)
    runtimes = ("cpython", "micropython") if a.runtime == "both" else (a.runtime,)
    try:
        sizes = [int(n) for n in a.devices.split(",")]
    except ValueError:
        print("fleetbench: --devices takes numbers separated by commas, not %r" % a.devices, file=sys.stderr)
        return 2
    if any(r not in ("cpython", "micropython") for r in runtimes) or min(sizes) < 1:
        print("fleetbench: --runtime is cpython, micropython or both; --devices at least 1", file=sys.stderr)
        return 2
    try:
        template = load_template(a.config) if a.config else None
    except SimulatorError as e:
        print("fleetbench: %s" % e, file=sys.stderr)
        return 2
    cpus = os.cpu_count()
    print(
        "fleetbench: %d CPUs, %.1f GiB RAM, %.1f GiB available"
        % (cpus, meminfo("MemTotal") / 2**20, meminfo() / 2**20)
    )
    results = []
    for runtime in runtimes:
        for n in sizes:
            print("fleetbench: %d boards on %s, %g started a second" % (n, runtime, a.start_rate))
            try:
                r = run(
                    runtime,
                    n,
                    a.start_rate,
                    a.measure,
                    a.firmware,
                    a.reserve_mib,
                    not a.no_fork_server,
                    template,
                    a.report,
                )
            except SimulatorError as e:
                print("fleetbench: %s" % e, file=sys.stderr)
                return 2
            print("  " + json.dumps(r))
            results.append(r)
            if a.json:
                with open(a.json, "a") as f:
                    f.write(json.dumps(r) + "\n")
    print()
    print(TABLE_HEAD)
    for r in results:
        print(table_row(r))
    return 0 if all("running" in r and not r["left_running"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
