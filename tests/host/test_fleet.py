"""python -m simulator --devices N: a fleet of boards, each with its own id, flash, seed and config;
stopped by PID; a board whose process dies boots again, at a bounded rate."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from simproc import ROOT, Sim, alive, firmware
from simulator.__main__ import board_ids

WHO_AM_I = """
import json
import time
import simboard
b = simboard.board()
with open("config.json") as f:
    cfg = json.load(f)
print("I am %s seed %d" % (b.board_id, b.seed), end=" ")
print("device_id %s token %s server %s" % (cfg["device_id"], cfg["token"], cfg["server"]))
while True:
    time.sleep_ms(100)
"""

# The board's process dies at every boot (os.system's shell kills its parent: the board).
CRASHING = """
import os
print("booted")
os.system("kill -SEGV $PPID")
"""


def test_ids_are_the_prefix_and_a_number():
    assert board_ids("sim", 3) == ["sim-0001", "sim-0002", "sim-0003"]
    assert board_ids("node", 12000)[-1] == "node-12000"


@pytest.mark.parametrize("runtime,sig", [("cpython", signal.SIGINT), ("micropython", signal.SIGTERM)])
def test_a_fleet_of_three_boards_each_its_own_and_all_stopped(tmp_path, runtime, sig):
    fw = firmware(tmp_path, WHO_AM_I)
    template = tmp_path / "template.json"
    template.write_text(json.dumps({"server": "ws://127.0.0.1:9/device", "token": "shared"}))
    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps({"node-0001": "t-one", "node-0002": "t-two", "node-0003": "t-three"}))
    args = ["--runtime", runtime, "--devices", 3, "--id", "node", "--seed", 10, "--firmware", fw]
    args += ["--flash", tmp_path / "fleet", "--config", template, "--tokens", tokens]
    with Sim(*args) as sim:
        for n, token in ((1, "t-one"), (2, "t-two"), (3, "t-three")):
            sim.wait(
                r"^node-000%d \| I am node-000%d seed %d device_id node-000%d token %s server ws://"
                % (n, n, 9 + n, n, token)
            )
        assert len(sim.pids) == 3
        assert sim.stop(sig) == 0
        out = "\n".join(sim.lines)
    stopped = sorted(re.findall(r"simulator: (node-000\d): stopped", out))
    assert stopped == ["node-0001", "node-0002", "node-0003"]
    assert not [pid for pid in sim.pids if alive(pid)]
    for n in (1, 2, 3):
        flash = tmp_path / "fleet" / ("node-000%d" % n) / "flash"
        cfg = json.loads((flash / "config.json").read_text())
        assert cfg["device_id"] == "node-000%d" % n and cfg["server"].startswith("ws://")
        assert json.loads((flash / "board.json").read_text())["chip"] == "ESP32"


def test_quiet_fleet_shows_starts_stops_and_a_summary(tmp_path):
    fw = firmware(tmp_path)
    args = (
        "--devices",
        3,
        "--quiet",
        "--summary",
        1,
        "--firmware",
        fw,
        "--flash",
        tmp_path / "fleet",
        "--duration",
        2.6,
    )
    with Sim(*args) as sim:
        code, out = sim.ended()
    assert code == 0
    assert len(re.findall(r"simulator: sim-000\d: started, pid \d+", out)) == 3
    assert re.search(r"simulator: fleet: 3 running; \d+ console lines in 1 s \(\d\.\d\d a running board", out)
    assert len(re.findall(r"simulator: sim-000\d: stopped", out)) == 3
    assert "reset cause" not in out and "| " not in out
    assert not [pid for pid in sim.pids if alive(pid)]


@pytest.mark.parametrize("runtime", ["cpython", "micropython"])
def test_a_board_whose_process_dies_boots_again(tmp_path, runtime):
    with Sim("--runtime", runtime, "--firmware", firmware(tmp_path), "--flash", tmp_path / "flash") as sim:
        sim.wait("main: reset cause 1")
        (pid,) = sim.pids
        os.kill(pid, signal.SIGSEGV)  # a crash: boots again as after a panic
        i = sim.wait(r"simulator: crashed \(signal SIGSEGV\) after [\d.]+ s; boots again in 0.2 s")
        i = sim.wait(r"rst:0xc \(SW_CPU_RESET\), board sim-0001", i)
        sim.wait("main: reset cause 2", i)
        (pid2,) = sim.pids - {pid}
        os.kill(pid2, signal.SIGKILL)  # pulled the plug
        i = sim.wait(r"simulator: killed \(SIGKILL\): power lost after", i)
        i = sim.wait(r"rst:0x1 \(POWERON_RESET\), board sim-0001", i)
        sim.wait("main: reset cause 1", i)
    assert len(sim.pids) == 3 and not [p for p in sim.pids if alive(p)]


def test_a_crash_loop_restarts_at_a_bounded_rate(tmp_path):
    fw = firmware(tmp_path, CRASHING)
    args = ("--devices", 2, "--firmware", fw, "--flash", tmp_path / "fleet", "--duration", 4)
    with Sim(*args) as sim:
        code, out = sim.ended()
    assert code == 0
    crashes = re.findall(r"sim-0001: crashed \(signal SIGSEGV\) after .*; boots again in ([\d.]+) s", out)
    delays = [float(d) for d in crashes]
    assert delays[:3] == [0.2, 0.4, 0.8]  # doubles with each quick crash
    assert out.count("sim-0001 | booted") <= 6  # not hundreds
    assert out.count("sim-0002 | booted") >= 3  # the other board goes on with its own loop


@pytest.mark.parametrize(
    "args,message",
    [
        (["--devices", "0"], "--devices must be at least 1, not 0"),
        (["--tokens", "TOKENS"], "--tokens needs --config"),
        (["--devices", "3", "--config", "TEMPLATE", "--tokens", "TOKENS"], "no token for sim-0003 (1 of 3"),
        (["--devices", "2", "--config", "LIST"], "must be a JSON object"),
        (["--devices", "2", "--config", "TEMPLATE", "--tokens", "LIST"], 'must be a JSON object {"board id"'),
        (["--devices", "2", "--serial"], "--serial runs one board"),
        (["--id", "../x"], "cannot name a folder"),
        (["--at", "-1", "reboot"], "--at -1: the time must be seconds >= 0"),
        (["--at", "1", "frob"], "--at 1 'frob': unknown command 'frob'"),
        (["--at", "0", "wifi drop"], "--at 0 'wifi drop': no world: start the simulator with --world"),
        (
            ["--devices", "2", "--at", "0", "sim-0007 reboot"],
            "no board 'sim-0007' (boards: sim-0001, sim-0002)",
        ),
        (["--world", "WORLD"], "WORLD: sensor 1 (air): needs an integer pin"),
        (["--start-rate", "0"], "--start-rate must be"),
    ],
)
def test_bad_fleet_arguments_are_clear_errors(tmp_path, args, message):
    files = {
        "TEMPLATE": json.dumps({"server": "ws://x"}),
        "TOKENS": json.dumps({"sim-0001": "a", "sim-0002": "b"}),
        "LIST": "[1, 2]",
        "WORLD": json.dumps({"sensors": [{"kind": "dht22", "name": "air"}]}),
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    args = [str(tmp_path / a) if a in files else a for a in args]
    with Sim("--flash", tmp_path / "f", *args) as sim:
        code, out = sim.ended()
    assert code == 2 and message in out, out
    assert not sim.pids


def test_stopping_a_fleet_while_boards_still_boot_leaves_nothing_running(tmp_path):
    args = (
        "--devices",
        12,
        "--start-rate",
        8,
        "--quiet",
        "--firmware",
        firmware(tmp_path),
        "--flash",
        tmp_path / "fleet",
    )
    with Sim(*args) as sim:
        sim.wait("sim-0003: started")
        time.sleep(0.2)
        assert sim.stop(signal.SIGTERM) == 0
    assert 3 <= len(sim.pids) < 12
    assert not [pid for pid in sim.pids if alive(pid)]
    assert len(re.findall(r": stopped$", "\n".join(sim.lines), re.M)) == len(sim.pids)


@pytest.mark.parametrize("runtime", ["cpython", "micropython"])
def test_boards_die_with_a_simulator_killed_by_sigkill(tmp_path, runtime):
    # CPython boards are forks of the fork server, which kills them when the simulator goes;
    # MicroPython boards are plain processes that get SIGKILL when their parent dies.
    args = ("--runtime", runtime, "--devices", 3, "--quiet", "--firmware", firmware(tmp_path))
    with Sim(*args, "--flash", tmp_path / "fleet") as sim:
        sim.wait("sim-0003: started")
        sim.proc.kill()
        deadline = time.monotonic() + 5
        while [p for p in sim.pids if alive(p)] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(sim.pids) == 3 and not [p for p in sim.pids if alive(p)]


def test_fleetbench_measures_a_fleet_and_leaves_nothing_running(tmp_path):
    out = tmp_path / "bench.jsonl"
    cmd = [
        sys.executable,
        "-m",
        "simulator.fleetbench",
        "--devices",
        "3",
        "--measure",
        "2.5",
        "--json",
        str(out),
    ]
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    (result,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert result["running"] == 3 and result["fork_server"] and result["left_running"] == 0
    assert 0.6 <= result["readings_per_board_s"] <= 1.4 and result["pss_mib_per_board"] > 0
    assert "| cpython (forked) | standin | 3 |" in r.stdout
