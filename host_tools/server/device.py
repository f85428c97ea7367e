"""The device endpoint `/device`: authentication before the upgrade, then one board's side of
docs/protocol.md (hello/welcome, telemetry and acks, commands out, accepted/result and events in).

A message that breaks the protocol closes only that device's connection (1008, the reason says
what was wrong); everything else the server does goes on.
"""

import asyncio
import json
import logging
import math

from aiohttp import WSMsgType, web

from host_tools.protocol import MAX_INT, VERSION, ProtocolError, check_message, check_reading

from .auth import bearer
from .store import OPEN, now_ms

log = logging.getLogger("server")

# Close codes the server uses with boards (docs/protocol.md, "Close codes").
CLOSE_NORMAL = 1000  # the server is shutting down
CLOSE_SILENT = 1001  # nothing heard for 4 leases: the link is presumed dead
CLOSE_POLICY = 1008  # a message that breaks the protocol, or a revoked token
CLOSE_TOO_BIG = 1009
CLOSE_ERROR = 1011  # the server could not store what the board sent (it keeps it and sends it again)
CLOSE_VERSION = 4002
CLOSE_REPLACED = 4003
MAX_UNCOMMITTED = 8  # telemetry messages of one connection waiting for the writer before it waits too
CLOSE_CODES = (
    CLOSE_NORMAL,
    CLOSE_SILENT,
    CLOSE_POLICY,
    CLOSE_TOO_BIG,
    CLOSE_ERROR,
    CLOSE_VERSION,
    CLOSE_REPLACED,
)


class Violation(Exception):
    """The board broke the protocol: close with `code` and this text as the reason."""

    def __init__(self, message, code=CLOSE_POLICY):
        super().__init__(message)
        self.code = code


class Link:
    """One device's live connection and what the server knows about it while it lasts."""

    def __init__(self, server, ws, device, token_hash, address, transport=None):
        self.server = server
        self.ws = ws
        self.transport = transport  # the connection's, for acks (see committed)
        self.uncommitted = 0  # telemetry messages queued for the writer
        self.device = device
        self.token_hash = token_hash
        self.address = address
        self.connected = self.last_seen = self.last_sent = now_ms()
        self.row = None  # the device's database row, from the hello on
        self.info = {}  # what the hello said, relays kept up to date by results and events
        self.ready = False  # welcome sent: commands may go out
        self.sent = set()  # command ids sent on this connection
        self.reported = None  # the state last published: online or stale
        self.closed_by = None  # (code, reason) when the server closed it
        self.pinging = None

    def committed(self, readings, dropped, new):
        """The writer committed a telemetry message of this connection: ack it, publish what was new."""
        self.uncommitted -= 1
        row = self.row
        if readings:
            top = max(r["seq"] for r in readings)
            if top > row["last_seq"]:
                row["last_seq"] = top
            if self.closed_by is None and not self.transport.is_closing():
                # Written here, at once, rather than by the connection's task: a text frame of
                # fewer than 126 bytes is FIN+opcode, the length and the text (RFC 6455 5.2).
                text = b'{"type": "ack", "seq": %d}' % top  # what json.dumps gives
                self.transport.write(b"\x81%c%s" % (len(text), text))
                self.last_sent = now_ms()
        if dropped:
            row["dropped"] += dropped
        if new:
            self.server.publish({"type": "readings", "device": self.device, "readings": new}, self.device)
        if dropped:
            self.server.publish_device(self)

    def state(self, now):
        return "online" if now - self.last_seen <= 2 * self.server.lease_ms else "stale"

    async def send(self, msg):
        await self.send_text(json.dumps(msg))

    async def send_text(self, text):
        await self.ws.send_str(text)
        self.last_sent = now_ms()

    async def close(self, code, reason):
        if self.closed_by is not None:
            return  # already closing
        self.closed_by = (code, reason)
        log.info("device %s: closing (%d %s)", self.device, code, reason)
        await self.ws.close(code=code, message=_reason(reason))

    async def ping(self):
        try:
            await asyncio.wait_for(self.ws.ping(b"lease"), 5)
            self.last_sent = now_ms()
        except (TimeoutError, ConnectionError, RuntimeError):
            pass

    async def send_command(self, cmd, marked=None):
        """Send a command unless this connection already carried it; returns it as now stored.

        It is marked sent (one more attempt) before it leaves, so that its `accepted` cannot
        overtake the mark; if the connection fails meanwhile, the next one sends it again.
        `marked`: the command as mark_sent returned it, when the caller marked it already.
        """
        cid = cmd["id"]
        if cid in self.sent:
            return None
        self.sent.add(cid)
        c = marked or await self.server.db(self.server.store.mark_sent, cid, now_ms())
        if c is None or c["state"] not in OPEN:
            return c  # expired (or answered) in the meantime
        log.info("device %s: command %s %s sent (attempt %d)", self.device, cid, cmd["method"], c["attempts"])
        self.server.publish_command(c)
        msg = {"type": "command", "id": cid, "method": cmd["method"], "params": cmd["params"]}
        msg["deadline"] = cmd["deadline"]
        try:
            await self.send(msg)
        except (ConnectionError, RuntimeError):
            self.sent.discard(cid)
        return c


