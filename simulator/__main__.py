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

Fleet mode (--devices N): N boards, each with its own id (--id is the prefix: sim-0001...), flash
folder, seed (--seed + n) and config (--config is a template: device_id set, token from --tokens),
their console lines prefixed by the id (--quiet: only start/stop/crash lines and a summary).
A board whose process ends unexpectedly boots again (simulator/fleet.py). Faults are injected
while it runs with `python -m simulator.ctl` (the port is printed as `ctl: 127.0.0.1:PORT`),
typed on standard input in plain mode, or given with --at (simulator/ctl.py lists the commands).
Ctrl-C or SIGTERM stops every board, by PID.
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import zlib

from simulator import serialport

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIRMWARE = os.path.join(ROOT, "firmware")
FAKES = os.path.join(ROOT, "simulator", "fakes")
BOARDPROC = os.path.join(ROOT, "simulator", "boardproc.py")
DEFAULT_BOARD = os.path.join(ROOT, "boards", "esp32-devkitc.json")
# An ESP32 without PSRAM leaves MicroPython about 110 KB. The unix interpreter is 64-bit: every
# pointer, object header and bytecode constant table takes twice the room, which makes the same
# application about 1.5 times larger in its heap: 160k would stand for the chip. The whole
# application with several sensors needs more than that here today (docs/benchmarks.md, "the
# smallest heap"), so a board gets 200k until it fits; `--heap 160k` shows where it does not.
ESP32_HEAP = "200k"
# On a board the chip's state is hardware; here the fakes hold it in the same heap: the heap is
# made this much larger and boardproc fills what the fakes leave unused, so the application
# gets its heap exactly.
FAKES_HEAP_KIB = 400
WORLD_HEAP_KIB = 40  # the world model's share: 16 KiB, 33 KiB for the greenhouse
CACHE = os.path.join(ROOT, ".sim", "cache")


class SimulatorError(Exception):
    """A bad argument or file: the message says which and why."""


def load_board(path):
    """The board definition (a JSON object with at least name and chip)."""
    board = _json_file(path, "board file")
    if not isinstance(board, dict) or "chip" not in board or "name" not in board:
        raise SimulatorError("board file %s must be an object with at least 'name' and 'chip'" % path)
    return board


def prepare_flash(flash, board, config=None, config_data=None):
    """Create the board's flash folder and write the board file (and config: a file to copy, or
    config_data, a dict to write as JSON) as deploy would."""
    os.makedirs(flash, exist_ok=True)
    with open(os.path.join(flash, "board.json"), "w") as f:
        json.dump(board, f, indent=1)
    if config_data is not None:
        with open(os.path.join(flash, "config.json"), "w") as f:
            json.dump(config_data, f, indent=1)
    elif config is not None:
        shutil.copyfile(config, os.path.join(flash, "config.json"))


def _json_file(path, what):
    try:
        with open(path) as f:
            return json.load(f)
    except OSError as e:
        raise SimulatorError("%s %s: %s" % (what, path, e.strerror or e))
    except ValueError as e:
        raise SimulatorError("%s %s is not valid JSON: %s" % (what, path, e))


def load_template(path):
    """The config template of a fleet (a JSON object)."""
    t = _json_file(path, "config file")
    if not isinstance(t, dict):
        raise SimulatorError("config file %s must be a JSON object (the board's config.json)" % path)
    return t


def load_tokens(path, ids):
    """{board id: token} from a JSON object; every board in ids needs a token."""
    tokens = _json_file(path, "tokens file")
    if not isinstance(tokens, dict) or not all(isinstance(v, str) and v for v in tokens.values()):
        raise SimulatorError('tokens file %s must be a JSON object {"board id": "token", ...}' % path)
    missing = [i for i in ids if i not in tokens]
    if missing:
        raise SimulatorError(
            "tokens file %s has no token for %s (%d of %d boards lack one)"
            % (path, ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else ""), len(missing), len(ids))
        )
    return tokens


def board_config(template, board_id, tokens=None):
    """A board's config: the template with its device_id and, given tokens, its token."""
    cfg = dict(template)
    cfg["device_id"] = board_id
    if tokens is not None:
        cfg["token"] = tokens[board_id]
    return cfg


def board_ids(prefix, n):
    """The ids of a fleet of n boards: PREFIX-0001... (more digits past 9999)."""
    width = max(4, len(str(n)))
    return ["%s-%0*d" % (prefix, width, i + 1) for i in range(n)]


