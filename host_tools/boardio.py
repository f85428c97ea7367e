"""Shared by the host tools: ports, board and config files, the compiled build, mpremote calls.

Every tool raises ToolError for bad input or a failed step; its message says what and how to fix it.
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIRMWARE = os.path.join(ROOT, "firmware")
BOARDS = os.path.join(ROOT, "boards")
BUILD = os.path.join(ROOT, "build", "deploy")
SOURCE_ONLY = ("boot.py", "main.py")  # run as source at boot; everything else becomes .mpy
HOST_ONLY = ("ws/_cpython.py",)  # imported only where MicroPython's asyncio is absent, never on a board

# One exec on the board: "sha256 path" for every file of its filesystem (MicroPython and CPython).
_HASHES = """
import os, hashlib, binascii
def _w(d):
    for n in (os.listdir(d) if d else os.listdir()):
        p = d + '/' + n if d else n
        if os.stat(p)[0] & 0x4000:
            _w(p)
            continue
        h = hashlib.sha256()
        with open(p, 'rb') as f:
            while True:
                b = f.read(1024)
                if not b:
                    break
                h.update(b)
        print('FILE', binascii.hexlify(h.digest()).decode(), p)
try:
    os.stat('/rom')
    _w('/rom')  # a ROMFS partition's code (make image ROMFS=1): the filesystem's copies come after
except OSError:
    pass
_w('')
"""


class ToolError(Exception):
    """Bad input or a failed step: the message names it and says how to fix it."""


def run_main(main):
    """Run a tool's main(argv); a ToolError becomes one `error:` line and exit status 2."""
    try:
        sys.exit(main(sys.argv[1:]) or 0)
    except ToolError as e:
        print("error: %s" % e, file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)


def tool(name):
    """The path of a command-line tool: the project's .venv first, then PATH."""
    here = os.path.join(os.path.dirname(sys.executable), name)
    path = here if os.path.exists(here) else shutil.which(name)
    if path is None:
        raise ToolError("%s is not installed: run `make setup` (it is in requirements.txt)" % name)
    return path


def check_port(port):
    """Refuse a missing serial port early, with the way to find the right one."""
    if not port:
        raise ToolError(
            "no port given: pass PORT=/dev/ttyUSB0 (list them: python -m host_tools.console --list)"
        )
    if "://" not in port and not os.path.exists(port):
        raise ToolError(
            "port %s does not exist: plug the board in or pick another (python -m host_tools.console --list)"
            % port
        )
    return port


def load_board(name):
    """A board file: a name from boards/ (esp32-devkitc) or a path to a JSON file."""
    if not name:
        names = ", ".join(sorted(n[:-5] for n in os.listdir(BOARDS) if n.endswith(".json")))
        raise ToolError("no board given: pass BOARD= one of %s, or a board file" % names)
    path = name if os.path.sep in name or name.endswith(".json") else os.path.join(BOARDS, name + ".json")
    try:
        with open(path) as f:
            board = json.load(f)
    except OSError as e:
        names = ", ".join(sorted(n[:-5] for n in os.listdir(BOARDS) if n.endswith(".json")))
        raise ToolError("board file %s: %s; use one of %s" % (path, e.strerror or e, names))
    except ValueError as e:
        raise ToolError("board file %s is not valid JSON: %s" % (path, e))
    for key in ("chip", "firmware_offset", "flash_size", "vfs_offset"):
        if key not in board:
            raise ToolError("board file %s has no %r: see docs/config.md" % (path, key))
    return board


def _config_module():
    if FIRMWARE not in sys.path:
        sys.path.append(FIRMWARE)
    from app import config

    return config


def check_config(cfg, board, where="config.json"):
    """Validate with the firmware's own checker; ToolError listing every error. Returns warnings."""
    _, errors, warnings = _config_module().check(cfg, board)
    if errors:
        raise ToolError("%s is invalid, nothing was written:\n  %s" % (where, "\n  ".join(errors)))
    return warnings