async def endpoint(server, request):
    """GET /device: check the token before the upgrade, then serve the connection."""
    addr = request.remote or "?"
    limits = server.limits
    wait = limits.retry_after(addr)
    if wait:
        return _refuse(429, "too many failed authentications from %s; retry in %d s" % (addr, wait), wait)
    token = bearer(request)
    if token is None:
        limits.failed(addr)
        return _refuse(401, "missing device token: send 'Authorization: Bearer <token>'")
    found = await server.read("device_by_token", token)
    if found is None:
        limits.failed(addr)
        return _refuse(401, "unknown or revoked device token")
    device, token_hash = found
    claimed = request.headers.get("X-Device-Id")
    if claimed is not None and claimed != device:
        limits.failed(addr)
        return _refuse(403, "X-Device-Id %r does not own this token" % claimed)
    ws = web.WebSocketResponse(max_msg_size=server.max_message_size, autoping=False, compress=False)
    if not ws.can_prepare(request).ok:
        return _refuse(400, "this is the device WebSocket endpoint: a WebSocket upgrade request is needed")
    if not limits.connect(addr):
        return _refuse(429, "too many connections from %s" % addr, 10)
    try:
        await ws.prepare(request)
        link = Link(server, ws, device, token_hash, addr, request.transport)
        log.info("device %s: connected from %s", device, addr)
        await _serve(server, link)
    finally:
        limits.release(addr)
    return ws


async def _serve(server, link):
    ws = link.ws
    try:
        try:
            while True:
                timeout = None if link.ready else server.hello_timeout_s
                try:
                    msg = await ws.receive(timeout=timeout)
                except TimeoutError:
                    raise Violation("no hello within %g s of the upgrade" % server.hello_timeout_s)
                if msg.type is WSMsgType.TEXT:  # the common case first
                    link.last_seen = now_ms()
                    await _message(server, link, msg.data)
                    continue
                if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                    if msg.type is WSMsgType.ERROR:
                        log.info("device %s: %s", link.device, msg.data)
                        await _event(
                            server, link.device, "error", {"code": "closed", "message": str(msg.data)}
                        )
                    break
                link.last_seen = now_ms()
                if msg.type is WSMsgType.PING:
                    await ws.pong(msg.data)
                elif msg.type is WSMsgType.BINARY:
                    raise Violation(
                        "binary frames are not used in protocol version 1: send JSON in text frames"
                    )
        except Violation as v:
            log.warning("device %s: %s", link.device, v)
            if v.code == CLOSE_POLICY:
                await _event(server, link.device, "error", {"code": "protocol", "message": str(v)})
            await link.close(v.code, str(v))
        except (ConnectionError, RuntimeError) as e:  # the connection went away while we wrote to it
            log.info("device %s: %s", link.device, e)
        except Exception:  # a fault of the server (its database...): this board retries later
            log.exception("device %s: internal error", link.device)
            await link.close(CLOSE_ERROR, "internal server error; try again later")
    finally:
        await server.link_closed(link)
        if not ws.closed:
            await ws.close()


