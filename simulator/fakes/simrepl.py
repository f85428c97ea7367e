"""The board's REPL on its serial console, as MicroPython's pyexec and readline run it on an ESP32.

Portable (CPython and the MicroPython unix interpreter); boardproc.py drives it after boot.py and
main.py as the port's main.c drives shared/runtime/pyexec.c: the friendly REPL (banner, `>>> `,
`... `, paste mode), the raw REPL (Ctrl-A ... Ctrl-D, answered `OK`, output, 0x04, exception,
0x04, `>`), raw-paste mode (Ctrl-E A Ctrl-A with flow control), Ctrl-B back to friendly and
Ctrl-D on an empty line for a soft reset.

Console bytes come from stdin and go to stdout. In serial mode stdin is a pseudo-terminal whose
line discipline sends SIGINT for Ctrl-C while ISIG is set (simulator/serialport.py sets it up),
so Console turns ISIG on only while code runs: running code gets KeyboardInterrupt, even inside a
blocking sleep or socket call, and the REPL reads Ctrl-C as a byte, as on the board.
"""

import sys

import simboard
import simchip

try:
    import termios
except ImportError:  # no terminal control: Ctrl-C is then whatever SIGINT the host sends
    termios = None
import select

try:
    from os import read as _os_read  # CPython: take what is waiting, not one byte per call
except ImportError:  # MicroPython's os has no read(): stdin is read a byte at a time
    _os_read = None

CTRL_A = 1
CTRL_B = 2
CTRL_C = 3
CTRL_D = 4
CTRL_E = 5
FRIENDLY = 0
RAW = 1
PASTE_WINDOW = 128  # half of MICROPY_REPL_STDIN_BUFFER_MAX, as the port announces it
# ISIG and ICANON of termios.h: Linux and macOS differ; MicroPython's termios names neither.
_ISIG = getattr(termios, "ISIG", 0x80 if sys.platform == "darwin" else 1)
_ICANON = getattr(termios, "ICANON", 0x100 if sys.platform == "darwin" else 2)
_MPY = sys.implementation.name == "micropython"

HELP = """Welcome to MicroPython on the ESP32!

For online docs please visit http://docs.micropython.org/

For access to the hardware use the 'machine' module:

import machine
pin12 = machine.Pin(12, machine.Pin.OUT)
pin12.value(1)
pin13 = machine.Pin(13, machine.Pin.IN, machine.Pin.PULL_UP)
print(pin13.value())

Basic WiFi configuration:

import network
sta_if = network.WLAN(network.WLAN.IF_STA); sta_if.active(True)
sta_if.scan()                             # Scan for available access points
sta_if.connect("<AP_name>", "<password>") # Connect to an AP
sta_if.isconnected()                      # Check for successful connection

Control commands:
  CTRL-A        -- on a blank line, enter raw REPL mode
  CTRL-B        -- on a blank line, enter normal REPL mode
  CTRL-C        -- interrupt a running program
  CTRL-D        -- on a blank line, do a soft reset of the board
  CTRL-E        -- on a blank line, enter paste mode

For further help on a specific object, type help(obj)
"""


class ConsoleClosed(Exception):
    """Nobody can type any more: stdin ended (plain mode) or the host side of the port is gone."""


