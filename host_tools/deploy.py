"""make deploy: compile firmware/ to .mpy, copy only the files whose hash differs, write the config
and board.json, soft-reset and show the board's first log lines.

    python -m host_tools.deploy --port /dev/ttyUSB0 --board esp32-devkitc [--config config.json]
"""

import argparse
import json
import os
import shutil
import time

from host_tools import boardio


def plan(files, remote):
    """The board paths (sorted) whose local file differs from the board's (remote: {path: sha256})."""
    return sorted(p for p, local in files.items() if remote.get(p) != boardio.sha256_file(local))


def stage(board, config=None, out=boardio.BUILD):
    """Build the application into out, with board.json (and config.json); {board path: local path}."""
    if os.path.isdir(out):
        for name in ("config.json", "board.json"):
            if os.path.exists(os.path.join(out, name)):
                os.remove(os.path.join(out, name))
    files = boardio.build(out)
    for name, data in (("board.json", board), ("config.json", config)):
        if data is not None:
            path = os.path.join(out, name)
            with open(path, "w") as f:
                json.dump(data, f, indent=1)
            files[name] = path
    return files


def copy(port, files, names):
    """Create the folders, then copy names (board paths) in one mpremote run."""
    folders = sorted({n.rsplit("/", 1)[0] for n in names if "/" in n})
    args = []
    if folders:
        mk = (
            "import os\nfor d in %r:\n    try:\n        os.mkdir(d)\n    except OSError:\n        pass\n"
            % folders
        )
        args += ["exec", mk]
    for n in names:
        args += (["+"] if args else []) + ["fs", "cp", files[n], ":" + n]
    boardio.mpremote(port, *args, timeout=60 + 5 * len(names))


def soft_reset(port, seconds=8.0, lines=20, echo=print):
    """Ctrl-C, friendly REPL, Ctrl-D: boot.py and main.py run; echo the first log lines; them."""
    got = []
    with boardio.open_serial(port) as s:
        s.write(b"\r\x03\x03\x02")
        time.sleep(0.3)
        s.reset_input_buffer()
        s.write(b"\x04")
        buf = b""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and len(got) < lines:
            buf += s.read(max(1, s.in_waiting))
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                text = line.decode("utf-8", "replace").rstrip("\r")
                if text:
                    got.append(text)
                    echo("  " + text)
    return got


def deploy(port, board_name, config_path=None, seconds=8.0, out=boardio.BUILD, echo=print):
    """The whole deploy; {"copied": [...], "unchanged": n, "log": [...]}."""
    boardio.check_port(port)
    board = boardio.load_board(board_name)
    cfg = None
    if config_path:
        cfg, warnings = boardio.load_config(config_path, board)
        for w in warnings:
            echo("warning: %s" % w)
    files = stage(board, cfg, out)
    remote = boardio.board_hashes(port)
    names = plan(files, remote)
    echo("%d files, %d changed" % (len(files), len(names)))
    if names:
        for n in names:
            echo("  copy %s" % n)
        copy(port, files, names)
    echo("soft reset; the board says:")
    log = soft_reset(port, seconds, echo=echo) if seconds > 0 else []
    return {"copied": names, "unchanged": len(files) - len(names), "log": log}


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m host_tools.deploy", description=__doc__.split("\n")[0])
    ap.add_argument("--port", required=True, help="serial port, rfc2217:// or socket:// URL")
    ap.add_argument("--board", required=True, help="a boards/ name (esp32-devkitc) or a board file")
    ap.add_argument("--config", help="config.json to write (validated first)")
    ap.add_argument("--seconds", type=float, default=8.0, help="how long to show the board's log (0: skip)")
    ap.add_argument("--out", default=boardio.BUILD, help="build folder (default build/deploy)")
    ap.add_argument("--clean", action="store_true", help="rebuild every .mpy")
    a = ap.parse_args(argv)
    if a.clean and os.path.isdir(a.out):
        shutil.rmtree(a.out)
    deploy(a.port, a.board, a.config, a.seconds, a.out)


if __name__ == "__main__":
    boardio.run_main(main)
