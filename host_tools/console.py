"""make console: the board's serial console with coloured log levels, host timestamps, filters,
capture to a file, traceback highlighting, hotkeys and reconnection (pyserial).

    python -m host_tools.console [--port PORT] [--reset | --bootloader] [--level warning]
                                 [--module wifi,link] [--capture log.txt]
PORT is a device path or a pyserial URL (rfc2217://host:port, socket://host:port); without it the
only ESP32 USB bridge plugged in is used. Opening does not reset the board (DTR/RTS stay low).
Hotkeys: Ctrl-T then s (status), r (reset), q (quit); everything else typed goes to the REPL.
"""

import argparse
import os
import re
import select
import sys
import time

from host_tools import boardio
from host_tools.boardio import ToolError

# USB-serial bridges of ESP32 boards, by (VID, PID).
BRIDGES = {
    (0x10C4, 0xEA60): "CP210x",
    (0x1A86, 0x7523): "CH340",
    (0x1A86, 0x55D4): "CH9102",
    (0x0403, 0x6001): "FTDI",
    (0x303A, 0x1001): "ESP32 native USB",
}
LEVELS = ("DEBUG", "INFO", "WARN", "ERROR")
_LEVEL_NAMES = {"debug": 0, "info": 1, "warning": 2, "warn": 2, "error": 3}
LOG_LINE = re.compile(r"^\[\s*\d+\.\d+\] (DEBUG|INFO|WARN|ERROR) ([^ :]+): ")
_COLOURS = {"DEBUG": "\x1b[2m", "INFO": "\x1b[32m", "WARN": "\x1b[33m", "ERROR": "\x1b[1;31m"}
_TRACE = "\x1b[1;35m"
_RESET = "\x1b[0m"
CTRL_T = b"\x14"
STATUS = b"from app.console import status; status()\r"


def list_ports():
    """[(device, description, bridge name or None)] of the serial ports on this machine."""
    from serial.tools import list_ports as lp

    return [(p.device, p.description, BRIDGES.get((p.vid, p.pid))) for p in sorted(lp.comports())]


def pick_port(ports):
    """The only ESP32 bridge among ports (list_ports() rows); ToolError when none or several."""
    boards = [p for p in ports if p[2]]
    if len(boards) == 1:
        return boards[0][0]
    if not boards:
        raise ToolError(
            "no ESP32 USB bridge found (CP210x, CH340, CH9102, FTDI, native USB): plug the board in,"
            " or pass PORT=/dev/ttyUSB0 or a rfc2217:// URL"
        )
    raise ToolError(
        "several ESP32 boards: pass PORT= one of %s" % ", ".join("%s (%s)" % (p[0], p[2]) for p in boards)
    )


class Formatter:
    """Turns the board's text lines into shown lines: filters, colours, host time, tracebacks."""

    def __init__(self, level=0, modules=None, colour=False, clock=time.time):
        self.level, self.modules, self.colour, self.clock = level, modules, colour, clock
        self.in_trace = False

    def stamp(self):
        t = self.clock()
        return time.strftime("%H:%M:%S", time.localtime(t)) + ".%03d" % (int(t * 1000) % 1000)

    def line(self, text):
        """The line to show (None: filtered out)."""
        m = LOG_LINE.match(text)
        trace = text.startswith("Traceback (most recent call last):")
        if trace:
            self.in_trace = True
        elif self.in_trace and not text.startswith(" "):
            trace, self.in_trace = True, False  # the exception's own line ends the traceback
        else:
            trace = self.in_trace
        if m:
            if LEVELS.index(m.group(1)) < self.level or (self.modules and m.group(2) not in self.modules):
                return None
            colour = _COLOURS[m.group(1)]
        elif self.modules or self.level > 0:
            if not trace:  # filters keep only log lines (and tracebacks, always worth seeing)
                return None
            colour = _TRACE
        else:
            colour = _TRACE if trace else ""
        if self.colour and colour:
            text = colour + text + _RESET
        return self.stamp() + " " + text


