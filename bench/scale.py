"""python -m bench.scale (make bench-scale): the reference server under a fleet of simulated devices.

Provisions N devices in a temporary data directory, starts `python -m host_tools.server serve` on
127.0.0.1, and runs a light load generator speaking protocol version 1 in a few worker processes
(raw asyncio connections: the RFC 6455 opening handshake with the device's token, masked frames,
one timer per process for all its devices): each device says hello, sends one reading a second
with increasing seq, keeps every reading until acked (sending the rest again after a reconnect),
answers every command with a result and reconnects if dropped. Meanwhile a driver sends
`relay.set` commands through the HTTP API and times each from the POST to `done`. Afterwards it
compares the readings in the server's SQLite with what each device sent, and reports ingest rate,
the server's CPU and memory per connection and the command round trip. Every process it starts is
stopped by its PID. Exit code 1 if a reading was lost or stored twice (or the run itself failed),
else 0; targets print PASS or MISSED.
"""

import argparse
import asyncio
import base64
import collections
import hashlib
import json
import os
import random
import resource
import secrets
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time

import aiohttp

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RELAYS = ("heater", "pump")
_TICK = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def now_ms():
    return int(time.time() * 1000)


def proc_cpu_s(pid):
    """User plus system CPU seconds of a process, from /proc/PID/stat."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime (fields 14, 15)


def proc_rss(pid):
    """Resident set size of a process in bytes, from /proc/PID/statm."""
    with open("/proc/%d/statm" % pid) as f:
        return int(f.read().split()[1]) * _PAGE


def raise_nofile(need):
    """Raise this process's open-file limit (children inherit it) to at least `need` if allowed."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = need if hard == resource.RLIM_INFINITY else min(max(need, soft), hard)
    if want > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def pct(values, p):
    """The p-th percentile (nearest rank) of a list, or None if empty."""
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, max(0, int(round(p / 100 * len(s) + 0.5)) - 1))]


# ---- the devices (worker processes)

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 section 1.3
_TEXT, _CLOSE, _PING, _PONG = 1, 8, 9, 10
_READING = '{"seq": %d, "ts": %d, "clock": "utc", "sensor": "air", "values": [["temperature", %.2f, "C"]]}'


