"""`make sim`: the server and provisioned simulated boards in one command (host_tools/simrun.py).

It prints the dashboard's URL with the operator token, the boards come online in the server's API
and store readings, Ctrl-C (SIGINT to the terminal's process group) or SIGTERM stops everything by
PID with nothing left running, and a second run reuses the boards' tokens and history.
"""

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest

from host_tools import simrun

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MICROPYTHON = os.path.join(os.path.dirname(sys.executable), "micropython")


class Run:
    """A command in a session of its own (as a terminal runs it), its output collected by a thread."""

    def __init__(self, cmd, env=None):
        self.proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
            env=dict(os.environ, **(env or {})),
        )
        self.lines = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self):
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, pattern, timeout=90):
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                m = rx.search(line)
                if m:
                    return m
            if self.proc.poll() is not None:
                time.sleep(0.3)
                if not any(rx.search(x) for x in self.lines):
                    break
            time.sleep(0.1)
        raise AssertionError("no line matching %r:\n%s" % (pattern, "\n".join(self.lines[-80:])))

    def pids(self):
        """Every PID the run printed: the server, the simulator, each board's process."""
        return {int(p) for line in self.lines for p in re.findall(r"\bpid (\d+)", line)}

    def kill(self, marker):
        """After a failure: SIGKILL whatever of the run is left, by PID."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        for pid in left_running(self, marker):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def api(base, token, path):
    req = urllib.request.Request(base + path, headers={"Authorization": "Bearer " + token})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def wait_online(base, token, ids, timeout=90):
    deadline = time.monotonic() + timeout
    devices = {}
    while time.monotonic() < deadline:
        devices = {d["id"]: d for d in api(base, token, "/api/devices")["devices"]}
        if all(devices.get(i, {}).get("state") == "online" and devices[i]["last_seq"] > 0 for i in ids):
            return devices
        time.sleep(0.3)
    raise AssertionError("not all of %s online with readings: %s" % (ids, devices))


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def left_running(run, marker):
    """PIDs of the run still alive, and any process whose command line names the run's folder."""
    left = {p for p in run.pids() if alive(p)}
    for name in os.listdir("/proc"):
        if name.isdigit() and int(name) != os.getpid():
            try:
                with open("/proc/%s/cmdline" % name, "rb") as f:
                    if marker.encode() in f.read() and alive(int(name)):
                        left.add(int(name))
            except OSError:
                pass
    return left


def stop_and_check(run, sig, group, marker):
    (os.killpg if group else os.kill)(run.proc.pid, sig)
    try:
        rc = run.proc.wait(40)
    except subprocess.TimeoutExpired:
        run.kill(marker)
        raise AssertionError("did not stop within 40 s:\n" + "\n".join(run.lines[-40:]))
    time.sleep(0.5)
    assert left_running(run, marker) == set(), "left running:\n" + "\n".join(run.lines[-40:])
    run.wait_for(r"^\S+ sim +\| stopped$", timeout=5)
    return rc