class Console:
    """The board's UART: bytes in from stdin, out to stdout; Ctrl-C interrupts only running code."""

    def __init__(self):
        self._buf = b""
        self._at = 0
        self._poll = select.poll()
        self._poll.register(sys.stdin, select.POLLIN)
        self._attrs = None
        if termios is not None:
            try:
                self._attrs = termios.tcgetattr(0)
            except Exception:  # not a terminal (CPython raises termios.error, not OSError)
                self._attrs = None
            if self._attrs is not None and self._attrs[3] & _ICANON:
                self._attrs = None  # a person's line-mode terminal, not the board's: leave it be
        self.interrupts(False)

    def interrupts(self, on):
        """Let Ctrl-C raise KeyboardInterrupt (code runs) or arrive as a byte (the REPL reads)."""
        a = self._attrs
        if a is None:
            return
        a[3] = (a[3] | _ISIG) if on else (a[3] & ~_ISIG)
        try:
            termios.tcsetattr(0, termios.TCSANOW, a)
        except Exception:  # the terminal is gone; read() will say so
            pass

    def interrupt_waiting(self):
        """True if a Ctrl-C was typed that running code should get, and take it from the input.

        Called as code starts, with ISIG on. A Ctrl-C that reached the terminal while ISIG was still
        off is a byte in its queue, not a signal: typed while the board booted (mpremote connects
        and interrupts at once) or read ahead by the REPL with the code. Left there, running code
        would never see it; as the board's UART handler would, it interrupts the code instead.
        Only on the board's own terminal: elsewhere stdin is left to the code.
        """
        if self._attrs is None:
            return False
        try:
            waiting = self._poll.poll(0)
        except OSError:
            waiting = ()
        if waiting and waiting[0][1] & select.POLLIN:
            try:
                data = self._fill()
            except OSError:  # the terminal is gone; read() will say so
                data = b""
            if data:
                self._buf = self._buf[self._at :] + data
                self._at = 0
        at = self._buf.find(b"\x03", self._at)
        if at < 0:
            return False
        self._buf = self._buf[self._at : at] + self._buf[at + 1 :]  # the rest is read as typed
        self._at = 0
        return True

    def read(self):
        """The next byte typed (blocks); Ctrl-C that came as a signal reads as CTRL_C."""
        if self._at < len(self._buf):
            c = self._buf[self._at]
            self._at += 1
            return c
        try:
            data = self._fill()
        except KeyboardInterrupt:
            return CTRL_C
        except OSError:  # EIO: the host closed its side of the pseudo-terminal
            raise ConsoleClosed()
        if not data:
            raise ConsoleClosed()
        self._buf = data
        self._at = 1
        return data[0]

    def _fill(self):
        if _os_read is not None:
            return _os_read(0, 256)
        data = sys.stdin.buffer.read(1)  # read(n) would wait for all n bytes
        while data and len(data) < 256 and self._poll.poll(0):
            more = sys.stdin.buffer.read(1)
            if not more:
                break
            data += more
        return data

    def write(self, data):
        if isinstance(data, str):
            data = data.encode()
        sys.stdout.flush()  # whatever print() left in the text layer goes first
        sys.stdout.buffer.write(data)
        if not _MPY:
            sys.stdout.buffer.flush()


def continue_with_input(text):
    """True while a friendly-REPL entry needs more lines (py/repl.c mp_repl_continue_with_input)."""
    if not text:
        return False
    compound = text[0] == "@"
    for word in ("if", "while", "for", "try", "with", "def", "class", "async"):
        if text.startswith(word) and (len(text) == len(word) or not _is_name_char(text[len(word)])):
            compound = True
    depth = 0
    quote = None  # None, "'", '"', "'''" or '"""'
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c in "'\"":
            if (quote is None or quote == c * 3) and text[i : i + 3] == c * 3:
                quote = None if quote else c * 3
                i += 2
            elif quote is None or quote == c:
                quote = None if quote else c
        elif c == "\\" and i + 1 < n and text[i + 1] in "'\"\\":
            if quote is not None:
                i += 1
        elif quote is None:
            if c in "([{":
                depth += 1
            elif c in ")]}":
                depth -= 1
        i += 1
    if quote is not None and len(quote) == 3:
        return True
    if depth > 0 and quote is None:
        return True
    if text[-1] == "\\":
        return True
    return compound and text[-1] != "\n"


