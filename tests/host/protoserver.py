"""A scripted server for the device application's end-to-end tests (docs/protocol.md, version 1).

It runs the `websockets` library's server in a thread of its own on 127.0.0.1, so a test drives it
with plain calls: it checks the token before the upgrade, answers hello with welcome, stores
readings de-duplicated by seq and acks them, and lets the test send commands (or any raw text),
wait for results, and stop and start the server on the same port. Everything the board sent is
kept in order in `messages`.
"""

import asyncio
import json
import threading
import time

from websockets.asyncio.server import serve
from websockets.datastructures import Headers
from websockets.http11 import Response


class ProtoServer:
    def __init__(self, devices, port=0, welcome_time=True, version=1):
        self.devices = dict(devices)  # id -> token
        self.port = port
        self.welcome_time = welcome_time
        self.version = version
        self.auto_ack = True
        self.readings = {}  # seq -> reading (stored once)
        self.received_seqs = []  # every seq as it arrived, duplicates included
        self.messages = []  # every JSON message from the board, in order
        self.hellos = []
        self.connections = 0
        self.refused = []  # HTTP statuses refused before the upgrade
        self.ws = None
        self.loop = None
        self.server = None
        self.lock = threading.Lock()
        self._ids = 0
        self.timed = None  # the _Timed run of timed_calls going on

    # ---- running

    def start(self):
        ready = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self.thread.start()
        if not ready.wait(10):
            raise RuntimeError("the test server did not start")
        return self

    def _run(self, ready):
        async def main():
            self.loop = asyncio.get_running_loop()
            self.stopping = asyncio.Event()
            async with serve(self._handler, "127.0.0.1", self.port, process_request=self._auth) as server:
                self.server = server
                self.port = server.sockets[0].getsockname()[1]
                ready.set()
                await self.stopping.wait()

        asyncio.run(main())

    def stop(self):
        """Stop the server: the board's connection drops (1001 going away)."""
        if self.loop is not None:
            self.loop.call_soon_threadsafe(self.stopping.set)
            self.thread.join(10)
            self.loop = None
            self.ws = None

    @property
    def url(self):
        return "ws://127.0.0.1:%d/device" % self.port

    def _auth(self, connection, request):
        token = request.headers.get("Authorization", "")
        dev = request.headers.get("X-Device-Id")
        if not token.startswith("Bearer ") or dev not in self.devices:
            self.refused.append(401)
            return Response(401, "Unauthorized", Headers([("Content-Length", "0")]), b"")
        if self.devices[dev] != token[7:]:
            self.refused.append(401)
            return Response(401, "Unauthorized", Headers([("Content-Length", "0")]), b"")
        return None

    async def _handler(self, ws):
        self.connections += 1
        self.ws = ws
        try:
            async for text in ws:
                m = json.loads(text)
                t = m.get("type")
                with self.lock:
                    self.messages.append(m)
                    if t == "result":  # the events a command caused travel in its result
                        self.messages.extend(dict(e, type="event") for e in m.get("events", ()))
                if t == "result":
                    timed = self.timed
                    if timed is not None and m.get("id") == timed.cid:
                        nxt = timed.got(m)  # the next command goes out from here: no task switch
                        if nxt is not None:
                            await ws.send(nxt)
                if t == "hello":
                    self.hellos.append(m)
                    if m.get("v") != self.version:
                        await ws.close(
                            4002, "protocol version %s not supported; this server speaks 1" % m.get("v")
                        )
                        return
                    acked = max(self.readings) if self.readings else 0
                    w = {"type": "welcome", "v": self.version, "acked": acked}
                    if self.welcome_time:
                        w["time"] = int(time.time() * 1000)
                    await ws.send(json.dumps(w))
                elif t == "telemetry":
                    top = 0
                    for r in m["readings"]:
                        self.received_seqs.append(r["seq"])
                        self.readings.setdefault(r["seq"], r)
                        top = max(top, r["seq"])
                    if self.auto_ack and top:
                        await ws.send(json.dumps({"type": "ack", "seq": top}))
        except Exception:
            pass
        finally:
            if self.ws is ws:
                self.ws = None
            if self.timed is not None:
                self.timed.done.set()  # its caller sees the results it got

    # ---- driving the board

    def online(self):
        return self.ws is not None

    def send_text(self, text):
        ws = self.ws
        if ws is None:
            raise AssertionError("no board is connected")
        asyncio.run_coroutine_threadsafe(ws.send(text), self.loop).result(5)

    def command(self, method, params=None, cid=None, deadline=None):
        """Send a command; returns its id."""
        if cid is None:
            self._ids += 1
            cid = "c-%d" % self._ids
        m = {"type": "command", "id": cid, "method": method}
        if params is not None:
            m["params"] = params
        if deadline is not None:
            m["deadline"] = deadline
        self.send_text(json.dumps(m))
        return cid

    def timed_calls(self, n, make):
        """n commands one after the other, each sent by the connection's handler as soon as it
        has read the previous result (no thread hop, task switch or timer inside the timing);
        make(i) -> (method, params). Returns (round trips in µs, results)."""
        timed = _Timed(self, n, make)

        async def first():
            self.timed = timed
            await self.ws.send(timed.next())

        asyncio.run_coroutine_threadsafe(first(), self.loop).result(5)
        try:
            got = -1
            while not timed.done.wait(30):  # each command gets 30 s
                if len(timed.results) == got:
                    raise AssertionError("no result for 30 s after %d of %d commands" % (got, n))
                got = len(timed.results)
        finally:
            self.timed = None
        if len(timed.results) < n:
            raise AssertionError("the board went away after %d of %d commands" % (len(timed.results), n))
        return timed.times, timed.results

    def of_type(self, t, **match):
        with self.lock:
            return [
                m
                for m in self.messages
                if m.get("type") == t and all(m.get(k) == v for k, v in match.items())
            ]

    def wait(self, check, timeout=20, what="the condition"):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            v = check()
            if v:
                return v
            time.sleep(0.05)
        raise AssertionError(
            "timed out after %s s waiting for %s; last messages: %s" % (timeout, what, self.messages[-8:])
        )

    def result(self, cid, timeout=20):
        return self.wait(
            lambda: (self.of_type("result", id=cid) or [None])[0], timeout, "the result of " + cid
        )

    def call(self, method, params=None, timeout=20, **kw):
        return self.result(self.command(method, params, **kw), timeout)

    def wait_online(self, timeout=30):
        n = len(self.hellos)
        self.wait(lambda: self.online() and len(self.hellos) >= max(n, 1), timeout, "the board's hello")
        return self.hellos[-1]


class _Timed:
    """The state of one timed_calls run: the command in flight, when it left, what came back."""

    def __init__(self, server, n, make):
        self.server = server
        self.n = n
        self.make = make
        self.cid = None
        self.t = None
        self.times = []
        self.results = []
        self.done = threading.Event()

    def next(self):
        """The next command's text; its round trip starts now."""
        self.t = time.perf_counter()
        s = self.server
        s._ids += 1
        self.cid = "t-%d" % s._ids
        method, params = self.make(len(self.results))
        return json.dumps({"type": "command", "id": self.cid, "method": method, "params": params})

    def got(self, m):
        """The result of the command in flight arrived: the next command's text, or None."""
        self.times.append((time.perf_counter() - self.t) * 1e6)
        self.results.append(m)
        if len(self.results) == self.n:
            self.cid = None
            self.done.set()
            return None
        return self.next()
