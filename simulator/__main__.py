"""python -m simulator: boot a simulated ESP32 from a board file, on CPython or MicroPython.

Runs firmware/boot.py and main.py unchanged in a child process whose console output is the
board's serial output; the board's flash folder keeps its files across reboots.

Plain mode (the default; `make sim`, tests): the console goes to this program's stdout and
nobody can type; when main.py ends or is interrupted the board prints its REPL banner and the
process ends. Serial mode (--serial, or --rfc2217-port): the console is a pseudo-terminal that
behaves like the board's USB serial port (friendly and raw REPL, Ctrl-C, soft reset), for a
terminal program or `mpremote connect /dev/pts/N`; with --rfc2217-port it is also served as
rfc2217://127.0.0.1:N, where DTR/RTS reset the board as a dev board's auto-reset circuit does.
Serial mode prints `serial: PATH` (and `rfc2217: URL`) and runs until stopped.
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time

from simulator import serialport

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIRMWARE = os.path.join(ROOT, "firmware")
FAKES = os.path.join(ROOT, "simulator", "fakes")
BOARDPROC = os.path.join(ROOT, "simulator", "boardproc.py")
DEFAULT_BOARD = os.path.join(ROOT, "boards", "esp32-devkitc.json")
ESP32_HEAP = "110k"  # about what MicroPython has left on an ESP32 without PSRAM
# On a board the chip's state is hardware; here the fakes hold it in the same heap, so their
# measured need (about 96 KiB as .mpy) is added on top of what the application gets.
FAKES_HEAP_KIB = 100
CACHE = os.path.join(ROOT, ".sim", "cache")


class SimulatorError(Exception):
    """A bad argument or file: the message says which and why."""


def load_board(path):
    """The board definition (a JSON object with at least name and chip)."""
    try:
        with open(path) as f:
            board = json.load(f)
    except OSError as e:
        raise SimulatorError("board file %s: %s" % (path, e.strerror or e))
    except ValueError as e:
        raise SimulatorError("board file %s is not valid JSON: %s" % (path, e))
    if not isinstance(board, dict) or "chip" not in board or "name" not in board:
        raise SimulatorError("board file %s must be an object with at least 'name' and 'chip'" % path)
    return board


def prepare_flash(flash, board, config=None):
    """Create the board's flash folder and write the board file (and config) as deploy would."""
    os.makedirs(flash, exist_ok=True)
    with open(os.path.join(flash, "board.json"), "w") as f:
        json.dump(board, f, indent=1)
    if config is not None:
        shutil.copyfile(config, os.path.join(flash, "config.json"))


def heap_kib(text):
    """KiB from a heap size such as 110k, 1m or 65536."""
    t = text.strip().lower()
    try:
        if t.endswith("k"):
            return int(t[:-1])
        if t.endswith("m"):
            return int(t[:-1]) * 1024
        return (int(t) + 1023) // 1024
    except ValueError:
        raise SimulatorError("heap size %r is not a number of bytes, k or m" % text)


def compiled_fakes():
    """The fakes compiled to .mpy (kept up to date in .sim/cache): MicroPython imports them
    without compiling source in the board's heap."""
    mpy_cross = shutil.which("mpy-cross")
    if mpy_cross is None:
        return FAKES
    out = os.path.join(CACHE, "fakes")
    os.makedirs(out, exist_ok=True)
    for name in sorted(os.listdir(FAKES)):
        if not name.endswith(".py") or name == "micropython.py":  # MicroPython's own wins
            continue
        src = os.path.join(FAKES, name)
        dst = os.path.join(out, name[:-3] + ".mpy")
        if not os.path.exists(dst) or os.path.getmtime(dst) < os.path.getmtime(src):
            r = subprocess.run([mpy_cross, "-o", dst, src], capture_output=True, text=True)
            if r.returncode != 0:
                raise SimulatorError("mpy-cross failed on %s: %s" % (src, r.stderr.strip()))
    return out


def board_command(runtime, flash, board_id, seed, heap=ESP32_HEAP, firmware=FIRMWARE):
    """The command line and environment that run one board on the chosen runtime."""
    firmware = os.path.abspath(firmware)
    args = [BOARDPROC, os.path.abspath(flash), firmware, board_id, str(seed)]
    env = dict(os.environ)
    if runtime == "micropython":
        mp = shutil.which("micropython")
        if mp is None:
            raise SimulatorError("the MicroPython interpreter is not on PATH: run `make setup`")
        env["MICROPYPATH"] = ":".join((".frozen", compiled_fakes(), firmware))
        total = heap_kib(heap) + FAKES_HEAP_KIB
        return [mp, "-X", "heapsize=%dk" % total] + args, env
    env["PYTHONPATH"] = os.pathsep.join((ROOT, FAKES, firmware))
    return [sys.executable, "-u"] + args, env


def _terminated(signum, frame):
    raise KeyboardInterrupt


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m simulator", description=__doc__.splitlines()[0])
    ap.add_argument("--board", default=DEFAULT_BOARD, help="board file (JSON)")
    ap.add_argument("--config", help="config file copied to the board's flash as config.json")
    ap.add_argument("--runtime", choices=("cpython", "micropython"), default="cpython")
    ap.add_argument("--id", default="sim-0001", help="device id")
    ap.add_argument("--seed", type=int, default=1, help="seed of the simulated world")
    ap.add_argument("--flash", help="the board's flash folder (default .sim/ID/flash)")
    ap.add_argument("--firmware", default=FIRMWARE, help="the folder whose boot.py and main.py run")
    ap.add_argument("--heap", default=ESP32_HEAP, help="MicroPython heap left for the application")
    ap.add_argument("--duration", type=float, default=0, help="stop after N seconds (0: until Ctrl-C)")
    ap.add_argument("--serial", action="store_true", help="serve the console on a pseudo-terminal")
    ap.add_argument(
        "--rfc2217-port",
        type=int,
        metavar="N",
        help="serial mode, also over RFC 2217 on 127.0.0.1:N (0: a free port); DTR/RTS reset the board",
    )
    ap.add_argument("--log", help="serial mode: append everything the board prints to this file")
    a = ap.parse_args(argv)
    try:
        board = load_board(a.board)
        if a.config is not None and not os.path.isfile(a.config):
            raise SimulatorError("config file %s does not exist" % a.config)
        if not os.path.isfile(os.path.join(a.firmware, "main.py")):
            raise SimulatorError("firmware folder %s has no main.py" % a.firmware)
        flash = a.flash or os.path.join(ROOT, ".sim", a.id, "flash")
        prepare_flash(flash, board, a.config)
        cmd, env = board_command(a.runtime, flash, a.id, a.seed, a.heap, a.firmware)
    except SimulatorError as e:
        print("simulator: " + str(e), file=sys.stderr)
        return 2
    print("simulator: %s (%s) as %s on %s, flash %s" % (board["name"], board["chip"], a.id, a.runtime, flash))
    sys.stdout.flush()
    signal.signal(signal.SIGTERM, _terminated)  # a stop by PID cleans up as Ctrl-C does
    if a.serial or a.rfc2217_port is not None:
        try:
            return serialport.serve(cmd, env, a.rfc2217_port, a.duration, a.log)
        except KeyboardInterrupt:
            return 0
        except OSError as e:
            print("simulator: serial port: %s" % e, file=sys.stderr)
            return 2
    proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL)
    try:
        if a.duration:
            deadline = time.monotonic() + a.duration
            while proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
        return proc.wait() if proc.poll() is not None or not a.duration else 0
    except KeyboardInterrupt:
        return 0
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(3)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


if __name__ == "__main__":
    sys.exit(main())
