"""Power loss at any moment, also in the middle of a flash write: the board boots again from its
flash, which keeps littlefs's rules (new content is committed on close; rename is atomic)."""

import json
import time

import pytest

from simproc import Sim

# Saves state.json the safe way (tmp, close, rename) at every boot, in three writes.
SAVER = """
import json
import os
import time
import machine

try:
    with open("state.json") as f:
        st = json.load(f)
except (OSError, ValueError) as e:
    st = {"n": -1, "bad": repr(e)}
try:
    tmp = os.stat("state.json.tmp")[6]
except OSError:
    tmp = None
print("boot n=%s cause=%d tmp=%s" % (st.get("n"), machine.reset_cause(), tmp))
st["n"] += 1
with open("state.json.tmp", "w") as f:
    f.write('{"n": %d, "pad": "' % st["n"])
    f.write("x" * 1000)
    f.write('"}')
os.rename("state.json.tmp", "state.json")
print("saved n=%d" % st["n"])
while True:
    time.sleep_ms(50)
"""


def board(tmp_path):
    fw = tmp_path / "fw"
    fw.mkdir()
    (fw / "main.py").write_text(SAVER)
    flash = tmp_path / "flash"
    flash.mkdir()
    (flash / "state.json").write_text('{"n": 1}')
    return fw, flash


@pytest.mark.parametrize("runtime", ["cpython", "micropython"])
@pytest.mark.parametrize("cut", ["power write state.json.tmp 1 500", "power write state.json.tmp"])
def test_power_loss_in_the_middle_of_a_write_keeps_the_old_file(tmp_path, runtime, cut):
    fw, flash = board(tmp_path)
    with Sim("--runtime", runtime, "--firmware", fw, "--flash", flash, "--at", 0, cut) as sim:
        i = sim.wait("boot n=1 cause=1 tmp=None")
        i = sim.wait("simulator: power lost in the middle of a write to state.json.tmp", i)
        assert not [x for x in sim.lines[:i] if "saved" in x]
        i = sim.wait(r"rst:0x1 \(POWERON_RESET\)", i)
        # The old content, whole; the .tmp file its open created, empty: nothing was committed.
        i = sim.wait("boot n=1 cause=1 tmp=0", i)
        sim.wait("saved n=2", i)  # the cut happened once
    saved = json.loads((flash / "state.json").read_text())
    assert saved["n"] == 2 and len(saved["pad"]) == 1000
    assert not list((tmp_path / "flash.shadow").iterdir())  # uncommitted shadows are gone


@pytest.mark.parametrize("runtime", ["cpython", "micropython"])
def test_a_committed_rename_survives_a_power_cut(tmp_path, runtime):
    fw, flash = board(tmp_path)
    with Sim("--runtime", runtime, "--firmware", fw, "--flash", flash) as sim:
        i = sim.wait("saved n=2")
        assert sim.ctl("power cut 0.3") == ["ok: sim-0001: power cut 0.3"]
        i = sim.wait(r"simulator: power cut for 0.3 s", i)
        i = sim.wait(r"rst:0x1 \(POWERON_RESET\)", i)
        sim.wait("boot n=2 cause=1 tmp=None", i)


def test_power_loss_at_a_given_time_and_off_until_power_on(tmp_path):
    fw, flash = board(tmp_path)
    with Sim("--firmware", fw, "--flash", flash, "--at", 1.5, "power off") as sim:
        i = sim.wait("simulator: power cut until `power on`")
        assert sim.ctl("power cut") == ["error: sim-0001 is off already (power on brings it back)"]
        assert sim.ctl("reboot") == ["error: sim-0001 is not running (it is off)"]
        time.sleep(1.0)
        assert not [x for x in sim.lines[i:] if "boot n=" in x]  # off stays off
        assert sim.ctl("power on") == ["ok: sim-0001: power on"]
        sim.wait("boot n=2 cause=1", i)