def _auto_indent(text):
    # shared/readline/readline.c readline_auto_indent: the indent of the line above, one level
    # more after a colon; none after two blank lines.
    if len(text) < 2 or text[-1] != "\n":
        return b""
    i = text.rfind("\n", 0, len(text) - 1) + 1  # start of the line above
    j = i
    while j < len(text) and text[j] == " ":
        j += 1
    if i > 0 and j + 1 == len(text):  # the line above is blank: so is the one before it?
        k = i - 1
        while k > 0:
            if text[k - 1] == "\n":
                return b""
            if text[k - 1] != " ":
                break
            k -= 1
    return b"    " * ((j - i) // 4 + (1 if text[-2] == ":" else 0))


def _is_name_char(c):
    return c == "_" or c.isalpha() or c.isdigit()


def soft_reset():
    """What a forced exit of pyexec does: the chip's soft reset (machine.on_reset) and BoardReset."""
    simchip.reset(simboard.SOFT_RESET)


class Repl:
    """pyexec's REPLs over a Console; `mode` survives soft resets, a hard reset sets it FRIENDLY."""

    def __init__(self, console, banner, hidden=()):
        self.con = console
        self.banner = banner  # "MicroPython v1.29.0 on <date>; <board> with ESP32"
        self.hidden = hidden  # path prefixes of simulator code, left out of tracebacks
        self.mode = FRIENDLY
        self.history = []
        self._indent = True  # auto-indent, on for every new entry until indentation is typed

    # -- running code (parse_compile_execute)

    def execute(self, source, kind, filename, g, eof=False):
        """Compile and run source in the globals g; True if it raised nothing.

        kind is "exec" (files, raw REPL, paste mode) or "single" (a friendly-REPL entry). With eof
        the raw REPL's two 0x04 frame the output and the exception text. SystemExit is a soft
        reset, as on the board; BoardReset (machine.reset() and friends) passes through.
        """
        con = self.con
        try:
            if not isinstance(source, str):
                source = bytes(source).decode()
            code = compile(source, filename, kind)
            con.interrupts(True)
            try:
                if con.interrupt_waiting():
                    raise KeyboardInterrupt
                exec(code, g)
            finally:
                con.interrupts(False)
        except simboard.BoardReset as r:
            if eof and r.cause == simboard.SOFT_RESET:
                con.write(b"\x04\x04")
            raise
        except SystemExit:
            if eof:
                con.write(b"\x04\x04")
            soft_reset()
        except BaseException as e:  # noqa: BLE001 (KeyboardInterrupt too: the REPL goes on)
            if eof:
                con.write(b"\x04")
            con.write(self.format_exception(e))
            if eof:
                con.write(b"\x04")
            return False
        if eof:
            con.write(b"\x04\x04")
        return True

    def run_file(self, name, path, g):
        """pyexec_file_if_exists: run a script as the board runs boot.py and main.py; True if it
        is missing (path None) or ran without an exception."""
        if path is None:
            return True
        try:
            with open(path) as f:
                source = f.read()
        except OSError:
            return True
        g["__file__"] = name
        return self.execute(source, "exec", name, g)

    def format_exception(self, e):
        """The exception as MicroPython prints it, without the simulator's own frames."""
        if _MPY:
            import io

            buf = io.StringIO()
            sys.print_exception(e, buf)
            lines = buf.getvalue().split("\n")
            return "\n".join([ln for ln in lines if not self._hidden_frame(ln)])
        import traceback

        out = ["Traceback (most recent call last):\n"]
        for fs in traceback.extract_tb(e.__traceback__):
            if not self._hidden_path(fs.filename):
                out.append('  File "%s", line %d, in %s\n' % (fs.filename, fs.lineno, fs.name))
        name, msg = type(e).__name__, str(e)
        if isinstance(e, SyntaxError):
            out.append('  File "%s", line %s\n' % (e.filename, e.lineno))
            msg = e.msg
        elif isinstance(e, OSError) and e.errno:  # mpremote reads the errno's name from this line
            import errno

            name, msg = "OSError", "[Errno %d] %s" % (e.errno, errno.errorcode.get(e.errno, e.strerror))
        out.append("%s: %s\n" % (name, msg))
        return "".join(out)

    def _hidden_frame(self, line):
        start = line.find('File "')
        if start < 0:
            return False
        path = line[start + 6 :]
        return self._hidden_path(path[: path.find('"')])

    def _hidden_path(self, path):
        for prefix in self.hidden:
            if path.startswith(prefix):
                return True
        return False

    # -- the friendly REPL (pyexec_friendly_repl)

    def friendly(self, g):
        """Until Ctrl-A switches to the raw REPL; raises BoardReset for a soft reset."""
        con = self.con
        self._banner()
        while True:
            try:
                if self._friendly_entry(g):
                    return
            except KeyboardInterrupt:  # a Ctrl-C that landed between two reads
                con.write("\n")

    def _banner(self):
        self.con.write(self.banner + '\nType "help()" for more information.\n')

    def _friendly_entry(self, g):
        con = self.con
        ret, line = self.readline(">>> ")
        kind = "single"
        if ret == CTRL_A:
            con.write("\n")
            self.mode = RAW
            return True
        if ret == CTRL_B:
            con.write("\n")
            self._banner()
            return False
        if ret == CTRL_C:
            con.write("\n")
            return False
        if ret == CTRL_D:
            con.write("\n")
            soft_reset()
        if ret == CTRL_E:
            line = self._paste()
            if line is None:
                return False
            kind = "exec"
        elif not line:
            return False
        else:
            while continue_with_input(line):
                line += "\n"
                ret, more = self.readline("... ", line)
                if ret == CTRL_C:
                    con.write("\n")
                    return False
                if ret == CTRL_D:
                    break
                line += more
        self.execute(line, kind, "<stdin>", g)
        return False

    def _paste(self):
        con = self.con
        con.write("\npaste mode; Ctrl-C to cancel, Ctrl-D to finish\n=== ")
        text = bytearray()
        while True:
            c = con.read()
            if c == CTRL_C:
                con.write("\n")
                return None
            if c == CTRL_D:
                con.write("\n")
                return bytes(text).decode().replace("\r", "\n")
            text.append(c)
            con.write("\n=== " if c == 13 else bytes((c,)))

    def readline(self, prompt, before=""):
        """One line as shared/readline reads it: (0, line) on Enter; (CTRL_x, "") for Ctrl-A/B/D/E
        on an empty line and for Ctrl-C. before is the entry so far (ending in a newline) when
        this is a continuation line: it is auto-indented from the line above, as on the board.
        Echoes; Backspace (four spaces at once in an indent); history on the up/down arrows."""
        con = self.con
        con.write(prompt)
        if not before:
            self._indent = True  # every new entry starts with auto-indent on
        line = bytearray(_auto_indent(before) if self._indent else b"")
        con.write(line)
        just_indented = bool(line)
        back = len(self.history)
        last = 0
        while True:
            c = con.read()
            if c == CTRL_C:
                return CTRL_C, ""
            if c in (CTRL_A, CTRL_B, CTRL_D, CTRL_E):
                if not line:
                    return c, ""
            elif c == 13 or (c == 10 and last != 13):
                con.write("\n")
                text = bytes(line).decode()
                if text.strip() and (not self.history or self.history[-1] != text):
                    self.history.append(text)
                    if len(self.history) > 8:  # MICROPY_READLINE_HISTORY_SIZE
                        self.history.pop(0)
                return 0, text
            elif c in (8, 127):
                n = 4 if len(line) >= 4 and not bytes(line).strip(b" ") else 1
                if line:
                    line = line[:-n]
                    con.write(b"\b" * n + b"\x1b[K")
            elif c in (9, 32) and just_indented:
                # Typed or pasted indentation after an auto-indent: auto-indent stops for this
                # entry; a space stands for itself and keeps one of the four spaces added.
                self._indent = False
                if c == 32:
                    line = line[:-3]
                    con.write(b"\b\b\b")
            elif c == 9:
                if line and line[-1] == 32:
                    line += b"    "
                    con.write(b"    ")
            elif c == 27:
                step = self._escape()
                if step and 0 <= back + step <= len(self.history):
                    back += step
                    new = self.history[back].encode() if back < len(self.history) else b""
                    con.write(b"\b" * len(line) + b"\x1b[K" + new)
                    line = bytearray(new)
            elif c >= 32:
                line.append(c)
                con.write(bytes((c,)))
            just_indented = False
            last = c

    def _escape(self):
        # ESC [ A / ESC O A (up) step back in history, B (down) forward; others are ignored.
        c = self.con.read()
        if c not in (ord("["), ord("O")):
            return 0
        while True:
            c = self.con.read()
            if 0x40 <= c <= 0x7E:
                return {ord("A"): -1, ord("B"): 1}.get(c, 0)

    # -- the raw REPL (pyexec_raw_repl) and raw-paste mode

    def raw(self, g):
        """Until Ctrl-B switches to the friendly REPL; raises BoardReset for a soft reset."""
        con = self.con
        reset = True
        while True:
            if reset:
                con.write("raw REPL; CTRL-B to exit\n")
                reset = False
            con.write(">")
            line = bytearray()
            while True:
                c = con.read()
                if c == CTRL_A:
                    if len(line) == 2 and line[0] == CTRL_E:
                        self._raw_paste(line[1], g)
                        line = bytearray()
                        con.write(">")
                        continue
                    reset = True
                    break
                if c == CTRL_B:
                    con.write("\n")
                    self.mode = FRIENDLY
                    return
                if c == CTRL_C:
                    line = bytearray()
                elif c == CTRL_D:
                    break
                else:
                    line.append(c)
            if reset:
                continue
            con.write("OK")
            if not line:
                con.write("\n")
                soft_reset()
            self.execute(line, "exec", "<stdin>", g, eof=True)

    def _raw_paste(self, command, g):
        con = self.con
        if command != ord("A"):
            con.write(b"R\x00")  # a raw-paste command this board does not know
            return
        # The window size says one window is free, the 0x01 after it says a second one is.
        con.write(b"R\x01" + bytes((PASTE_WINDOW & 255, PASTE_WINDOW >> 8)) + b"\x01")
        data = bytearray()
        remain = PASTE_WINDOW
        while True:
            c = con.read()
            if c == CTRL_C or c == CTRL_D:
                con.write(b"\x04")  # end of data, acknowledged
                if c == CTRL_C:
                    con.write(b"\x04" + self.format_exception(KeyboardInterrupt()).encode() + b"\x04")
                    return
                break
            data.append(c)
            remain -= 1
            if remain == 0:
                con.write(b"\x01")  # another window is free
                remain = PASTE_WINDOW
        self.execute(data, "exec", "<stdin>", g, eof=True)


def install_help():
    """help() prints the ESP32 port's text; help(obj) lists obj's attributes as MicroPython does."""
    import builtins

    def help(obj=None):
        if obj is None:
            print(HELP, end="")
            return
        print("object %r is of type %s" % (obj, type(obj).__name__))
        for name in dir(obj):
            if not name.startswith("__"):
                try:
                    print("  %s -- %r" % (name, getattr(obj, name)))
                except Exception:  # noqa: BLE001 (a property that fails: leave it out)
                    pass

    try:
        builtins.help = help
    except (AttributeError, TypeError):  # builtins fixed in this build: the REPL lives without
        pass