def load_config(path, board):
    """A config file, parsed and checked against the board; (cfg, warnings)."""
    try:
        with open(path) as f:
            cfg = json.load(f)
    except OSError as e:
        raise ToolError("config file %s: %s" % (path, e.strerror or e))
    except ValueError as e:
        raise ToolError("config file %s is not valid JSON: %s" % (path, e))
    return cfg, check_config(cfg, board, path)


def redacted(cfg):
    return _config_module().redacted(cfg)


def build(out=BUILD, firmware=FIRMWARE):
    """Compile firmware/ into out (.mpy; boot.py and main.py stay source); {board path: local path}."""
    mpy_cross = tool("mpy-cross")
    files = {}
    for folder, dirs, names in os.walk(firmware):
        dirs[:] = sorted(d for d in dirs if not d.startswith((".", "__")))
        rel = os.path.relpath(folder, firmware)
        for name in sorted(names):
            if not name.endswith(".py"):
                continue
            src = os.path.join(folder, name)
            remote = os.path.normpath(os.path.join(rel, name)).replace(os.sep, "/")
            if remote in HOST_ONLY:
                continue
            if rel == "." and name in SOURCE_ONLY:
                dst = os.path.join(out, remote)
                os.makedirs(os.path.dirname(dst), exist_ok=True)
                shutil.copyfile(src, dst)
            else:
                remote = remote[:-3] + ".mpy"
                dst = os.path.join(out, remote)
                os.makedirs(os.path.dirname(dst), exist_ok=True)
                if not os.path.exists(dst) or os.path.getmtime(dst) < os.path.getmtime(src):
                    r = subprocess.run([mpy_cross, "-o", dst, src], capture_output=True, text=True)
                    if r.returncode:
                        raise ToolError("mpy-cross failed on %s: %s" % (src, r.stderr.strip()))
            files[remote] = dst
    return files


def sha256_file(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def mpremote(port, *args, timeout=120):
    """Run the real mpremote against port; its stdout. A failure raises ToolError with its output."""
    cmd = [tool("mpremote"), "connect", port] + list(args)
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise ToolError(
            "mpremote on %s did not answer in %d s: is the port busy or the board stuck?" % (port, timeout)
        )
    if r.returncode:
        raise ToolError(
            "mpremote %s on %s failed: %s" % (args[0] if args else "", port, (r.stderr or r.stdout).strip())
        )
    return r.stdout


def board_hashes(port):
    """{path: sha256 hex} of every file on the board (one mpremote exec). The code of a ROMFS
    partition (at /rom) counts under its own path: a file of the filesystem with that path is
    the one that runs (it comes first on sys.path), so it wins here too."""
    out = mpremote(port, "exec", _HASHES)
    files = {}
    for line in out.splitlines():
        parts = line.strip().split(" ", 2)
        if len(parts) == 3 and parts[0] == "FILE":
            path = parts[2]
            files[path[5:] if path.startswith("/rom/") else path] = parts[1]
    return files


def open_serial(port, timeout=0.1):
    """Open a port (a path or a pyserial URL) without resetting the board: DTR and RTS stay low."""
    import serial

    try:
        s = serial.serial_for_url(port, do_not_open=True, timeout=timeout, baudrate=115200)
        s.dsrdtr = s.rtscts = False
        if "://" not in port:
            s.exclusive = True  # a port another program holds is an error, not a garbled session
        # pyserial sets DTR, then RTS, as it opens; RTS alone pulls EN low (a reset). So DTR stays
        # asserted while RTS drops (GPIO0 low with EN high does nothing), then DTR drops too.
        s.dtr, s.rts = True, False
        s.open()
        try:
            s.dtr = False
        except OSError:  # a pseudo-terminal has no modem lines
            pass
    except (serial.SerialException, ValueError) as e:
        busy = "busy" in str(e).lower() or "lock" in str(e).lower()
        raise ToolError(
            "cannot open %s: %s%s" % (port, e, " (close the other program using it)" if busy else "")
        )
    return s
