"""Fault control of running simulated boards: `python -m simulator.ctl [--board ID] COMMAND...`.

`python -m simulator` listens on 127.0.0.1 (it prints `ctl: 127.0.0.1:PORT`; with the default
flash folder it also writes the port to .sim/ctl.port, where this client looks first). A request
is one line, `[TARGET] COMMAND ARGS...`; the answer is lines starting with `ok` or `error:`. TARGET
is a board id, ids separated by commas, a pattern (`sim-00*`) or `all`; without one the command
goes to the only board of a single board's simulator. `nc 127.0.0.1 PORT` works too. The same
commands are given by `python -m simulator --at SECONDS COMMAND` and typed on a plain-mode
simulator's standard input. COMMANDS below lists them.
"""

import argparse
import os
import shlex
import socket
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PORT_FILE = os.path.join(ROOT, ".sim", "ctl.port")
PWRON_RESET, HARD_RESET, WDT_RESET = 1, 2, 3  # machine.reset_cause() values (simboard.py)

COMMANDS = """\
wifi drop [SSID]              the access point (default: every one) goes silent
wifi restore [SSID]           it is back (default: every one; ends flapping too)
wifi flap [SECONDS [SSID]]    silent and back in turn, each for half of SECONDS (default 10)
wifi weak [DBM [SSID]]        force the signal to DBM (default -85; -100 or weaker: out of range)
wifi normal [SSID]            the signal as the world makes it again
sensor NAME fail              the sensor stops answering
sensor NAME crc P             each read fails its CRC with probability P (0 to 1)
sensor NAME ok                the sensor works again
ntp down | ntp up             the time source stops / starts answering (the clock cannot sync)
power cut [SECONDS]           power loss now; power back after SECONDS (default 0.5)
power off | power on          power loss until `power on`
power write FILE [N [BYTES]]  power loss in the middle of the Nth opening (default 1, counted from
                              now) of FILE for writing: once BYTES bytes of it reached the flash,
                              else at its flush/close, before its new content is committed
reboot                        a hard reset, as machine.reset() (reset cause 2, rst:0xc)
watchdog                      a watchdog reset (reset cause 3, rst:0x7)
status                        each board as JSON: process, boots, reset cause, faults in force,
                              and what the board says (Wi-Fi link, world) if it answers in 2 s
list                          the boards: id, state, pid
help                          this text"""


NAMES = ("wifi", "sensor", "ntp", "power", "reboot", "watchdog", "status", "list", "help")


class CtlError(ValueError):
    """A bad command: the message says what is wrong and what is expected."""


def _number(text, what, low=None, high=None):
    try:
        v = float(text)
    except ValueError:
        raise CtlError("%s must be a number, not %r" % (what, text))
    if (low is not None and v < low) or (high is not None and v > high):
        raise CtlError("%s must be between %s and %s, not %s" % (what, low, high, text))
    return v


def _count(words, n, usage):
    if len(words) > n:
        raise CtlError("too many arguments: %s (usage: %s)" % (" ".join(words[n:]), usage))


def parse(words):
    """The action of a command (a list of words); CtlError if it is not one.

    Actions: {"fault": world fault} (sent to the board, as a scenario fault step),
    {"cut": {"power": "write", "file", "nth", "bytes"}}, {"power": seconds off or None},
    {"power_on": True}, {"reset": cause}, {"status": True}, {"list": True}, {"help": True}.
    """
    if not words:
        raise CtlError("no command (try help)")
    cmd, args = words[0], words[1:]
    if cmd == "help":
        return {"help": True}
    if cmd in ("list", "status"):
        _count(args, 0, cmd)
        return {cmd: True}
    if cmd in ("reboot", "watchdog"):
        _count(args, 0, cmd)
        return {"reset": HARD_RESET if cmd == "reboot" else WDT_RESET}
    if cmd == "wifi":
        return {"fault": _wifi(args)}
    if cmd == "sensor":
        return {"fault": _sensor(args)}
    if cmd == "ntp":
        if len(args) != 1 or args[0] not in ("down", "up"):
            raise CtlError("usage: ntp down | ntp up")
        return {"fault": {"ntp": args[0]}}
    if cmd == "power":
        return _power(args)
    raise CtlError(
        "unknown command %r; commands: wifi, sensor, ntp, power, reboot, watchdog, status, list" % cmd
    )


def _wifi(args):
    what = args[0] if args else ""
    if what in ("drop", "restore", "normal"):
        _count(args, 2, "wifi %s [SSID]" % what)
        f = {"wifi": "rssi", "dbm": None} if what == "normal" else {"wifi": what}
        if len(args) > 1:
            f["ssid"] = args[1]
        return f
    if what == "flap":
        _count(args, 3, "wifi flap [SECONDS [SSID]]")
        period = _number(args[1], "the flapping period", 0.2, 86400) if len(args) > 1 else 10
        f = {"wifi": "flap", "period": period}
        if len(args) > 2:
            f["ssid"] = args[2]
        return f
    if what == "weak":
        _count(args, 3, "wifi weak [DBM [SSID]]")
        dbm = int(_number(args[1], "the signal in dBm", -120, 0)) if len(args) > 1 else -85
        f = {"wifi": "rssi", "dbm": dbm}
        if len(args) > 2:
            f["ssid"] = args[2]
        return f
    raise CtlError("usage: wifi drop|restore|flap|weak|normal ... (not %r)" % " ".join(args))


