"""The simulated board's REPL (simrepl) answers as MicroPython's pyexec and readline do, byte for byte.

A scripted console stands in for the serial port: the bytes typed are given up front and what the
board writes is kept. Code run here assigns rather than prints (print() goes to the real stdout).
"""

import simboard
import simrepl

from wsutil import raises

BANNER = b'MicroPython v1.29.0 on 2026-04-06; Test board with ESP32\nType "help()" for more information.\n'


class ScriptedConsole:
    """simrepl.Console's interface over given input; ConsoleClosed once it is all read."""

    def __init__(self, typed):
        self.typed = typed
        self.at = 0
        self.out = bytearray()
        self.interrupt_states = []  # what interrupts() was told, in order

    def read(self):
        if self.at >= len(self.typed):
            raise simrepl.ConsoleClosed()
        c = self.typed[self.at]
        self.at += 1
        return c

    def write(self, data):
        self.out += data.encode() if isinstance(data, str) else data

    def interrupts(self, on):
        self.interrupt_states.append(on)

    def interrupt_waiting(self):
        return False  # scripted input is read as the REPL asks for it: nothing is typed ahead


def make(typed):
    simboard.use(simboard.SimBoard("repl-test"))
    con = ScriptedConsole(typed)
    repl = simrepl.Repl(con, BANNER.split(b"\n")[0].decode(), (simrepl.__file__,))
    return repl, con, {"__name__": "__main__"}


def test_continue_with_input_follows_micropython():
    more = simrepl.continue_with_input
    assert not more("") and not more("x = 1") and not more("iffy = 1")
    assert more("if x:") and more("def f():") and more("@decorator") and more("for i in y:\n    pass")
    assert not more("for i in y:\n    pass\n")  # an empty line ends a compound statement
    assert more("(1,") and more("x = [1,\n2") and more("'''doc") and more("x = 1 + \\")
    assert not more("s = 'a(b'") and not more('s = "\\"("')


def test_auto_indent_follows_the_line_above():
    indent = simrepl._auto_indent
    assert indent("") == b"" and indent("x = 1\n") == b""
    assert indent("if x:\n") == b"    " and indent("if x:\n    if y:\n") == b"        "
    assert indent("if x:\n    y = 1\n") == b"    "
    assert indent("if x:\n    y = 1\n    \n") == b"    "
    assert indent("if x:\n    y = 1\n    \n    \n") == b""  # two blank lines: back to column 0


def test_raw_repl_runs_code_and_frames_output_with_eof():
    repl, con, g = make(b"x = 6 * 7\x04\x02")
    repl.raw(g)
    assert bytes(con.out) == b"raw REPL; CTRL-B to exit\n>OK\x04\x04>\n"
    assert g["x"] == 42 and repl.mode == simrepl.FRIENDLY
    assert con.interrupt_states == [True, False]  # Ctrl-C interrupts only while code runs


def test_raw_repl_reports_an_exception_between_the_eofs():
    repl, con, g = make(b"1/0\x04\x02")
    repl.raw(g)
    out = bytes(con.out)
    assert out.startswith(b"raw REPL; CTRL-B to exit\n>OK\x04Traceback (most recent call last):\n")
    assert b'  File "<stdin>", line 1, in <module>\nZeroDivisionError: ' in out
    assert out.endswith(b"\x04>\n") and b"simrepl" not in out


def test_raw_repl_prints_a_keyboard_interrupt_and_goes_on():
    repl, con, g = make(b"raise KeyboardInterrupt\x04\x02")
    repl.raw(g)
    assert b"KeyboardInterrupt: \n\x04>" in bytes(con.out)


def test_raw_repl_ctrl_c_clears_and_ctrl_a_restarts():
    repl, con, g = make(b"junk\x03y = 1\x04\x01\x02")
    repl.raw(g)
    assert bytes(con.out) == b"raw REPL; CTRL-B to exit\n>OK\x04\x04>raw REPL; CTRL-B to exit\n>\n"
    assert g["y"] == 1


def test_raw_paste_announces_its_window_and_asks_for_more():
    source = b"#" * 200 + b"\nw = 5"
    repl, con, g = make(b"\x05A\x01" + source + b"\x04\x02")
    repl.raw(g)
    # R\x01, a 128-byte window, one more window free; 0x01 after 128 bytes read; 0x04 ends the data.
    assert bytes(con.out) == b"raw REPL; CTRL-B to exit\n>R\x01\x80\x00\x01\x01\x04\x04\x04>\n"
    assert g["w"] == 5