async def _message(server, link, text):
    try:
        msg = json.loads(text)
    except ValueError as e:
        raise Violation("not JSON (%s at character %d)" % (e.msg, e.pos))
    if link.ready and plain_telemetry(msg):  # the common case, checked in one pass
        return await _store(server, link, msg["readings"], msg.get("dropped", 0), ())
    if type(msg) is dict and msg.get("type") == "hello" and msg.get("v") != VERSION:
        raise Violation(
            "protocol version %s not supported; this server speaks %d" % (json.dumps(msg.get("v")), VERSION),
            CLOSE_VERSION,
        )
    try:
        check_message(msg, "board", readings=False)
    except ProtocolError as e:
        raise Violation(str(e))
    t = msg["type"]
    if not link.ready:
        if t != "hello":
            raise Violation("the first message must be hello, got %s" % t)
        return await _hello(server, link, msg)
    if t == "hello":
        raise Violation("hello was already received on this connection")
    if t == "telemetry":
        return await _telemetry(server, link, msg)
    if t == "event":
        return await _device_event(server, link, msg)
    if t == "result":
        for ev in msg.get("events") or ():  # the relay changes the command caused, in its result
            await _device_event(server, link, ev)
    if t == "accepted":
        state, result, error = "accepted", None, None
    else:
        error = msg.get("error")
        state = "done" if msg["ok"] else "expired" if error["code"] == "expired" else "failed"
        result = msg.get("result")
    cmd, c = None, None
    if msg["id"] is not None:
        args = (msg["id"], link.device, state, now_ms(), result, error)
        cmd, c = await server.db(_answer, server.store, *args)
    if cmd is None:
        if msg["id"] is None:
            what = "could not read a message of the server: %s" % msg["error"]["message"]
        else:
            what = "%s for unknown command %r" % (t, msg["id"])
        log.warning("device %s: %s", link.device, what)
        return await _event(server, link.device, "error", {"code": "unknown_command", "message": what})
    if c is not None:
        log.info("device %s: command %s %s", link.device, c["id"], c["state"])
        server.publish_command(c)
    if t == "result" and msg["ok"]:
        await _relays(server, link, msg.get("result"))


def _answer(store, cid, device, state, now, result, error):
    """(the command, the command moved to `state` or None if it could not move); (None, None) if
    this device has no such command. One trip to the database thread."""
    cmd = store.command(cid)
    if cmd is None or cmd["device"] != device:
        return None, None
    return cmd, store.move(cid, state, now, result, error)


async def _hello(server, link, msg):
    device = link.device
    if msg["device"] != device:
        raise Violation(
            "hello.device %r is not the device this token belongs to (%r)" % (msg["device"], device)
        )
    link.info = {k: v for k, v in msg.items() if k not in ("type", "v", "device")}
    link.info.setdefault("relays", [])
    link.info.setdefault("sensors", [])
    now = now_ms()
    old = server.links.get(device)
    server.links[device] = link
    if old is not None:
        server.spawn(old.close(CLOSE_REPLACED, "replaced by a newer connection of the same device"))
    await server.db(server.store.set_online, device, link.info, link.address, now)
    link.row = await server.db(server.store.device, device)
    if link.row is None:
        raise Violation("device %r was removed" % device)
    acked = link.row["last_seq"]
    await link.send(
        {"type": "welcome", "v": VERSION, "time": now_ms(), "acked": acked, "lease": server.lease_ms}
    )
    link.ready = True
    link.reported = "online"
    log.info(
        "device %s: online (fw %s, next seq %d, stored up to %d)", device, msg.get("fw"), msg["seq"], acked
    )
    await _event(server, device, "link", {"state": "online", "address": link.address})
    if msg["seq"] <= acked:
        await _event(
            server,
            device,
            "error",
            {
                "code": "seq_behind",
                "message": "hello.seq %d is not above the highest stored seq %d: new readings with"
                " those numbers would be taken for duplicates (was the board's flash erased? remove"
                " and add the device to start over)" % (msg["seq"], acked),
            },
        )
    server.publish_device(link)
    for cmd in await server.db(server.store.open_commands, device):
        if cmd["deadline"] >= now_ms():
            await link.send_command(cmd)


async def _telemetry(server, link, msg):
    readings, bad = [], []
    for i, r in enumerate(msg["readings"]):
        try:
            check_reading(r, "telemetry.readings[%d]" % i)
            keep = {k: r[k] for k in ("seq", "ts", "clock", "sensor", "values", "error") if k in r}
        except ProtocolError as e:  # stored as a failed reading: one bad reading must not block the outbox
            bad.append(str(e))
            ts, clock = r.get("ts"), r.get("clock")
            if type(ts) is not int or ts < 0 or clock not in ("utc", "uptime"):
                ts, clock = now_ms(), "utc"
            sensor = r["sensor"] if type(r.get("sensor")) is str and 0 < len(r["sensor"]) <= 64 else "?"
            keep = {"seq": r["seq"], "ts": ts, "clock": clock, "sensor": sensor}
            keep["error"] = {"code": "bad_message", "message": str(e)}
        readings.append(keep)
    await _store(server, link, readings, msg.get("dropped", 0), bad)