def reset(port, bootloader=False):
    """Reset through the auto-reset circuit (RTS = EN, DTR = GPIO0), optionally into the ROM bootloader."""
    try:
        _pulse(port, bootloader)
    except OSError:
        raise ToolError(
            "this port has no DTR/RTS lines (a pseudo-terminal?): reset the board with its EN button"
        )


def _pulse(port, bootloader):
    port.dtr, port.rts = False, True  # EN low
    time.sleep(0.1)
    if bootloader:
        port.dtr, port.rts = True, False  # EN high with GPIO0 low: the ROM waits for a download
        time.sleep(0.05)
        port.dtr = False
    else:
        port.rts = False


class Console:
    """One console session: port in, lines out (and to the capture file), keys to the board."""

    def __init__(self, port, fmt, out=sys.stdout, capture=None):
        self.port_name, self.fmt, self.out, self.capture = port, fmt, out, capture
        self.port, self.buf, self.running, self.actions = None, b"", True, []

    def say(self, text):
        self.out.write("--- %s\n" % text)
        self.out.flush()

    def open(self, wait=0):
        deadline = time.monotonic() + wait
        while True:
            try:
                self.port = boardio.open_serial(self.port_name)
                return
            except ToolError:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.5)

    def feed(self, data):
        self.buf += data
        while b"\n" in self.buf:
            raw, self.buf = self.buf.split(b"\n", 1)
            self.show(raw.decode("utf-8", "replace").rstrip("\r"))

    def show(self, text):
        if self.capture:
            self.capture.write(self.fmt.stamp() + " " + text + "\n")
            self.capture.flush()
        shown = self.fmt.line(text)
        if shown is not None:
            self.out.write(shown + "\n")
            self.out.flush()

    def flush_partial(self):
        # A prompt (">>> ") has no newline: show it so the person sees the REPL answer.
        if self.buf and not self.buf.endswith(b"\r"):
            self.out.write(self.buf.decode("utf-8", "replace"))
            self.out.flush()
            if self.capture:
                self.capture.write(self.buf.decode("utf-8", "replace"))
            self.buf = b""

    def send(self, data):
        try:
            self.port.write(data)
        except Exception as e:
            self.say("write failed: %s" % e)

    def later(self, seconds, action):
        """Run action (no arguments) that many seconds from now, from the session's loop."""
        self.actions.append((time.monotonic() + seconds, action))

    def status(self):
        """Ctrl-C stops the app (its state stays for the REPL), then the app's status command."""
        self.send(b"\r\x03")
        time.sleep(0.3)
        self.send(STATUS)

    def key(self, data, pending):
        """Handle typed bytes; returns whether Ctrl-T is pending."""
        for b in data:
            c = bytes([b])
            if pending:
                pending = False
                if c in (b"q", b"Q"):
                    self.running = False
                elif c in (b"s", b"S"):
                    self.status()
                elif c in (b"r", b"R"):
                    self.say("reset")
                    try:
                        reset(self.port)
                    except ToolError as e:
                        self.say(str(e))
                else:
                    self.send(c if c == CTRL_T else CTRL_T + c)
            elif c == CTRL_T:
                pending = True
            else:
                self.send(b"\r" if c == b"\n" else c)
        return pending

    def run(self, duration=0, keys=None, on_start=None):
        """Read until Ctrl-T q, the duration (s, 0 = no end) or end of keys; reconnect on loss."""
        end = time.monotonic() + duration if duration else None
        pending = False
        if on_start:
            on_start(self)
        while self.running and (end is None or time.monotonic() < end):
            try:
                data = self.port.read(max(1, self.port.in_waiting))
            except Exception as e:  # the board was unplugged: wait for it to come back
                self.say("port lost (%s); waiting for it to come back" % type(e).__name__)
                self.close_port()
                self.reconnect(end)
                continue
            for due in [x for x in self.actions if x[0] <= time.monotonic()]:
                self.actions.remove(due)
                due[1]()
            if data:
                self.feed(data)
            elif self.buf:
                self.flush_partial()
            if keys is not None and select.select([keys], [], [], 0)[0]:
                typed = os.read(keys, 256)
                if not typed:
                    keys = None
                pending = self.key(typed, pending)
        self.close_port()

    def close_port(self):
        if self.port is not None:
            try:
                self.port.close()
            except Exception:
                pass
            self.port = None

    def reconnect(self, end):
        while self.running and (end is None or time.monotonic() < end):
            try:
                self.port = boardio.open_serial(self.port_name)
                self.say("reconnected to %s" % self.port_name)
                return
            except ToolError:
                time.sleep(0.3)
        raise KeyboardInterrupt if end is None else _Done()