def test_raw_paste_refuses_an_unknown_command():
    repl, con, g = make(b"\x05B\x01\x02")
    repl.raw(g)
    assert bytes(con.out) == b"raw REPL; CTRL-B to exit\n>R\x00>\n"


def test_raw_repl_ctrl_d_on_empty_input_soft_resets():
    repl, con, g = make(b"\x04")
    r = raises(simboard.BoardReset, repl.raw, g)
    assert r.cause == simboard.SOFT_RESET and simboard.board().reset_cause == simboard.SOFT_RESET
    assert bytes(con.out) == b"raw REPL; CTRL-B to exit\n>OK\n"


def test_sys_exit_soft_resets_after_the_eofs():
    repl, con, g = make(b"import sys\nsys.exit()\x04")
    r = raises(simboard.BoardReset, repl.raw, g)
    assert r.cause == simboard.SOFT_RESET
    assert bytes(con.out).endswith(b">OK\x04\x04")


def test_machine_reset_passes_through_without_eof():
    repl, con, g = make(b"import machine\nmachine.reset()\x04")
    r = raises(simboard.BoardReset, repl.raw, g)
    assert r.cause == simboard.HARD_RESET
    assert bytes(con.out).endswith(b">OK")


def test_friendly_repl_echoes_runs_and_switches_to_raw():
    repl, con, g = make(b"x = 12\x7f3\r\x01")
    repl.friendly(g)
    assert bytes(con.out) == BANNER + b">>> x = 12\b\x1b[K3\n>>> \n"
    assert g["x"] == 13 and repl.mode == simrepl.RAW


def test_friendly_repl_auto_indents_and_blank_lines_end_a_block():
    repl, con, g = make(b"if 1:\ry = 2\r\r\r\r\x01")
    repl.friendly(g)
    out = bytes(con.out)
    assert b">>> if 1:\n...     y = 2\n...     \n...     \n... \n>>> " in out
    assert g["y"] == 2


def test_typed_indentation_turns_auto_indent_off():
    repl, con, g = make(b"if 1:\r    z = 3\r\r\x01")
    repl.friendly(g)
    assert b"...     \b\b\b   z = 3\n... \n>>> " in bytes(con.out)
    assert g["z"] == 3


def test_friendly_ctrl_c_cancels_the_line_and_ctrl_b_prints_the_banner():
    repl, con, g = make(b"abc\x03\x02\x01")
    repl.friendly(g)
    assert bytes(con.out) == BANNER + b">>> abc\n>>> \n" + BANNER + b">>> \n"
    assert "abc" not in g


def test_paste_mode_runs_the_whole_paste():
    repl, con, g = make(b"\x05a = 1\rb = a + 1\r\x04\x01")
    repl.friendly(g)
    out = bytes(con.out)
    assert (
        b">>> \npaste mode; Ctrl-C to cancel, Ctrl-D to finish\n=== a = 1\n=== b = a + 1\n=== \n>>> " in out
    )
    assert g["b"] == 2


def test_friendly_ctrl_d_soft_resets_and_errors_keep_the_repl_going():
    repl, con, g = make(b"nope\r\x04")
    r = raises(simboard.BoardReset, repl.friendly, g)
    out = bytes(con.out)
    assert r.cause == simboard.SOFT_RESET
    assert (
        b'>>> nope\nTraceback (most recent call last):\n  File "<stdin>", line 1, in <module>\nNameError: '
        in out
    )
    assert out.endswith(b">>> \n")


def test_history_recalls_the_previous_line():
    repl, con, g = make(b"n = 1\r\x1b[A\x7f2\r\x01")
    repl.friendly(g)
    assert g["n"] == 2 and b">>> \x1b[Kn = 1\b\x1b[K2\n" in bytes(con.out)


def test_a_missing_script_is_skipped_as_by_pyexec_file_if_exists():
    repl, con, g = make(b"")
    assert repl.run_file("main.py", None, g) is True
    assert repl.run_file("main.py", "/no/such/dir/main.py", g) is True
    assert bytes(con.out) == b""
