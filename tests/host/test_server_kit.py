"""What the server tests share (no tests here): a server on loopback in the test's own event loop,
an API client, and a fake board that speaks docs/protocol.md with the `websockets` client library.
"""

import asyncio
import json
import os

import aiohttp
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from host_tools.server.app import Server
from host_tools.server.store import open_store

OPERATOR = "operator-secret"
FAST = {"batch_ms": 2, "sweep_s": 0.05, "revoke_check_s": 0.2, "hello_timeout_s": 2}


def run(coro, timeout=60):
    """Run one test's coroutine on a fresh event loop, bounded in time."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


class Running:
    """A Server on 127.0.0.1 with a data directory under tmp; `async with Running(tmp) as s:`."""

    def __init__(self, tmp, static_dir=None, **settings):
        self.data = os.path.join(str(tmp), "data")
        self.settings = dict(FAST, **settings)
        self.static_dir = static_dir or os.path.join(str(tmp), "no-static")
        self.server = None

    async def __aenter__(self):
        self.store = open_store(self.data)
        self.server = Server(self.store, OPERATOR, static_dir=self.static_dir, **self.settings)
        self.port = await self.server.start("127.0.0.1", 0)
        self.db = open_store(self.data)  # a connection of its own, as the command line has
        self.http = aiohttp.ClientSession(headers={"Authorization": "Bearer " + OPERATOR})
        return self

    async def __aexit__(self, *exc):
        await self.http.close()
        await self.server.stop()
        self.store.close()
        self.db.close()

    async def restart(self):
        await self.server.stop()
        self.store.close()
        self.store = open_store(self.data)
        self.server = Server(self.store, OPERATOR, static_dir=self.static_dir, **self.settings)
        self.port = await self.server.start("127.0.0.1", self.port)

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    @property
    def device_url(self):
        return "ws://127.0.0.1:%d/device" % self.port

    def add(self, dev):
        return self.db.add_device(dev)

    async def api(self, method, path, json_body=None, headers=None, session=None):
        """(status, JSON body) of one API call, with the operator token unless a session is given."""
        s = session or self.http
        async with s.request(method, self.url + path, json=json_body, headers=headers) as r:
            return r.status, await r.json(content_type=None)

    async def live(self, query=""):
        """A /api/live WebSocket (aiohttp client) and its first message (the devices snapshot)."""
        sep = "&" if query else ""
        ws = await self.http.ws_connect("%s/api/live?token=%s%s%s" % (self.url, OPERATOR, sep, query))
        first = await ws.receive_json(timeout=5)
        assert first["type"] == "devices"
        return ws, first

    async def wait_for(self, check, timeout=5, what="the condition"):
        """Poll an async or plain check until it returns something true."""
        end = asyncio.get_running_loop().time() + timeout
        while True:
            v = check()
            if asyncio.iscoroutine(v):
                v = await v
            if v:
                return v
            if asyncio.get_running_loop().time() > end:
                raise AssertionError("timed out waiting for %s" % what)
            await asyncio.sleep(0.02)

    async def command_state(self, cid):
        return (await self.api("GET", "/api/commands/" + cid))[1]["command"]


async def next_live(ws, kind, check=lambda m: True, timeout=5):
    """The next /api/live message of a type that passes check."""
    end = asyncio.get_running_loop().time() + timeout
    while True:
        m = await ws.receive_json(timeout=max(0.01, end - asyncio.get_running_loop().time()))
        if m["type"] == kind and check(m):
            return m


async def refused(url, headers):
    """The HTTP status, headers and JSON error of a refused upgrade."""
    try:
        ws = await connect(url, additional_headers=headers, proxy=None)
    except InvalidStatus as e:
        return e.response.status_code, e.response.headers, json.loads(e.response.body)
    await ws.close()
    raise AssertionError("the upgrade was accepted")


class FakeBoard:
    """A board as docs/protocol.md describes it: an outbox of readings until acked, command ids
    answered once (a repeated id gets the remembered result), everything the server sent kept."""

    def __init__(self, device, token, seq=1):
        self.device = device
        self.token = token
        self.seq = seq  # the next reading's number
        self.outbox = []  # readings not yet acked, oldest first
        self.acked = 0
        self.inbox = []  # every message from the server, in order
        self.results = {}  # command id -> result message (what the board remembers)
        self.executed = []  # command ids executed (each at most once)
        self.ws = None
        self.welcome = None

    async def connect(self, url, headers=None, **hello):
        """Open, say hello, return the welcome (forgetting readings it acks)."""
        h = {"Authorization": "Bearer " + self.token, "X-Device-Id": self.device}
        h.update(headers or {})
        self.ws = await connect(url, additional_headers=h, proxy=None, open_timeout=5, close_timeout=2)
        msg = {"type": "hello", "v": 1, "device": self.device, "fw": "test", "seq": self.seq}
        msg["relays"] = [{"name": "heater", "on": False}, {"name": "pump", "on": False}]
        msg["sensors"] = [{"name": "air", "kind": "dht22", "quantities": [["temperature", "C"]]}]
        msg.update(hello)
        await self.send(msg)
        self.welcome = await self.recv("welcome")
        self.forget(self.welcome["acked"])
        return self.welcome

    async def send(self, msg):
        await self.ws.send(msg if isinstance(msg, str | bytes) else json.dumps(msg))

    async def recv(self, kind=None, timeout=5):
        """The next server message (of that type: others are kept in inbox and skipped)."""
        while True:
            m = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
            self.inbox.append(m)
            if m["type"] == "ack":
                self.forget(m["seq"])
            if kind is None or m["type"] == kind:
                return m

    def forget(self, seq):
        self.acked = max(self.acked, seq)
        self.outbox = [r for r in self.outbox if r["seq"] > seq]

    def reading(self, value=21.0, sensor="air"):
        r = {"seq": self.seq, "ts": 1764016000000 + self.seq, "clock": "utc", "sensor": sensor}
        r["values"] = [["temperature", value, "C"]]
        self.seq += 1
        self.outbox.append(r)
        return r

    async def send_outbox(self, wait_ack=True, dropped=0):
        """Send every unacked reading (20 per batch); wait for the ack of the last batch."""
        batches = [self.outbox[i : i + 20] for i in range(0, len(self.outbox), 20)]
        for b in batches:
            await self.send({"type": "telemetry", "dropped": dropped, "readings": b})
            dropped = 0
        if wait_ack and batches:
            top = batches[-1][-1]["seq"]
            while self.acked < top:
                await self.recv("ack")

    async def answer(self, cmd, ok=True, result=None, error=None):
        """Accept and answer a command the way a board does: once per id, remembered."""
        await self.send({"type": "accepted", "id": cmd["id"]})
        if cmd["id"] not in self.results:
            self.executed.append(cmd["id"])
            msg = {"type": "result", "id": cmd["id"], "ok": ok}
            if ok:
                msg["result"] = result if result is not None else {"done": cmd["method"]}
            else:
                msg["error"] = error or {"code": "unknown_relay", "message": "no relay 'boiler'"}
            self.results[cmd["id"]] = msg
        await self.send(self.results[cmd["id"]])

    async def closed(self, timeout=5):
        """Wait until the server closes; (code, reason)."""
        try:
            while True:
                m = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
                self.inbox.append(m)
        except ConnectionClosed as e:
            return (e.rcvd.code, e.rcvd.reason) if e.rcvd else (1006, "")

    async def close(self):
        if self.ws is not None:
            await self.ws.close()