class _Done(Exception):
    pass


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m host_tools.console", description=__doc__.split("\n")[0])
    ap.add_argument("--port", help="device path or pyserial URL (default: the only ESP32 bridge)")
    ap.add_argument("--list", action="store_true", help="list serial ports and exit")
    ap.add_argument("--reset", action="store_true", help="reset the board through DTR/RTS after opening")
    ap.add_argument("--bootloader", action="store_true", help="reset into the ROM serial bootloader")
    ap.add_argument("--level", choices=sorted(_LEVEL_NAMES), help="show log lines of this level and above")
    ap.add_argument("--module", help="show only these modules' log lines (comma-separated)")
    ap.add_argument("--capture", help="append every line, with host time, to this file")
    ap.add_argument("--no-colour", "--no-color", action="store_true", help="plain text")
    ap.add_argument("--no-input", action="store_true", help="do not read the keyboard (scripts, tests)")
    ap.add_argument("--duration", type=float, default=0, help="stop after N seconds (0: until Ctrl-T q)")
    ap.add_argument("--status-after", type=float, default=1.0, help="seconds before --status (default 1)")
    ap.add_argument("--send", action="append", default=[], help="a line to type into the REPL at start")
    ap.add_argument(
        "--status", action="store_true", help="ask for the app's status at start (Ctrl-C, status())"
    )
    a = ap.parse_args(argv)
    if a.list:
        for dev, desc, bridge in list_ports():
            print("%-20s %-30s %s" % (dev, desc, bridge or ""))
        return 0
    port = a.port or pick_port(list_ports())
    boardio.check_port(port)
    interactive = not a.no_input and sys.stdin.isatty()
    fmt = Formatter(
        _LEVEL_NAMES[a.level] if a.level else 0,
        set(a.module.split(",")) if a.module else None,
        colour=not a.no_colour and sys.stdout.isatty(),
    )
    capture = open(a.capture, "a") if a.capture else None
    con = Console(port, fmt, capture=capture)
    con.open()

    def start(c):
        c.say(
            "%s opened without reset%s"
            % (port, "; Ctrl-T then s status, r reset, q quit" if interactive else "")
        )
        if a.reset or a.bootloader:
            c.say("bootloader" if a.bootloader else "reset")
            reset(c.port, a.bootloader)
        if a.status:
            c.later(a.status_after, c.status)
        for line in a.send:
            c.send(line.encode() + b"\r")

    saved = None
    try:
        if interactive:  # raw keys: Ctrl-C goes to the board, not to this process
            import termios
            import tty

            saved = termios.tcgetattr(sys.stdin.fileno())
            tty.setraw(sys.stdin.fileno())
            con.out = _CRLF(sys.stdout)
        con.run(a.duration, sys.stdin.fileno() if interactive else None, start)
    except _Done:
        pass
    finally:
        if saved is not None:
            import termios

            termios.tcsetattr(sys.stdin.fileno(), termios.TCSADRAIN, saved)
        con.close_port()
        if capture:
            capture.close()
    return 0


class _CRLF:
    """A raw terminal needs \\r\\n to start a line."""

    def __init__(self, out):
        self.out = out

    def write(self, text):
        self.out.write(text.replace("\n", "\r\n"))

    def flush(self):
        self.out.flush()


if __name__ == "__main__":
    boardio.run_main(main)
