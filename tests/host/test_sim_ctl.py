"""Fault control from the command line: `python -m simulator.ctl` changes a running board's world,
power and resets, and each fault shows on the board's console or in its status."""

import json
import os
import pty
import subprocess
import sys
import time

import pytest

from simproc import ROOT, Sim, alive, firmware
from simulator import ctl

WORLD = {
    "access_points": [{"ssid": "home", "password": "password123", "rssi": -50, "jitter": 0}],
    "sensors": [{"kind": "dht22", "name": "air", "pin": 4}],
}

# Prints what it observes whenever it changes: link, signal, sensor, time source.
OBSERVER = """
import time
import dht
import machine
import network
import ntptime

w = network.WLAN(network.WLAN.IF_STA)
w.active(True)
w.connect("home", "password123")
s = dht.DHT22(machine.Pin(4))
print("boot cause", machine.reset_cause())
last = None
while True:
    c = w.isconnected()
    rssi = w.status("rssi") if c else "-"
    try:
        s.measure()
        sensor = "ok"
    except Exception:
        sensor = "fail"
    try:
        ntptime.time()
        ntp = "ok"
    except OSError:
        ntp = "down"
    now = (c, rssi, sensor, ntp)
    if now != last:
        print("obs wifi=%s rssi=%s sensor=%s ntp=%s" % now)
        last = now
    time.sleep_ms(20)
"""


def setup(tmp_path):
    fw = firmware(tmp_path, OBSERVER)
    world = tmp_path / "world.json"
    world.write_text(json.dumps(WORLD))
    return fw, world


def run_ctl(port, *words):
    """python -m simulator.ctl --port PORT WORDS...: (exit code, stdout + stderr)."""
    cmd = [sys.executable, "-m", "simulator.ctl"] + (["--port", str(port)] if port else []) + list(words)
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=30)
    return r.returncode, r.stdout + r.stderr


@pytest.mark.parametrize("runtime", ["cpython", "micropython"])
def test_each_fault_from_the_command_line_shows_on_the_board(tmp_path, runtime):
    fw, world = setup(tmp_path)
    with Sim("--runtime", runtime, "--firmware", fw, "--world", world, "--flash", tmp_path / "flash") as sim:
        i = sim.wait("obs wifi=True rssi=-50 sensor=ok ntp=ok")
        port = sim.port

        def fault(words, expect):
            code, out = run_ctl(port, *words.split())
            assert code == 0 and out.startswith("ok: sim-0001: " + words), out
            return sim.wait(expect, i)

        i = fault("wifi drop", "obs wifi=False rssi=- sensor=ok ntp=ok")
        i = fault("wifi restore", "obs wifi=True rssi=-50")
        i = fault("wifi weak -88", "obs wifi=True rssi=-88")
        i = fault("wifi weak -100", "obs wifi=False")  # out of range
        i = fault("wifi normal", "obs wifi=True rssi=-50")
        i = fault("sensor air fail", "obs wifi=True rssi=-50 sensor=fail ntp=ok")
        i = fault("sensor air ok", "sensor=ok ntp=ok")
        i = fault("ntp down", "sensor=ok ntp=down")
        i = fault("ntp up", "sensor=ok ntp=ok")
        start = i
        i = fault("wifi flap 0.6", "obs wifi=False")
        sim.wait("obs wifi=True", start, count=3)
        sim.wait("obs wifi=False", start, count=3)  # silent and back, again and again
        i = fault("wifi restore", "obs wifi=True")

        # The "obs wifi=True" above may be the flap's last up phase: the board rejoins the
        # network after the restore within a few of its 0.2 s observation periods.
        for _ in range(50):
            code, out = run_ctl(port, "status")
            assert code == 0, out
            st = json.loads(out.splitlines()[1])
            if st["says"]["wifi"]["connected"]:
                break
            time.sleep(0.2)
        assert st["board"] == "sim-0001" and st["state"] == "running" and st["boots"] == 1
        assert st["says"]["wifi"]["connected"] and st["says"]["wifi"]["ssid"] == "home"
        assert st["says"]["world"]["values"]["temperature"] > -40

        # A fault in force outlives a reset; each reset shows its cause.
        i = fault("sensor air fail", "sensor=fail")
        i = fault("reboot", r"rst:0xc \(SW_CPU_RESET\), board sim-0001")
        i = sim.wait("boot cause 2", i)
        i = sim.wait("sensor=fail", i)
        i = fault("watchdog", r"rst:0x7 \(TG0WDT_SYS_RESET\)")
        i = sim.wait("boot cause 3", i)
        i = fault("power cut", r"rst:0x1 \(POWERON_RESET\)")
        sim.wait("boot cause 1", i)
    assert len(sim.pids) == 4 and not [p for p in sim.pids if alive(p)]