def load_world(path):
    """(spec, path) of a world spec or scenario file, checked (docs/scenarios.md)."""
    from simulator import scenario, worldspec

    try:
        _, spec, _ = worldspec.check_file(path, scenario.check_expect)
    except worldspec.SpecError as e:
        raise SimulatorError(str(e))
    return spec


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


def compiled_firmware(firmware):
    """The firmware's modules compiled to .mpy in .sim/cache (boot.py and main.py stay source, as
    `make deploy` leaves them): a board imports .mpy files, never compiling source in its heap."""
    mpy_cross = shutil.which("mpy-cross")
    if mpy_cross is None:
        return None
    key = "%08x" % (zlib.crc32(firmware.encode()) & 0xFFFFFFFF)
    out = os.path.join(CACHE, "firmware-" + key)
    wanted = set()
    for folder, _, files in os.walk(firmware):
        rel = os.path.relpath(folder, firmware)
        for name in sorted(files):
            if not name.endswith(".py") or (rel == "." and name in ("boot.py", "main.py")):
                continue
            src = os.path.join(folder, name)
            dst = os.path.normpath(os.path.join(out, rel, name[:-3] + ".mpy"))
            wanted.add(dst)
            if not os.path.exists(dst) or os.path.getmtime(dst) < os.path.getmtime(src):
                os.makedirs(os.path.dirname(dst), exist_ok=True)
                r = subprocess.run([mpy_cross, "-o", dst, src], capture_output=True, text=True)
                if r.returncode != 0:
                    raise SimulatorError("mpy-cross failed on %s: %s" % (src, r.stderr.strip()))
    for folder, _, files in os.walk(out):  # a module deleted from the firmware goes here too
        for name in files:
            if os.path.join(folder, name) not in wanted:
                os.remove(os.path.join(folder, name))
    return out


def romfs_image(app):
    """A ROMFS image (mpremote's builder) of the compiled firmware folder app, rebuilt when a
    module changed: on a board with a ROMFS partition the code runs from flash, not from the heap."""
    import contextlib
    import io

    from mpremote.romfs import make_romfs

    image = app.rstrip("/") + ".romfs"
    newest = max(
        (os.path.getmtime(os.path.join(d, f)) for d, _, files in os.walk(app) for f in files), default=0
    )
    if not os.path.exists(image) or os.path.getmtime(image) < newest:
        with contextlib.redirect_stdout(io.StringIO()):  # it prints the tree it builds
            data = make_romfs(app, mpy_cross=False)
        with open(image + ".tmp", "wb") as f:
            f.write(data)
        os.replace(image + ".tmp", image)
    return image


def board_command(
    runtime, flash, board_id, seed, heap=ESP32_HEAP, firmware=FIRMWARE, world=False, romfs=False
):
    """The command line and environment that run one board on the chosen runtime. On MicroPython
    the interpreter's heap holds the fakes (and the world, loaded before the application) too;
    the application gets `heap` of it. With romfs the compiled firmware is a ROMFS image mounted
    at /rom outside that heap, as a ROMFS partition is memory-mapped flash on the chip."""
    firmware = os.path.abspath(firmware)
    args = [BOARDPROC, os.path.abspath(flash), firmware, board_id, str(seed)]
    env = dict(os.environ)
    if runtime == "micropython":
        mp = shutil.which("micropython")
        if mp is None:
            raise SimulatorError("the MicroPython interpreter is not on PATH: run `make setup`")
        app = compiled_firmware(firmware)
        if romfs and app is None:
            raise SimulatorError("--romfs needs mpy-cross to compile the firmware: run `make setup`")
        if romfs:
            env["SIM_ROMFS"] = romfs_image(app)
            app = "/rom"
        else:
            env.pop("SIM_ROMFS", None)
        path = [".frozen", compiled_fakes()] + ([app] if app and not romfs else []) + [firmware]
        env["MICROPYPATH"] = ":".join(path)
        if app:
            env["SIM_APP_MPY"] = app  # boardproc forgets these modules at a reset
        total = heap_kib(heap) + FAKES_HEAP_KIB + (WORLD_HEAP_KIB if world else 0)
        env["SIM_APP_HEAP"] = str(heap_kib(heap) * 1024)
        return [mp, "-X", "heapsize=%dk" % total] + args, env
    env["PYTHONPATH"] = os.pathsep.join((ROOT, FAKES, firmware))
    return [sys.executable, "-u"] + args, env


def _terminated(signum, frame):
    raise KeyboardInterrupt