def encode_frame(opcode, payload, mask):
    """One client frame (RFC 6455 section 5.2): FIN set, masked with the 4-byte `mask`."""
    n = len(payload)
    if n < 126:
        head = bytes((0x80 | opcode, 0x80 | n))
    elif n < 65536:
        head = bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 0x80 | 127)) + n.to_bytes(8, "big")
    if not n:
        return head + mask
    key = int.from_bytes((mask * (n // 4 + 1))[:n], "big")  # XOR all bytes at once
    return head + mask + (int.from_bytes(payload, "big") ^ key).to_bytes(n, "big")


def decode_frames(buf):
    """Split the server's frames (unmasked) off the front of `buf` (a bytearray, consumed):
    [(fin, opcode, payload)]. A frame not yet complete stays in buf."""
    out = []
    while len(buf) >= 2:
        b0, b1 = buf[0], buf[1]
        if b1 & 0x80:
            raise ValueError("the server masked a frame")
        n, at = b1 & 0x7F, 2
        if n == 126:
            if len(buf) < 4:
                break
            n, at = int.from_bytes(buf[2:4], "big"), 4
        elif n == 127:
            if len(buf) < 10:
                break
            n, at = int.from_bytes(buf[2:10], "big"), 10
        if len(buf) < at + n:
            break
        out.append((b0 & 0x80, b0 & 0x0F, bytes(buf[at : at + n])))
        del buf[: at + n]
    return out


class Device(asyncio.Protocol):
    """One simulated board on a raw asyncio connection (light enough for thousands per process):
    the RFC 6455 opening handshake with its token, masked frames (one random mask per connection),
    hello, its outbox of unacked readings, acks, results for commands, reconnecting with its
    outbox when dropped."""

    def __init__(self, dev, token, fleet):
        self.dev, self.token, self.fleet = dev, token, fleet
        self.seq = 1  # the next reading's seq
        self.outbox = collections.deque()  # (seq, JSON text) of readings not yet acked, in seq order
        self.acked = 0
        self.connects = 0
        self.commands = 0
        self.on = dict.fromkeys(RELAYS, False)
        self.transport = None
        self.ready = False  # welcomed on the current connection
        self.upto = 0  # highest seq sent on the current connection
        self.buf = bytearray()
        self.parts = []  # fragments of a message in progress
        self.key = None  # Sec-WebSocket-Key while the handshake runs
        self.mask = b""

    # -- the connection

    def connect(self):
        if self.fleet.stopping:
            return
        loop = asyncio.get_running_loop()
        task = loop.create_task(loop.create_connection(lambda: self, self.fleet.host, self.fleet.port))
        task.add_done_callback(self._connected)

    def _connected(self, task):
        if task.cancelled() or task.exception() is not None:
            self.retry()

    def retry(self):
        self.transport, self.ready = None, False
        if not self.fleet.stopping:
            asyncio.get_running_loop().call_later(0.5 + random.random(), self.connect)

    def connection_made(self, transport):
        self.transport, self.buf, self.parts = transport, bytearray(), []
        self.key = base64.b64encode(os.urandom(16))
        self.mask = os.urandom(4)
        transport.write(
            b"GET /device HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer %s\r\n"
            b"X-Device-Id: %s\r\n\r\n"
            % (self.fleet.host.encode(), self.fleet.port, self.key, self.token.encode(), self.dev.encode())
        )

    def connection_lost(self, exc):
        self.fleet.closed(self)
        self.retry()

    def data_received(self, data):
        self.buf += data
        try:
            if self.key is not None:
                end = self.buf.find(b"\r\n\r\n")
                if end < 0:
                    return
                head = bytes(self.buf[:end]).decode("latin-1").split("\r\n")
                del self.buf[: end + 4]
                self.upgraded(head)
            for fin, opcode, payload in decode_frames(self.buf):
                self.frame(fin, opcode, payload)
        except (ValueError, KeyError) as e:  # a broken reply: drop the connection and connect again
            self.fleet.errors.append("%s: %s" % (self.dev, e))
            self.transport.abort()

    def upgraded(self, head):
        """Check the server's answer to the opening handshake (RFC 6455 section 4.2.2), say hello."""
        if head[0].split(" ")[1] != "101":
            raise ValueError("handshake refused: %s" % head[0])
        fields = dict(line.split(":", 1) for line in head[1:])
        fields = {k.strip().lower(): v.strip() for k, v in fields.items()}
        want = base64.b64encode(hashlib.sha1(self.key + _GUID).digest()).decode()
        if fields.get("upgrade", "").lower() != "websocket" or fields.get("sec-websocket-accept") != want:
            raise ValueError("not a WebSocket upgrade: %r" % fields)
        self.key = None
        self.connects += 1
        relays = [{"name": k, "on": v} for k, v in self.on.items()]
        hello = {"type": "hello", "v": 1, "device": self.dev, "fw": "scale-bench", "seq": self.seq}
        self.send(json.dumps(dict(hello, relays=relays)))

    def frame(self, fin, opcode, payload):
        if opcode == _PING:
            self.write(_PONG, payload)
        elif opcode == _CLOSE:
            self.write(_CLOSE, payload[:2])  # echo the code (RFC 6455 section 5.5.1)
            self.transport.close()
        elif opcode == _TEXT or opcode == 0:
            self.parts.append(payload)
            if fin:
                text, self.parts = b"".join(self.parts), []
                self.handle(json.loads(text))

    def write(self, opcode, payload):
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(encode_frame(opcode, payload, self.mask))

    def send(self, text):
        self.write(_TEXT, text.encode())

    def close(self):
        if self.transport is not None and not self.transport.is_closing():
            self.write(_CLOSE, (1000).to_bytes(2, "big"))

    # -- the board's side of docs/protocol.md

    def reading(self):
        seq, ts, t = self.seq, now_ms(), 20 + random.random() * 5
        self.outbox.append((seq, _READING % (seq, ts, t)))
        self.seq += 1

    def flush(self):
        """Send what the outbox holds beyond `upto`, in order, 20 readings a message at most."""
        while self.ready and self.outbox and self.outbox[-1][0] > self.upto:
            first = self.upto + 1 - self.outbox[0][0]  # seqs in the outbox are consecutive
            batch = [self.outbox[i][1] for i in range(first, min(first + 20, len(self.outbox)))]
            self.upto += len(batch)
            self.send('{"type": "telemetry", "dropped": 0, "readings": [%s]}' % ", ".join(batch))

    def handle(self, msg):
        t = msg["type"]
        if t == "welcome":
            self.forget(msg["acked"])
            self.upto, self.ready = max(msg["acked"], self.outbox[0][0] - 1 if self.outbox else 0), True
            self.flush()  # catch up, as a board does
        elif t == "ack":
            self.forget(msg["seq"])
        elif t == "command":
            self.commands += 1
            p = msg.get("params") or {}
            if msg["method"] == "relay.set" and p.get("relay") in self.on:
                self.on[p["relay"]] = p["on"]
                out = {
                    "type": "result",
                    "id": msg["id"],
                    "ok": True,
                    "result": {"relay": p["relay"], "on": p["on"]},
                }
            else:
                err = {"code": "unknown_method", "message": "this load generator only does relay.set"}
                out = {"type": "result", "id": msg["id"], "ok": False, "error": err}
            self.send(json.dumps(out))

    def forget(self, seq):
        self.acked = max(self.acked, seq)
        while self.outbox and self.outbox[0][0] <= seq:
            self.outbox.popleft()


class Fleet:
    """The devices of one worker process and the one timer that makes their readings."""

    def __init__(self, host, port):
        self.host, self.port = host, port
        self.stopping = False
        self.open = set()  # when stopping: the devices whose connection is not closed yet
        self.errors = []
        self.all_closed = None

    def closed(self, device):
        self.open.discard(device)
        if self.stopping and not self.open and self.all_closed is not None:
            self.all_closed.set()


async def run_worker(spec):
    """Run a slice of the fleet: connect (spread over `ramp_s`), report until `stop_at`, drain."""
    random.seed(spec["seed"])
    host, port = spec["url"].split("//")[1].split("/")[0].rsplit(":", 1)
    fleet = Fleet(host, int(port))
    devices = [Device(d, t, fleet) for d, t in spec["devices"]]
    period, tick = spec["period_s"], 0.01
    slots = [[] for _ in range(max(1, round(period / tick)))]  # each device reports in its own slot
    for d in devices:
        slots[random.randrange(len(slots))].append(d)
    ramp = spec["ramp_s"] / max(1, len(devices))
    t0 = time.monotonic()
    for i, d in enumerate(devices):
        d.connect()
        await asyncio.sleep(max(0, t0 + (i + 1) * ramp - time.monotonic()))
    stop_at = time.monotonic() + spec["stop_at"] - time.time()
    nxt, slot = time.monotonic(), 0
    while nxt < stop_at:  # one timer for all: every tick, the devices of the next slot report
        for d in slots[slot]:
            d.reading()
            d.flush()
        slot = (slot + 1) % len(slots)
        nxt += period / len(slots)
        await asyncio.sleep(max(0, nxt - time.monotonic()))
    drain_until = time.monotonic() + spec["drain_s"]
    while time.monotonic() < drain_until and any(d.outbox for d in devices):
        await asyncio.sleep(0.1)
    fleet.stopping = True
    fleet.all_closed = asyncio.Event()
    fleet.open = {d for d in devices if d.transport is not None}
    for d in fleet.open:
        d.close()
    if fleet.open:
        try:
            await asyncio.wait_for(fleet.all_closed.wait(), 10)
        except TimeoutError:
            pass
    for d in devices:
        if d.transport is not None:
            d.transport.abort()
    return {
        "devices": {d.dev: {"sent": d.seq - 1, "acked": d.acked, "connects": d.connects} for d in devices},
        "commands": sum(d.commands for d in devices),
        "errors": fleet.errors[:10],
        "cpu_s": proc_cpu_s(os.getpid()),
    }


def worker_main():
    spec = json.load(sys.stdin)
    raise_nofile(len(spec["devices"]) + 256)
    result = asyncio.run(run_worker(spec))
    sys.stdout.write(json.dumps(result))


# ---- the driver (main process)


async def drive(base, token, devices, rate, until, at_end, poll_s=0.01, slowest=None):
    """POST random relay.set commands (`rate` a second) until `until` (then calls `at_end()`); each
    one's round trip from the POST to the first poll that sees `done`, and the server's own
    queued->done time."""
    headers = {"Authorization": "Bearer " + token}
    client, server, failed, slow = [], [], [], []
    started = time.perf_counter()

    async def one(session, dev):
        body = {
            "method": "relay.set",
            "params": {"relay": random.choice(RELAYS), "on": random.random() < 0.5},
        }
        body["timeout"] = 10
        t0 = time.perf_counter()
        async with session.post("%s/api/devices/%s/commands" % (base, dev), json=body, headers=headers) as r:
            cmd = (await r.json())["command"]
        while cmd["state"] in ("queued", "sent", "accepted") and time.perf_counter() - t0 < 15:
            await asyncio.sleep(poll_s)
            async with session.get("%s/api/commands/%s" % (base, cmd["id"]), headers=headers) as r:
                cmd = (await r.json())["command"]
        if cmd["state"] == "done":
            client.append((time.perf_counter() - t0) * 1000)
            at = cmd["at"]
            server.append((at["done"] - at["queued"], at.get("sent", at["queued"]) - at["queued"]))
            slow.append((round(client[-1]), round(t0 - started, 1), at["done"] - at["queued"]))
        else:
            failed.append(cmd["state"])

    async with aiohttp.ClientSession() as session:
        tasks, nxt = [], time.monotonic()
        while time.time() < until:
            tasks.append(asyncio.ensure_future(one(session, random.choice(devices))))
            nxt += 1 / rate
            await asyncio.sleep(max(0, nxt - time.monotonic()))
        at_end()
        await asyncio.gather(*tasks, return_exceptions=True)
    if slowest is not None:
        slowest.extend(sorted(slow, reverse=True)[:8])
    return client, server, failed


def start_server(data, token, port_limit):
    cmd = [sys.executable, "-m", "host_tools.server", "serve", "--host", "127.0.0.1", "--port", "0"]
    cmd += ["--data", data, "--operator-token=" + token, "--log-level", "warning", "--retention-days", "0"]
    cmd += ["--max-connections-per-address", str(port_limit)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if "listening on" not in line:
        proc.kill()
        raise RuntimeError("server did not start: %r %s" % (line, proc.stderr.read()))
    port = int(line.split("(boards:")[0].rsplit(":", 1)[1].strip())
    return proc, port


def stop(proc, timeout=30):
    """SIGTERM a process we started, by PID; kill it if it does not stop in time."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def provision(data, n):
    """Register n devices in the data directory; [(id, token)]."""
    sys.path.insert(0, ROOT)
    from host_tools.server.store import open_store

    store = open_store(data)
    try:
        out = []
        store.db.execute("BEGIN IMMEDIATE")  # one transaction: add_device commits (fsyncs) each
        for i in range(n):
            dev, tok = "scale-%05d" % i, secrets.token_urlsafe(24)
            store.db.execute(
                "INSERT INTO devices (id, token_hash, created) VALUES (?, ?, ?)",
                (dev, store.hash_token(tok), now_ms()),
            )
            out.append((dev, tok))
        store.db.execute("COMMIT")
        return out
    finally:
        store.close()


def check_db(db_path, sent):
    """Compare stored readings with what each device sent and had acked."""
    db = sqlite3.connect(db_path)
    try:
        rows = {}
        for dev, seq in db.execute("SELECT device, seq FROM readings"):
            rows.setdefault(dev, []).append(seq)
        received = db.execute("SELECT min(received), max(received), count(*) FROM readings").fetchone()
    finally:
        db.close()
    lost = dup = phantom = unacked = 0
    for dev, s in sent.items():
        got = rows.get(dev, [])
        have = set(got)
        dup += len(got) - len(have)
        lost += sum(1 for q in range(1, s["acked"] + 1) if q not in have)
        phantom += sum(1 for q in have if not 1 <= q <= s["sent"])
        unacked += s["sent"] - s["acked"]
    return {
        "stored": received[2],
        "lost": lost,
        "duplicated": dup,
        "phantom": phantom,
        "unacked_at_end": unacked,
    }


def run(devices=5000, duration=60.0, rate=10.0, workers=2, ramp=None, period=1.0, drain=15.0, seed=1):
    """The whole benchmark; returns a dict of figures (see `main` for the printout)."""
    ramp = devices / 100 if ramp is None else ramp  # 100 connections a second
    raise_nofile(devices + 1024)
    tmp = tempfile.mkdtemp(prefix="scale-bench-")
    procs = []
    try:
        t = time.time()
        fleet = provision(tmp, devices)
        provision_s = time.time() - t
        token = secrets.token_urlsafe(24)
        server, port = start_server(tmp, token, devices + 100)
        procs.append(server)
        time.sleep(0.5)
        rss0 = proc_rss(server.pid)
        base, url = "http://127.0.0.1:%d" % port, "ws://127.0.0.1:%d/device" % port
        start = time.time() + 1
        steady_at = start + ramp + 2 * period  # every device connected and reporting
        stop_at = steady_at + duration
        workers = max(1, min(workers, devices))
        for w in range(workers):
            spec = {
                "url": url,
                "devices": fleet[w::workers],
                "ramp_s": ramp,
                "period_s": period,
                "stop_at": stop_at,
                "drain_s": drain,
                "seed": seed * 1000 + w,
            }
            p = subprocess.Popen(
                [sys.executable, "-m", "bench.scale", "--worker"],
                cwd=ROOT,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            p.stdin.write(json.dumps(spec))
            p.stdin.close()
            procs.append(p)
        time.sleep(max(0, steady_at - time.time()))
        cpu0, t0 = proc_cpu_s(server.pid), time.time()
        online = _health(base)
        end = []  # the server's CPU time, the time and its RSS when the steady phase ends

        def sample():
            end.extend((proc_cpu_s(server.pid), time.time(), proc_rss(server.pid)))

        slowest = []
        client, server_ms, failed = asyncio.run(
            drive(base, token, [d for d, _ in fleet], rate, stop_at, sample, slowest=slowest)
        )
        cpu1, t1, rss1 = end
        results = []
        for p in procs[1:]:
            out = p.stdout.read()  # the worker ends on its own after stop_at + drain
            p.wait(60)
            if p.returncode:
                raise RuntimeError("a load worker failed with exit code %d" % p.returncode)
            results.append(json.loads(out))
        t = time.time()
        stop(server, 60)  # killed if it takes longer: what it committed is on disk all the same
        stop_s = time.time() - t
        sent = {}
        for r in results:
            sent.update(r["devices"])
        counts = check_db(os.path.join(tmp, "server.db"), sent)
        steady = _steady_count(os.path.join(tmp, "server.db"), int(t0 * 1000), int(t1 * 1000))
        return dict(
            counts,
            devices=devices,
            period_s=period,
            online_at_start=online,
            duration_s=round(t1 - t0, 1),
            provision_s=round(provision_s, 1),
            server_stop_s=round(stop_s, 1),
            server_exit=server.returncode,
            sent=sum(s["sent"] for s in sent.values()),
            reconnects=sum(max(0, s["connects"] - 1) for s in sent.values()),
            generator_errors=[e for r in results for e in r["errors"]][:5],  # replies it could not parse
            never_connected=sum(1 for s in sent.values() if not s["connects"]),
            ingest_per_s=round(steady / (t1 - t0), 1),
            server_cpu_pct=round(100 * (cpu1 - cpu0) / (t1 - t0), 1),
            server_rss_mib=round(rss1 / 2**20, 1),
            rss_per_connection_kib=round((rss1 - rss0) / devices / 1024, 1),
            workers=workers,
            worker_cpu_s=round(sum(r["cpu_s"] for r in results), 1),
            commands=len(client) + len(failed),
            commands_failed=len(failed),
            command_p50_ms=_r(pct(client, 50)),
            command_p99_ms=_r(pct(client, 99)),
            command_max_ms=_r(max(client) if client else None),
            command_server_p50_ms=_r(pct([a for a, _ in server_ms], 50)),
            command_server_p99_ms=_r(pct([a for a, _ in server_ms], 99)),
            command_sent_p99_ms=_r(pct([b for _, b in server_ms], 99)),
            command_slowest=slowest,  # (round trip ms, s after the steady phase began, server ms)
        )
    finally:
        for p in procs:
            stop(p)
        shutil.rmtree(tmp, ignore_errors=True)


def _r(x):
    return None if x is None else round(x, 1)


def _health(base):
    async def get():
        async with aiohttp.ClientSession() as s, s.get(base + "/api/health") as r:
            return (await r.json())["devices_online"]

    return asyncio.run(get())


def _steady_count(db_path, a, b):
    db = sqlite3.connect(db_path)
    try:
        return db.execute(
            "SELECT count(*) FROM readings WHERE received >= ? AND received < ?", (a, b)
        ).fetchone()[0]
    finally:
        db.close()


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__.splitlines()[0])
    ap.add_argument("--devices", type=int, default=5000, help="simulated devices (default %(default)s)")
    ap.add_argument(
        "--duration", type=float, default=60, help="steady seconds measured (default %(default)s)"
    )
    ap.add_argument("--rate", type=float, default=10, help="API commands a second (default %(default)s)")
    ap.add_argument("--workers", type=int, default=2, help="load generator processes (default %(default)s)")
    ap.add_argument("--period", type=float, default=1, help="seconds between a device's readings (default 1)")
    ap.add_argument("--ramp", type=float, help="seconds over which devices connect (default devices/100)")
    ap.add_argument("--json", help="also write the figures to this file")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.worker:
        return worker_main()
    if a.devices < 1 or a.duration <= 0 or a.rate <= 0 or a.workers < 1:
        ap.error("--devices, --duration, --rate and --workers must be positive")
    if a.period <= 0:
        ap.error("--period must be positive")
    print(
        "scale: %d devices, a reading every %g s, %g s steady, %g commands/s, %d workers"
        % (a.devices, a.period, a.duration, a.rate, a.workers)
    )
    f = run(a.devices, a.duration, a.rate, a.workers, a.ramp, a.period)
    for k, v in f.items():
        print("  %-24s %s" % (k, v))
    targets = [
        (
            "%d devices (target 5000), all online" % f["devices"],
            f["devices"] >= 5000 and f["online_at_start"] == f["devices"],
        ),
        ("zero lost", f["lost"] == 0),
        ("zero duplicated", f["duplicated"] == 0 and f["phantom"] == 0),
        (
            "command p99 <= 250 ms, none failed",
            not f["commands_failed"] and f["command_p99_ms"] is not None and f["command_p99_ms"] <= 250,
        ),
    ]
    for name, ok in targets:
        print("  %-40s %s" % (name, "PASS" if ok else "MISSED"))
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(f, fh, indent=1)
    return 1 if f["lost"] or f["duplicated"] or f["phantom"] else 0


if __name__ == "__main__":
    sys.exit(main())
