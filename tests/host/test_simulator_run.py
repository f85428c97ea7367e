"""python -m simulator: a board boots firmware/ unchanged on both runtimes, reboots, keeps its flash."""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def simulate(tmp_path, *args, timeout=60):
    cmd = [sys.executable, "-m", "simulator", "--flash", str(tmp_path / "flash")] + list(args)
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("runtime", ["cpython", "micropython"])
def test_board_boots_the_firmware_and_prints_its_console(tmp_path, runtime):
    r = simulate(tmp_path, "--runtime", runtime, "--duration", "2.5")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "rst:0x1 (POWERON_RESET), board sim-0001" in out
    # The application starts; without a config.json it says so and stays in safe mode, offline.
    assert "ERROR config: config.json: missing" in out
    assert "INFO app: unconfigured on ESP32-DevKitC, firmware " in out and "reset power_on" in out
    assert out.count("Traceback") == out.count("KeyboardInterrupt:")  # only the stop's Ctrl-C
    with open(tmp_path / "flash" / "board.json") as f:
        assert json.load(f)["chip"] == "ESP32"


REBOOTING_MAIN = """
import machine
try:
    open("booted-once").close()
    print("second boot, cause", machine.reset_cause())
except OSError:
    with open("booted-once", "w") as f:
        f.write("1")
    print("first boot, resetting")
    machine.reset()
"""


@pytest.mark.parametrize("runtime", ["cpython", "micropython"])
def test_machine_reset_reboots_and_flash_survives(tmp_path, runtime):
    fw = tmp_path / "fw"
    fw.mkdir()
    (fw / "main.py").write_text(REBOOTING_MAIN)
    r = simulate(tmp_path, "--runtime", runtime, "--firmware", str(fw), "--duration", "3")
    out = r.stdout
    assert "first boot, resetting" in out, out + r.stderr
    assert "rst:0xc (SW_CPU_RESET)" in out
    assert "second boot, cause 2" in out  # machine.HARD_RESET after machine.reset()
    assert (tmp_path / "flash" / "booted-once").exists()


def test_bad_board_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "board.json"
    bad.write_text("{not json")
    r = simulate(tmp_path, "--board", str(bad))
    assert r.returncode == 2 and "not valid JSON" in r.stderr
    bad.write_text('{"name": "x"}')
    r = simulate(tmp_path, "--board", str(bad))
    assert r.returncode == 2 and "'chip'" in r.stderr
    r = simulate(tmp_path, "--board", str(tmp_path / "missing.json"))
    assert r.returncode == 2 and "missing.json" in r.stderr


def test_missing_config_or_firmware_is_a_clear_error(tmp_path):
    r = simulate(tmp_path, "--config", str(tmp_path / "nope.json"))
    assert r.returncode == 2 and "nope.json does not exist" in r.stderr
    r = simulate(tmp_path, "--firmware", str(tmp_path))
    assert r.returncode == 2 and "has no main.py" in r.stderr


HEAP_MAIN = """
import gc
import sys
gc.collect()
free = gc.mem_free()
print("free", free)
try:
    big = bytearray(free * 8 // 10)  # one block of most of it: the heap is not in pieces
    print("one block of", len(big))
except MemoryError:
    print("no block of", free * 8 // 10)
big = None
mod = sys.modules.get("helper")
import helper
print("helper from", helper.__file__)
"""


def _mp():
    if not os.path.exists(os.path.join(ROOT, ".venv", "bin", "micropython")):
        pytest.skip("the MicroPython interpreter is not installed: make setup")
    return dict(os.environ, PATH=os.path.join(ROOT, ".venv", "bin") + os.pathsep + os.environ["PATH"])


@pytest.mark.parametrize("romfs", [False, True])
def test_the_application_gets_its_heap_in_one_piece_and_romfs_code_outside_it(tmp_path, romfs):
    env = _mp()
    fw = tmp_path / "fw"
    fw.mkdir()
    (fw / "main.py").write_text(HEAP_MAIN)
    (fw / "helper.py").write_text("X = 1\n")
    cmd = [sys.executable, "-m", "simulator", "--flash", str(tmp_path / "flash"), "--runtime", "micropython"]
    cmd += ["--firmware", str(fw), "--heap", "64k", "--duration", "3"] + (["--romfs"] if romfs else [])
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=60, env=env)
    out = r.stdout
    free = int(out.split("free ", 1)[1].split()[0])
    # 64 KiB less what the simulator charges for the application's names (7 KiB) and what
    # boot.py and main.py took: within a few KiB of that, and in one piece.
    assert 48 * 1024 < free <= 57 * 1024, out + r.stderr
    assert "one block of %d" % (free * 8 // 10) in out, out
    where = "/rom/helper.mpy" if romfs else "/helper.mpy"  # a compiled module either way
    assert "helper from " in out and out.split("helper from ", 1)[1].split()[0].endswith(where), out