def test_commands_go_to_the_boards_they_name(tmp_path):
    fw, world = setup(tmp_path)
    args = ["--devices", 3, "--firmware", fw, "--world", world, "--flash", tmp_path / "fleet"]
    with Sim(*args) as sim:
        for n in (1, 2, 3):
            sim.wait("sim-000%d \\| obs wifi=True" % n)
        i = len(sim.lines)
        assert sim.ctl("sim-0002 ntp down") == ["ok: sim-0002: ntp down"]
        sim.wait(r"sim-0002 \| .*ntp=down", i)
        assert sim.ctl("sim-0001,sim-0003 sensor air fail") == ["ok: sim-0001, sim-0003: sensor air fail"]
        sim.wait(r"sim-0001 \| .*sensor=fail", i)
        sim.wait(r"sim-0003 \| .*sensor=fail", i)
        assert sim.ctl("sim-000* wifi drop") == ["ok: sim-0001, sim-0002, sim-0003: wifi drop"]
        for n in (1, 2, 3):
            sim.wait(r"sim-000%d \| obs wifi=False" % n, i)
        assert not [x for x in sim.lines[i:] if x.startswith(("sim-0001", "sim-0003")) and "ntp=down" in x]
        assert not [x for x in sim.lines[i:] if x.startswith("sim-0002") and "sensor=fail" in x]
        assert sim.ctl("list")[0].startswith("error: which board?")
        listed = sim.ctl("all list")
        assert listed[0] == "ok" and [x.split()[:2] for x in listed[1:]] == [
            ["sim-0001", "running"],
            ["sim-0002", "running"],
            ["sim-0003", "running"],
        ]
        no_board = "error: no board 'sim-0009' (boards: sim-0001, sim-0002, sim-0003)"
        assert sim.ctl("sim-0009 reboot") == [no_board]
        assert sim.ctl("all sensor soil fail") == ["error: no sensor named 'soil' (known: air)"]
        assert sim.ctl("all wifi drop office") == ["error: no access point 'office' (known: home)"]


def test_faults_on_a_board_without_a_world_are_refused(tmp_path):
    with Sim("--firmware", firmware(tmp_path), "--flash", tmp_path / "flash") as sim:
        sim.wait("main: reset cause 1")
        answer = sim.ctl("wifi drop")
        assert answer[0].startswith("error: no world: start the simulator with --world FILE")
        code, out = run_ctl(sim.port, "sensor", "air", "fail")
        assert code == 1 and "error: no world" in out
        assert sim.ctl('"unbalanced') == ["error: No closing quotation"]


@pytest.mark.parametrize(
    "words,message",
    [
        ([], "no command"),
        (["frob"], "unknown command 'frob'"),
        (["wifi"], "usage: wifi drop|restore|flap|weak|normal"),
        (["wifi", "flap", "fast"], "the flapping period must be a number, not 'fast'"),
        (["wifi", "weak", "10"], "the signal in dBm must be between -120 and 0, not 10"),
        (["sensor", "air", "crc", "2"], "the CRC failure probability must be between 0 and 1, not 2"),
        (["sensor", "air"], "usage: sensor NAME fail"),
        (["ntp", "sideways"], "usage: ntp down | ntp up"),
        (["power"], "usage: power cut [SECONDS]"),
        (["power", "write", "s.tmp", "0"], "N (which opening of the file) must be between 1"),
        (["reboot", "now"], "too many arguments: now (usage: reboot)"),
    ],
)
def test_bad_commands_are_refused_with_the_reason(words, message):
    with pytest.raises(ctl.CtlError) as e:
        ctl.parse(words)
    assert message in str(e.value)


def test_the_client_refuses_bad_commands_and_says_when_no_simulator_runs(tmp_path):
    code, out = run_ctl(1, "frob")
    assert code == 1 and "error: unknown command 'frob'" in out
    code, out = run_ctl(1, "reboot")  # nothing listens on port 1
    assert code == 2 and "error: no simulator on 127.0.0.1:1" in out
    code, out = run_ctl(None, "help")
    assert code == 0 and "power write FILE [N [BYTES]]" in out


def wait_log(log, text, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.exists() and text in log.read_bytes():
            return
        time.sleep(0.05)
    raise AssertionError("%r not in the console log: %r" % (text, log.read_bytes() if log.exists() else b""))


def test_a_serial_board_takes_faults_too(tmp_path):
    log = tmp_path / "console.log"
    with Sim(
        "--serial", "--firmware", firmware(tmp_path), "--flash", tmp_path / "flash", "--log", log
    ) as sim:
        sim.wait("^serial: /dev/")
        wait_log(log, b"main: reset cause 1")
        assert sim.ctl("reboot") == ["ok: sim-0001: reboot"]
        sim.wait(r"simulator: boots again \(hard reset\), pid")
        wait_log(log, b"rst:0xc (SW_CPU_RESET)")
        wait_log(log, b"main: reset cause 2")
    assert len(sim.pids) == 2 and not [p for p in sim.pids if alive(p)]


def test_commands_typed_on_the_simulators_terminal(tmp_path):
    master, slave = pty.openpty()  # the simulator's standard input is a terminal, as in `make sim`
    try:
        with Sim("--firmware", firmware(tmp_path), "--flash", tmp_path / "flash", stdin=slave) as sim:
            i = sim.wait("main: reset cause 1")
            os.write(master, b"watchdog\n")
            i = sim.wait("^ok: sim-0001: watchdog$", i)
            sim.wait("main: reset cause 3", i)
            os.write(master, b"frob\n")
            sim.wait("^error: unknown command 'frob'", i)
    finally:
        os.close(master)
        os.close(slave)