async def _store(server, link, readings, dropped, bad):
    """Queue checked readings for the writer, which acks them once committed (`Link.committed`).

    The connection goes on meanwhile (a command's result need not wait behind a commit), up to
    `MAX_UNCOMMITTED` messages; readings with faults wait for the commit before their events."""
    done = server.add_telemetry(link, readings, dropped)
    link.uncommitted += 1
    if bad or link.uncommitted > MAX_UNCOMMITTED:
        if not await done:
            return  # not stored: the writer closes the connection (1011)
    for message in bad:
        await _event(server, link.device, "error", {"code": "bad_message", "message": message})


_READING_KEYS = frozenset(("seq", "ts", "clock", "sensor", "values"))


def plain_telemetry(msg):
    """True if msg is a telemetry message that check_message and check_reading would both accept
    and whose readings have exactly the fields a good reading has (values, no error): the server
    stores those as they are. False sends the message the long way, which finds any fault."""
    if type(msg) is not dict or msg.get("type") != "telemetry":
        return False
    readings = msg.get("readings")
    if type(readings) is not list or len(readings) > 100:
        return False
    if "dropped" in msg:
        d = msg["dropped"]
        if type(d) is not int or not 0 <= d <= MAX_INT:
            return False
    for r in readings:
        if type(r) is not dict or r.keys() != _READING_KEYS:
            return False
        seq, ts, clock, sensor, values = r["seq"], r["ts"], r["clock"], r["sensor"], r["values"]
        if type(seq) is not int or not 1 <= seq <= MAX_INT or type(ts) is not int or not 0 <= ts <= MAX_INT:
            return False
        if type(clock) is not str or clock not in ("utc", "uptime"):
            return False
        if type(sensor) is not str or not 1 <= len(sensor) <= 64:
            return False
        if type(values) is not list or not 1 <= len(values) <= 32:
            return False
        for v in values:
            if type(v) is not list or len(v) != 3:
                return False
            name, x, unit = v
            if type(name) is not str or not 1 <= len(name) <= 64 or type(unit) is not str or len(unit) > 16:
                return False
            if type(x) is float:
                if not math.isfinite(x):
                    return False
            elif type(x) is not int or not -MAX_INT <= x <= MAX_INT:
                return False
    return True


async def _device_event(server, link, msg):
    data = {k: v for k, v in msg.items() if k not in ("type", "kind")}
    await _event(server, link.device, msg["kind"], data)
    if msg["kind"] == "relay":
        await _relays(server, link, {"relay": msg["relay"], "on": msg["on"]})


async def _relays(server, link, result):
    """Keep the device's relay states from a result or an event ({"relay", "on"} or {"relays": [...]})."""
    if type(result) is not dict:
        return
    changes = result.get("relays") if type(result.get("relays")) is list else [result]
    relays = link.info["relays"]
    changed = False
    for ch in changes:
        if type(ch) is not dict or type(ch.get("on")) is not bool:
            continue
        name = ch.get("relay", ch.get("name"))
        for r in relays:
            if r.get("name") == name and r.get("on") is not ch["on"]:
                r["on"] = ch["on"]
                changed = True
    if changed:
        await server.db(server.store.set_info, link.device, link.info)
        server.publish_device(link)


async def _event(server, device, kind, data):
    ev = await server.db(server.store.add_event, device, kind, data, now_ms())
    server.publish({"type": "event", "event": ev}, device)


def _refuse(status, message, retry_after=None):
    headers = {"Retry-After": str(int(retry_after))} if retry_after else {}
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    code = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 429: "too_many"}[status]
    return web.json_response({"error": {"code": code, "message": message}}, status=status, headers=headers)


def _reason(text):
    """A close reason fits in 123 bytes of UTF-8."""
    b = text.encode()
    return b if len(b) <= 123 else b[:120].decode(errors="ignore").encode() + b"..."