def _args(argv):
    ap = argparse.ArgumentParser(prog="python -m simulator", description=__doc__.splitlines()[0])
    ap.add_argument("--board", default=DEFAULT_BOARD, help="board file (JSON)")
    ap.add_argument("--config", help="config file copied to the flash as config.json (a fleet: the template)")
    ap.add_argument("--tokens", help="JSON object {board id: token}: each board's config gets its token")
    ap.add_argument("--runtime", choices=("cpython", "micropython"), default="cpython")
    ap.add_argument("--id", help="device id (default sim-0001); with --devices the prefix (default sim)")
    ap.add_argument("--seed", type=int, default=1, help="seed of the simulated world (a fleet: seed + n)")
    ap.add_argument(
        "--flash", help="the board's flash folder (default .sim/ID/flash); a fleet: the folder of ID/flash"
    )
    ap.add_argument("--firmware", default=FIRMWARE, help="the folder whose boot.py and main.py run")
    ap.add_argument("--heap", default=ESP32_HEAP, help="MicroPython heap left for the application")
    ap.add_argument(
        "--romfs",
        action="store_true",
        help="MicroPython: the compiled firmware runs from a ROMFS image (code in flash, not in the heap)",
    )
    ap.add_argument("--world", help="world spec or scenario file: sensors, Wi-Fi, time (docs/scenarios.md)")
    ap.add_argument("--duration", type=float, default=0, help="stop after N seconds (0: until Ctrl-C)")
    ap.add_argument("--devices", type=int, default=1, metavar="N", help="run a fleet of N boards")
    ap.add_argument("--quiet", action="store_true", help="only start/stop/crash lines and a summary")
    ap.add_argument("--start-rate", type=float, default=50.0, metavar="N", help="boards started a second")
    ap.add_argument(
        "--summary", type=float, default=10.0, metavar="S", help="--quiet: a summary every S seconds"
    )
    ap.add_argument(
        "--no-fork-server",
        action="store_true",
        help="a CPython fleet: each board a process of its own, not a fork of one that imported the fakes",
    )
    ap.add_argument(
        "--at",
        nargs=2,
        action="append",
        default=[],
        metavar=("SECONDS", "COMMAND"),
        help='a control command that many seconds after start, e.g. --at 5 "power cut" (ctl.py)',
    )
    ap.add_argument("--ctl-port", type=int, default=0, metavar="N", help="control port on 127.0.0.1 (0: any)")
    ap.add_argument("--serial", action="store_true", help="serve the console on a pseudo-terminal")
    ap.add_argument(
        "--rfc2217-port",
        type=int,
        metavar="N",
        help="serial mode, also over RFC 2217 on 127.0.0.1:N (0: a free port); DTR/RTS reset the board",
    )
    ap.add_argument("--log", help="serial mode: append everything the board prints to this file")
    return ap.parse_args(argv)


def _fleet(a, board):
    """The Boards to run and the command that runs one; SimulatorError for bad arguments."""
    from simulator import fleet

    if a.devices < 1:
        raise SimulatorError("--devices must be at least 1, not %d" % a.devices)
    serial = a.serial or a.rfc2217_port is not None
    if serial and a.devices > 1:
        raise SimulatorError("--serial runs one board: leave out --devices")
    if a.config is not None and not os.path.isfile(a.config):
        raise SimulatorError("config file %s does not exist" % a.config)
    if a.tokens is not None and a.config is None:
        raise SimulatorError("--tokens needs --config: the template each board's token goes into")
    if not os.path.isfile(os.path.join(a.firmware, "main.py")):
        raise SimulatorError("firmware folder %s has no main.py" % a.firmware)
    if a.duration < 0:
        raise SimulatorError("--duration must be seconds >= 0")
    if a.start_rate <= 0:
        raise SimulatorError("--start-rate must be boards a second > 0")
    if a.summary <= 0:
        raise SimulatorError("--summary must be seconds > 0")
    single = a.devices == 1
    prefix = a.id if a.id is not None else ("sim-0001" if single else "sim")
    if not prefix or "/" in prefix or prefix.startswith("."):
        raise SimulatorError("--id %r cannot name a folder: use letters, digits and dashes" % prefix)
    ids = [prefix] if single else board_ids(prefix, a.devices)
    template = load_template(a.config) if a.config is not None and (a.tokens or not single) else None
    tokens = load_tokens(a.tokens, ids) if a.tokens is not None else None
    spec = load_world(a.world) if a.world else None
    boards = []
    for n, board_id in enumerate(ids):
        if single:
            flash = a.flash or os.path.join(ROOT, ".sim", board_id, "flash")
        else:
            flash = os.path.join(a.flash or os.path.join(ROOT, ".sim"), board_id, "flash")
        data = board_config(template, board_id, tokens) if template is not None else None
        prepare_flash(flash, board, a.config if data is None else None, data)
        boards.append(fleet.Board(n + 1, board_id, a.seed + n, flash))
    heap, has_world = a.heap, bool(a.world)
    board_command(a.runtime, boards[0].flash, ids[0], a.seed, heap, a.firmware, False, a.romfs)  # checks
    world = os.path.abspath(a.world) if a.world else None

    def command(b, cause, elapsed_ms):
        argv, env = board_command(a.runtime, b.flash, b.id, b.seed, heap, a.firmware, has_world, a.romfs)
        if world is not None:
            env["SIM_WORLD"] = world
            env["SIM_WORLD_ELAPSED_MS"] = str(elapsed_ms)
        return argv + [str(cause)], env

    check = fleet.Supervisor(boards, command, None, spec=spec)
    for seconds, line in a.at:
        try:
            if float(seconds) < 0:
                raise ValueError
        except ValueError:
            raise SimulatorError("--at %s: the time must be seconds >= 0" % seconds)
        problem = check.check(line)
        if problem:
            raise SimulatorError("--at %s %r: %s" % (seconds, line, problem))
    check.sel.close()
    return boards, command, spec