def _sensor(args):
    if len(args) < 2:
        raise CtlError("usage: sensor NAME fail | sensor NAME crc P | sensor NAME ok")
    name, what = args[0], args[1]
    if what == "fail":
        _count(args, 2, "sensor NAME fail")
        return {"sensor": name, "missing": True}
    if what == "ok":
        _count(args, 2, "sensor NAME ok")
        return {"sensor": name, "missing": False, "crc": 0}
    if what == "crc" and len(args) == 3:
        return {"sensor": name, "crc": _number(args[2], "the CRC failure probability", 0, 1)}
    raise CtlError("usage: sensor NAME fail | sensor NAME crc P | sensor NAME ok (not %r)" % " ".join(args))


def _power(args):
    what = args[0] if args else ""
    if what == "cut":
        _count(args, 2, "power cut [SECONDS]")
        return {"power": _number(args[1], "the time without power", 0, 86400) if len(args) > 1 else 0.5}
    if what in ("off", "on"):
        _count(args, 1, "power " + what)
        return {"power": None} if what == "off" else {"power_on": True}
    if what == "write" and len(args) >= 2:
        _count(args, 4, "power write FILE [N [BYTES]]")
        cut = {"power": "write", "file": args[1].lstrip("/"), "nth": 1}
        if len(args) > 2:
            cut["nth"] = int(_number(args[2], "N (which opening of the file)", 1, 1e9))
        if len(args) > 3:
            cut["bytes"] = int(_number(args[3], "BYTES (written before the cut)", 0, 1e12))
        return {"cut": cut}
    raise CtlError("usage: power cut [SECONDS] | power off | power on | power write FILE [N [BYTES]]")


class Server:
    """The simulator's end: a listening socket on 127.0.0.1 and its clients' lines.

    handle(line) answers a request with a list of lines, or None when the answer comes later
    (reply(conn, lines) then sends it). poll() is called by the simulator's loop (non-blocking).
    """

    def __init__(self, handle, port=0):
        self.handle = handle
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(16)
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]
        self.clients = {}  # socket -> [bytes received, answers pending, input ended]

    def sockets(self):
        return [self.sock] + list(self.clients)

    def ready(self, sock):
        """Serve what arrived on sock (the listener or a client)."""
        if sock is self.sock:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            conn.setblocking(False)
            self.clients[conn] = [b"", 0, False]
            return
        st = self.clients.get(sock)
        if st is None:
            return
        try:
            data = sock.recv(4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            st[2] = True
            if st[0].strip():
                data = b"\n"
        st[0] += data
        if len(st[0]) > 65536:
            self.send(sock, ["error: request line too long"])
            self.close(sock)
            return
        while b"\n" in st[0]:
            line, st[0] = st[0].split(b"\n", 1)
            text = line.decode("utf-8", "replace").strip()
            if not text:
                continue
            st[1] += 1
            answer = self.handle(text, sock)
            if answer is not None:
                self.reply(sock, answer)
        if st[2] and st[1] == 0:
            self.close(sock)

    def reply(self, sock, lines):
        st = self.clients.get(sock)
        if st is None:
            return
        st[1] -= 1
        self.send(sock, lines)
        if st[2] and st[1] == 0:
            self.close(sock)

    def send(self, sock, lines):
        try:
            sock.setblocking(True)
            sock.settimeout(2)  # a client that does not read is dropped
            sock.sendall(("\n".join(lines) + "\n").encode())
            sock.setblocking(False)
        except OSError:
            self.close(sock)

    def close(self, sock):
        self.clients.pop(sock, None)
        sock.close()

    def shutdown(self):
        for sock in list(self.clients):
            self.close(sock)
        self.sock.close()


def request(port, line, timeout=10.0, host="127.0.0.1"):
    """Send one request line to a simulator's control port; the answer's lines."""
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(line.encode() + b"\n")
        s.shutdown(socket.SHUT_WR)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    return data.decode("utf-8", "replace").splitlines()


def main(argv=None):
    ap = argparse.ArgumentParser(
        prog="python -m simulator.ctl",
        description=__doc__.splitlines()[0],
        epilog="commands:\n" + COMMANDS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--port", type=int, help="the simulator's control port (default: from %s)" % PORT_FILE)
    ap.add_argument("--board", help="board id, ids separated by commas, a pattern (sim-00*) or all")
    ap.add_argument("command", nargs=argparse.REMAINDER, help="the command and its arguments")
    a = ap.parse_args(argv)
    words = a.command
    if words and words[0] == "--":
        words = words[1:]
    try:
        action = parse(words)  # a bad command is refused here, without a simulator
    except CtlError as e:
        print("error: " + str(e), file=sys.stderr)
        return 1
    if "help" in action:
        print(COMMANDS)
        return 0
    port = a.port
    if port is None:
        try:
            with open(PORT_FILE) as f:
                port = int(f.read().strip())
        except (OSError, ValueError):
            print(
                "error: no --port and no %s: is `python -m simulator` running? "
                "(it prints `ctl: 127.0.0.1:PORT`)" % PORT_FILE,
                file=sys.stderr,
            )
            return 2
    line = shlex.join(([a.board] if a.board else []) + words)
    try:
        answer = request(port, line)
    except OSError as e:
        print("error: no simulator on 127.0.0.1:%d: %s" % (port, e.strerror or e), file=sys.stderr)
        return 2
    print("\n".join(answer))
    return 0 if answer and answer[0].startswith("ok") else 1


if __name__ == "__main__":
    sys.exit(main())
