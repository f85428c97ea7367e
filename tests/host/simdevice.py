"""A simulated board running the real firmware, for end-to-end tests: start, watch the console, cut power.

SimDevice(tmp_path, runtime, config, world) writes the config and the world spec, starts
`python -m simulator` in its own process group and collects the console lines in a thread;
wait_for(pattern) waits (bounded) for a line; power_cut() kills the whole group at once
(SIGKILL, nothing flushed, as when the supply goes); start() boots it again from the same flash.
"""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SIM_BOARD = os.path.join(ROOT, "boards", "sim.json")
SSID, PASSWORD = "testnet", "testpass1"


def world(sensors=(), loads=(), seed=3, extra=None):
    spec = {
        "seed": seed,
        "world": {
            "sensors": list(sensors),
            "loads": list(loads),
            "access_points": [{"ssid": SSID, "password": PASSWORD, "rssi": -55, "channel": 6}],
            "wifi_connect_ms": 50,
        },
    }
    if extra:
        spec["world"].update(extra)
    return spec


def config(device_id, token, url, relays=(), sensors=(), **more):
    cfg = {
        "device_id": device_id,
        "token": token,
        "server": url,
        "wifi": [{"ssid": SSID, "password": PASSWORD}],
        "relays": list(relays),
        "sensors": list(sensors),
        "intervals": {"telemetry": 0.5, "lease": 5, "link_loss_grace": 1, "keepalive": 2, "reconnect_max": 3},
        "log_level": "info",
    }
    cfg.update(more)
    return cfg


class SimDevice:
    def __init__(self, tmp_path, runtime, cfg, spec, board=SIM_BOARD, name="board"):
        self.dir = tmp_path / name
        self.dir.mkdir(exist_ok=True)
        self.flash = self.dir / "flash"
        self.runtime = runtime
        self.board = board
        self.cfg_path = self.dir / "config.json"
        self.world_path = self.dir / "world.json"
        self.cfg_path.write_text(json.dumps(cfg))
        self.world_path.write_text(json.dumps(spec))
        self.lines = []
        self.proc = None
        self.boots = 0

    def start(self, with_config=True):
        cmd = [sys.executable, "-m", "simulator", "--runtime", self.runtime, "--flash", str(self.flash)]
        if os.environ.get("SIM_TEST_FIRMWARE"):  # another firmware folder (default firmware/)
            cmd += ["--firmware", os.environ["SIM_TEST_FIRMWARE"]]
        if os.environ.get("SIM_TEST_HEAP"):
            cmd += ["--heap", os.environ["SIM_TEST_HEAP"]]
        if os.environ.get("SIM_TEST_ROMFS"):  # MicroPython: the firmware runs from a ROMFS image
            cmd += ["--romfs"]
        cmd += ["--board", self.board, "--id", json.loads(self.cfg_path.read_text())["device_id"]]
        cmd += ["--world", str(self.world_path)]
        if with_config:
            cmd += ["--config", str(self.cfg_path)]
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.boots += 1
        threading.Thread(target=self._pump, args=(self.proc,), daemon=True).start()
        return self

    def _pump(self, proc):
        for line in proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def output(self):
        return "\n".join(self.lines)

    def wait_for(self, pattern, timeout=30, after=0):
        """The first console line (from index `after`) matching the regex; AssertionError on timeout."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for i in range(after, len(self.lines)):
                if rx.search(self.lines[i]):
                    return self.lines[i]
            if self.proc.poll() is not None and not any(rx.search(x) for x in self.lines[after:]):
                time.sleep(0.2)  # let the pump thread drain
                if not any(rx.search(x) for x in self.lines[after:]):
                    break
            time.sleep(0.05)
        raise AssertionError(
            "no console line matching %r within %s s:\n%s" % (pattern, timeout, self.output()[-4000:])
        )

    def mark(self):
        return len(self.lines)

    def ctl(self, command, timeout=10):
        """Send one fault command to the simulator's control port (simulator/ctl.py); its answer."""
        port = int(self.wait_for(r"^ctl: 127\.0\.0\.1:\d+", timeout=20).rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall((command + "\n").encode())
            s.shutdown(socket.SHUT_WR)
            answer = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                answer += chunk
        text = answer.decode()
        if not text.startswith("ok"):
            raise AssertionError("ctl %r: %s" % (command, text))
        return text

    def power_cut(self):
        """Kill the simulator and the board process at once: nothing is flushed or closed."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(10)
            except (subprocess.TimeoutExpired, ProcessLookupError):
                self.power_cut()