def main(argv=None):
    a = _args(argv)
    from simulator import fleet

    try:
        board = load_board(a.board)
        boards, command, spec = _fleet(a, board)
    except SimulatorError as e:
        print("simulator: " + str(e), file=sys.stderr)
        return 2
    n = len(boards)
    serial = a.serial or a.rfc2217_port is not None
    if n == 1:
        b = boards[0]
        print(
            "simulator: %s (%s) as %s on %s, flash %s"
            % (board["name"], board["chip"], b.id, a.runtime, b.flash)
        )
    else:
        first = os.path.join(os.path.dirname(os.path.dirname(boards[0].flash)), "ID", "flash")
        print(
            "simulator: a fleet of %d %s (%s) boards, %s ... %s, on %s, flash %s"
            % (n, board["name"], board["chip"], boards[0].id, boards[-1].id, a.runtime, first)
        )
    sys.stdout.flush()
    signal.signal(signal.SIGTERM, _terminated)  # a stop by PID cleans up as Ctrl-C does
    port = None
    if serial:
        try:
            cmd, env = command(boards[0], 1, 0)
            port = serialport.SerialPort(cmd, env, a.rfc2217_port, open(a.log, "ab") if a.log else None, _say)
        except OSError as e:
            print("simulator: serial port: %s" % e, file=sys.stderr)
            return 2
        sup = fleet.SerialSupervisor(boards[0], command, port, sys.stdout, spec)
        _say("serial: " + port.path)
        if port.url:
            _say("rfc2217: " + port.url)
    else:
        fleet_mode = n > 1
        sup = fleet.Supervisor(
            boards, command, sys.stdout, fleet_mode, a.quiet, fleet_mode, a.start_rate, spec
        )
        sup.summary_every = a.summary
    port_file = None
    try:
        ctl_port = sup.serve(a.ctl_port)
    except OSError as e:
        print("simulator: control port %d: %s" % (a.ctl_port, e.strerror or e), file=sys.stderr)
        if port is not None:
            port.close()
        return 2
    if n > 1 and a.runtime == "cpython" and not a.no_fork_server:
        from simulator import fleetfork

        sup.forks = fleetfork.ForkServer()
    _say("ctl: 127.0.0.1:%d" % ctl_port)
    if a.flash is None:  # python -m simulator.ctl finds the default simulator's port here
        port_file = os.path.join(ROOT, ".sim", "ctl.port")
        with open(port_file, "w") as f:
            f.write("%d\n" % ctl_port)
    for seconds, line in a.at:
        sup.schedule(float(seconds), line)
    if not serial and sys.stdin is not None and sys.stdin.isatty():
        sup.read_stdin()
    try:
        sup.run(a.duration)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not leave boards running
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        sup.stop()
        if port is not None and port.log is not None:
            port.log.close()
        if port_file is not None:
            try:
                with open(port_file) as f:
                    mine = f.read().strip() == str(ctl_port)
                if mine:
                    os.remove(port_file)
            except OSError:
                pass
    return 0


def _say(text):
    print(text)
    sys.stdout.flush()


if __name__ == "__main__":
    sys.exit(main())
