"""make doctor: a one-shot report on a board: chip, MAC and flash size (esptool, real boards only),
MicroPython version, files on the board against the local build, config validation and the app's
status output. Exit status 0 when all is well, 1 when the report found problems.

    python -m host_tools.doctor --port /dev/ttyUSB0
"""

import argparse
import subprocess

from host_tools import boardio, deploy, provision
from host_tools.boardio import ToolError

_VERSION = (
    "import sys; v = sys.implementation"
    "; print('VERSION', v.name, '.'.join(str(n) for n in v.version[:3]), sys.platform)"
)
_STATUS = "from app.console import status; status()"


def is_virtual(port):
    """A pseudo-terminal: it has no DTR/RTS lines, so nothing can put the chip in its bootloader."""
    return port.startswith("/dev/pts/")


def chip_report(port):
    """esptool's chip, MAC and flash size lines (esptool flash-id, then a hard reset boots the app)."""
    cmd = [boardio.tool("esptool"), "--port", port, "flash-id"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=90, stdin=subprocess.DEVNULL)
    if r.returncode:
        raise ToolError("esptool could not talk to %s: %s" % (port, (r.stderr or r.stdout).strip()[-300:]))
    keep = ("Chip type", "Chip is", "MAC", "Detected flash size", "Features", "Crystal")
    return [line.strip() for line in r.stdout.splitlines() if line.strip().startswith(keep)]


def compare(local, remote):
    """(same, differ, missing on the board, extra code files on the board) as sorted path lists."""
    same, differ, missing = [], [], []
    for path in sorted(local):
        h = remote.get(path)
        if h is None:
            missing.append(path)
        elif h == boardio.sha256_file(local[path]):
            same.append(path)
        else:
            differ.append(path)
    extra = sorted(p for p in remote if p not in local and p.endswith((".py", ".mpy")))
    return same, differ, missing, extra


def doctor(port, esptool=None, restart=True, echo=print):
    """Print the report; the list of problems found."""
    boardio.check_port(port)
    problems = []
    echo("== chip")
    if esptool or (esptool is None and not is_virtual(port)):
        for line in chip_report(port):
            echo("  " + line)
    else:
        echo(
            "  skipped: %s is a pseudo-terminal, without the DTR/RTS lines that reach the ROM bootloader;"
            " give the virtual board's rfc2217:// URL for the chip report" % port
        )
    # The status first, with `resume`: mpremote's usual soft reset would forget the running app.
    try:
        status, status_error = boardio.mpremote(port, "resume", "exec", _STATUS).splitlines(), None
    except ToolError as e:
        status, status_error = [], str(e).splitlines()[-1]
    echo("== MicroPython")
    out = boardio.mpremote(port, "exec", _VERSION)
    version = [line.split(None, 1)[1] for line in out.splitlines() if line.startswith("VERSION ")]
    echo("  " + (version[0] if version else "unknown: %r" % out.strip()))
    echo("== files (board against build/deploy)")
    same, differ, missing, extra = compare(boardio.build(), boardio.board_hashes(port))
    echo(
        "  %d up to date, %d differ, %d missing, %d extra"
        % (len(same), len(differ), len(missing), len(extra))
    )
    for label, paths in (("differs", differ), ("missing", missing), ("extra", extra)):
        for p in paths:
            echo("  %-8s %s" % (label, p))
    if differ or missing:
        problems.append("the board's application differs from firmware/: run make deploy")
    echo("== config")
    cfg, board = provision.read_board_files(port)
    if board is None:
        problems.append("no board.json on the board: run make deploy")
        echo("  no board.json")
    elif cfg is None:
        problems.append("no config.json on the board: run make provision")
        echo("  no config.json")
    else:
        try:
            for w in boardio.check_config(cfg, board):
                echo("  warning: %s" % w)
            echo("  config.json is valid for %s (%s)" % (board.get("name"), cfg.get("device_id")))
        except ToolError as e:
            problems.append("config.json is invalid")
            echo("  " + str(e).replace("\n", "\n  "))
    echo("== status")
    for line in status:
        echo("  " + line)
    if status_error:
        problems.append("no status: the application is not running (reset the board)")
        echo("  " + status_error)
    if restart:
        deploy.soft_reset(port, 1.0, lines=0, echo=lambda line: None)  # the app runs again
    echo("== %s" % ("problems:\n  " + "\n  ".join(problems) if problems else "all well"))
    return problems


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m host_tools.doctor", description=__doc__.split("\n")[0])
    ap.add_argument("--port", required=True, help="serial port, rfc2217:// or socket:// URL")
    ap.add_argument("--esptool", action="store_true", default=None, help="ask esptool even for a URL")
    ap.add_argument("--no-restart", action="store_true", help="leave the app stopped after the report")
    a = ap.parse_args(argv)
    return 1 if doctor(a.port, a.esptool, not a.no_restart) else 0


if __name__ == "__main__":
    boardio.run_main(main)