def test_make_sim_prints_the_url_brings_the_board_online_and_ctrl_c_stops_everything(tmp_path):
    simdir = str(tmp_path / "sim")
    run = Run(["make", "sim", "ARGS=--dir %s --port 0" % simdir])
    try:
        m = run.wait_for(r"dashboard: (http://127\.0\.0\.1:\d+)/#token=(\S+)")
        base, token = m.group(1), m.group(2)
        devices = wait_online(base, token, ["sim-0001"])
        assert devices["sim-0001"]["relays"] and devices["sim-0001"]["sensors"]
        with urllib.request.urlopen(base + "/", timeout=10) as r:  # the dashboard is served
            assert "esp32-ws" in r.read().decode()
        with pytest.raises(urllib.error.HTTPError) as e:  # and the API wants the token
            urllib.request.urlopen(base + "/api/devices", timeout=10)
        assert e.value.code == 401
        run.wait_for(r"server +\| sim-0001: stored seq \d+")  # the log shows what the server stores
        run.wait_for(r"sim-0001 +\| .*INFO link: online")  # and the board's console
        # Ctrl-C in a terminal signals the whole foreground process group: make and the orchestrator.
        stop_and_check(run, signal.SIGINT, True, simdir)
    finally:
        run.kill(simdir)

    # A second run reuses the board's token and history: nothing registered again.
    again = Run([sys.executable, "-m", "host_tools.simrun", "--dir", simdir, "--port", "0"])
    try:
        m = again.wait_for(r"dashboard: (http://127\.0\.0\.1:\d+)/#token=(\S+)")
        assert m.group(2) == token  # the same operator token
        before = devices["sim-0001"]["last_seq"]
        wait_online(m.group(1), token, ["sim-0001"])
        assert not [x for x in again.lines if "registered" in x or "new token" in x]
        after = api(m.group(1), token, "/api/devices/sim-0001")["device"]["last_seq"]
        assert after >= before
        rc = stop_and_check(again, signal.SIGTERM, False, simdir)
        assert rc == 0
    finally:
        again.kill(simdir)


@pytest.mark.skipif(not os.path.exists(MICROPYTHON), reason="the MicroPython interpreter is not installed")
def test_a_fleet_on_micropython_comes_online_and_sigterm_stops_every_board(tmp_path):
    simdir = str(tmp_path / "fleet")
    run = Run(["make", "sim", "DEVICES=2", "RUNTIME=micropython", "ARGS=--dir %s --port 0" % simdir])
    try:
        m = run.wait_for(r"dashboard: (http://127\.0\.0\.1:\d+)/#token=(\S+)")
        wait_online(m.group(1), m.group(2), ["sim-0001", "sim-0002"])
        run.wait_for(r"simulator\| sim-0002: started, pid \d+")
        # SIGTERM to make alone, as a service manager sends it: make hands it to the orchestrator.
        stop_and_check(run, signal.SIGTERM, False, simdir)
    finally:
        run.kill(simdir)


def _simrun(*args):
    cmd = [sys.executable, "-m", "host_tools.simrun"] + [str(a) for a in args]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_bad_options_and_worlds_get_a_clear_message_and_exit_code_2(tmp_path):
    r = _simrun("--devices", "0", "--dir", tmp_path)
    assert r.returncode == 2 and "--devices (DEVICES) must be at least 1, got 0" in r.stderr
    world = tmp_path / "w.json"
    world.write_text(json.dumps({"sensors": []}))
    r = _simrun("--world", world, "--dir", tmp_path / "s")
    assert r.returncode == 2 and "has no access_points" in r.stderr
    assert not os.path.exists(tmp_path / "s" / "server")  # refused before anything started
    world.write_text("{not json")
    missing = tmp_path / "missing.json"
    for path, said in ((world, "is not valid JSON"), (missing, "cannot be read: No such file")):
        r = _simrun("--world", path, "--dir", tmp_path / "s")
        assert r.returncode == 2 and "world file %s %s" % (path, said) in r.stderr, r.stderr


def test_the_boards_config_follows_the_world_and_passes_the_boards_own_check():
    for name in ("sim-world.json", "greenhouse.json"):
        spec = simrun._world(os.path.join(ROOT, "scenarios", name))
        t = simrun.build_template(spec, "ws://127.0.0.1:8080/device")
        assert simrun.check_template(t) == ([], [])
        assert t["wifi"] == [{"ssid": "greenhouse", "password": "tomatoes42"}]
        assert [(r["name"], r["pin"], r["active_low"]) for r in t["relays"]] == [
            ("heater", 26, True),
            ("pump", 27, True),
            ("grow light", 25, False),
            ("fan", 33, False),
        ]
        soil = [s for s in t["sensors"] if s["name"] == "soil"][0]
        assert soil["kind"] == "analog" and soil["calibration"] == [[2200, 0], [900, 100]]
    names = [s["name"] for s in t["sensors"]]  # greenhouse: every sensor has a driver
    assert names == ["air", "soil", "sun", "bench", "outside", "chip"]
