"""make provision: register the device on the server (or take a token), then write Wi-Fi networks,
server URL, device id and token into the board's config.json, validated first.

    python -m host_tools.provision --port /dev/ttyUSB0 --device-id greenhouse-1 \\
        --server wss://example.com/device --wifi home:password123 --data build/server
Missing values are asked for when standard input is a terminal. Secrets are never printed unless
--show-secrets is given.
"""

import argparse
import getpass
import json
import os
import subprocess
import sys
import tempfile

from host_tools import boardio
from host_tools.boardio import ToolError

_READ = """
import json
for n in ('config.json', 'board.json'):
    try:
        with open(n) as f:
            print(n, json.dumps(json.load(f)))
    except Exception as e:
        print(n, 'null')
"""


def read_board_files(port):
    """(config dict or None, board dict or None) read from the board in one exec."""
    out = {}
    for line in boardio.mpremote(port, "exec", _READ).splitlines():
        name, _, data = line.strip().partition(" ")
        if name in ("config.json", "board.json"):
            try:
                out[name] = json.loads(data)
            except ValueError:
                out[name] = None
    return out.get("config.json"), out.get("board.json")


def register(device_id, data, rotate=False):
    """A new token from the reference server's store (its CLI); rotate when the device exists."""
    cmd = [sys.executable, "-m", "host_tools.server", "device", "rotate" if rotate else "add", device_id]
    r = subprocess.run(cmd + ["--data", data], capture_output=True, text=True, cwd=boardio.ROOT)
    if r.returncode:
        hint = " (pass --rotate to give it a new token)" if "exists" in r.stderr else ""
        raise ToolError("the server refused device %s: %s%s" % (device_id, r.stderr.strip(), hint))
    return r.stdout.strip()


def parse_wifi(items):
    """["ssid:password", ...] -> [{"ssid", "password"}]; the password may contain ':'."""
    nets = []
    for item in items:
        ssid, sep, password = item.partition(":")
        if not sep or not ssid:
            raise ToolError("--wifi %r: write it as SSID:PASSWORD (SSID: for an open network)" % item)
        nets.append({"ssid": ssid, "password": password})
    return nets


def _ask(prompt, secret=False):
    value = (getpass.getpass if secret else input)(prompt + ": ").strip()
    if not value:
        raise ToolError("%s is needed" % prompt)
    return value


def merge(cfg, a, interactive):
    """The new config: the board's (or {}) with the given values; asks for missing ones if interactive."""
    cfg = dict(cfg or {})
    if a.device_id:
        cfg["device_id"] = a.device_id
    if a.server:
        cfg["server"] = a.server
    if a.wifi:
        cfg["wifi"] = parse_wifi(a.wifi)
    if interactive:
        if not cfg.get("device_id"):
            cfg["device_id"] = _ask("device id")
        if not cfg.get("server"):
            cfg["server"] = _ask("server URL (wss://host/device)")
        if not cfg.get("wifi"):
            cfg["wifi"] = [{"ssid": _ask("Wi-Fi SSID"), "password": getpass.getpass("Wi-Fi password: ")}]
    return cfg


def provision(a, interactive=False, echo=print):
    """The whole provisioning; the config written to the board."""
    boardio.check_port(a.port)
    old, board = read_board_files(a.port)
    if a.board:
        board = boardio.load_board(a.board)
    if board is None:
        raise ToolError("the board has no board.json: deploy first (make deploy) or pass --board")
    cfg = merge(old, a, interactive)
    if a.token:
        cfg["token"] = a.token
    elif a.data:
        if not cfg.get("device_id"):
            raise ToolError("no device id: pass --device-id")
        cfg["token"] = register(cfg["device_id"], a.data, a.rotate)
        echo("registered %s on the server (data %s)" % (cfg["device_id"], a.data))
    elif not (old and old.get("token") and old.get("device_id") == cfg.get("device_id")):
        if interactive:
            cfg["token"] = _ask("device token", secret=True)
        else:
            raise ToolError("no token: pass --token, or --data DIR to register the device on the server")
    for w in boardio.check_config(cfg, board, "the new config.json"):
        echo("warning: %s" % w)
    fd, tmp = tempfile.mkstemp(suffix=".json")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(cfg, f, indent=1)
        boardio.mpremote(a.port, "fs", "cp", tmp, ":config.json")
    finally:
        os.remove(tmp)
    shown = cfg if a.show_secrets else boardio.redacted(cfg)
    echo("config.json written to %s:" % a.port)
    echo(json.dumps(shown, indent=1))
    echo("reset the board to use it (make console PORT=%s, then Ctrl-T r)" % a.port)
    return cfg


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m host_tools.provision", description=__doc__.split("\n")[0])
    ap.add_argument("--port", required=True, help="serial port, rfc2217:// or socket:// URL")
    ap.add_argument("--device-id", help="the board's id on the server")
    ap.add_argument("--server", help="the server's WebSocket URL (ws://... or wss://.../device)")
    ap.add_argument("--wifi", action="append", default=[], help="SSID:PASSWORD, repeat in priority order")
    ap.add_argument("--token", help="a token the server issued (instead of --data)")
    ap.add_argument("--data", help="the reference server's data folder: register the device there")
    ap.add_argument("--rotate", action="store_true", help="with --data: new token for an existing device")
    ap.add_argument("--board", help="board file to check against (default: the board's board.json)")
    ap.add_argument("--show-secrets", action="store_true", help="print the token and Wi-Fi passwords")
    a = ap.parse_args(argv)
    provision(a, interactive=sys.stdin.isatty())


if __name__ == "__main__":
    boardio.run_main(main)
