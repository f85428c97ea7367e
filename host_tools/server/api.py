"""The operator's HTTP JSON API under /api and the browser WebSocket /api/live (docs/server.md).

Every /api path but /api/health and /api/login needs the operator token: `Authorization: Bearer
<token>`, or the login cookie set by POST /api/login, or (for /api/live only, where browsers cannot
set headers) `?token=<token>`. Errors are JSON: {"error": {"code", "message"}}.
"""

import asyncio
import json
import logging

from aiohttp import web

from host_tools.protocol import VERSION, ProtocolError

from .auth import bearer, same
from .store import StoreError, check_device_id

log = logging.getLogger("server")
COOKIE = "esp32ws_session"
_OPEN = ("/api/health", "/api/login")
_STATUS = {"bad_id": 400, "bad_request": 400, "exists": 409, "not_found": 404}


def error(status, code, message, headers=None):
    return web.json_response({"error": {"code": code, "message": message}}, status=status, headers=headers)


def guard(server):
    """Middleware: operator authentication and the failure limit on /api, JSON errors there."""

    @web.middleware
    async def middleware(request, handler):
        path = request.path
        if not path.startswith("/api/"):
            return await handler(request)
        if path not in _OPEN:
            addr = request.remote or "?"
            wait = server.limits.retry_after(addr)
            if wait:
                msg = "too many failed authentications from %s; retry in %d s" % (addr, wait)
                return error(429, "too_many", msg, {"Retry-After": str(wait)})
            if not operator_ok(server, request, query=path == "/api/live"):
                server.limits.failed(addr)
                return error(
                    401,
                    "unauthorized",
                    "operator token needed: 'Authorization: Bearer <token>', or log in: POST /api/login",
                    {"WWW-Authenticate": "Bearer"},
                )
        try:
            return await handler(request)
        except ProtocolError as e:
            return error(400, "bad_request", str(e))
        except StoreError as e:
            return error(_STATUS[e.code], e.code, e.message)
        except web.HTTPException as e:
            if e.status < 400:
                raise
            return error(e.status, "http_%d" % e.status, e.reason)

    return middleware


def operator_ok(server, request, query=False):
    token = bearer(request)
    if token is None and query:
        token = request.query.get("token")
    if token is not None:
        return same(token, server.operator_token)
    return same(request.cookies.get(COOKIE), server.session)


def routes(server, app):
    api = Api(server)
    r = app.router
    r.add_get("/api/health", api.health)
    r.add_post("/api/login", api.login)
    r.add_post("/api/logout", api.logout)
    r.add_get("/api/devices", api.devices)
    r.add_post("/api/devices", api.add_device)
    r.add_get("/api/devices/{id}", api.device)
    r.add_delete("/api/devices/{id}", api.remove_device)
    r.add_post("/api/devices/{id}/token", api.rotate_token)
    r.add_get("/api/devices/{id}/readings", api.readings)
    r.add_get("/api/devices/{id}/commands", api.commands)
    r.add_post("/api/devices/{id}/commands", api.send_command)
    r.add_get("/api/devices/{id}/events", api.events)
    r.add_get("/api/commands/{id}", api.command)
    r.add_get("/api/live", api.live)


class Api:
    def __init__(self, server):
        self.server = server
        self.store = server.store

    async def health(self, request):
        return web.json_response({"ok": True, "protocol": VERSION, "devices_online": len(self.server.links)})

    async def login(self, request):
        body = await _body(request)
        addr = request.remote or "?"
        wait = self.server.limits.retry_after(addr)
        if wait:
            return error(
                429, "too_many", "too many failed logins; retry in %d s" % wait, {"Retry-After": str(wait)}
            )
        if not same(
            body.get("token") if type(body.get("token")) is str else None, self.server.operator_token
        ):
            self.server.limits.failed(addr)
            return error(401, "unauthorized", "wrong operator token")
        resp = web.json_response({"ok": True})
        resp.set_cookie(COOKIE, self.server.session, httponly=True, samesite="Strict", secure=request.secure)
        return resp

    async def logout(self, request):
        resp = web.json_response({"ok": True})
        resp.del_cookie(COOKIE)
        return resp

    async def devices(self, request):
        rows = await self.server.read("devices")
        return web.json_response({"devices": [self.server.summary(r) for r in rows]})

    async def add_device(self, request):
        body = await _body(request)
        dev = check_device_id(body.get("id"))
        token = await self.server.db(self.store.add_device, dev)
        row = await self.server.db(self.store.device, dev)
        return web.json_response({"device": self.server.summary(row), "token": token}, status=201)

    async def device(self, request):
        return web.json_response({"device": self.server.summary(await self._row(request))})

    async def remove_device(self, request):
        dev = request.match_info["id"]
        await self.server.remove_device(dev)
        return web.json_response({"removed": dev})

    async def rotate_token(self, request):
        dev = request.match_info["id"]
        return web.json_response({"device": dev, "token": await self.server.rotate_token(dev)})

    async def readings(self, request):
        row = await self._row(request)
        after = _int(request, "after", None, 0)
        limit = _int(request, "limit", 100, 1, 10_000)
        sensor = request.query.get("sensor")
        rows = await self.server.read("readings", row["id"], after, limit, sensor)
        return web.json_response({"device": row["id"], "readings": rows})

    async def events(self, request):
        row = await self._row(request)
        after = _int(request, "after", None, 0)
        limit = _int(request, "limit", 100, 1, 10_000)
        return web.json_response(
            {"device": row["id"], "events": await self.server.read("events", row["id"], after, limit)}
        )

    async def commands(self, request):
        row = await self._row(request)
        limit = _int(request, "limit", 50, 1, 10_000)
        return web.json_response(
            {"device": row["id"], "commands": await self.server.read("commands", row["id"], limit)}
        )

    async def send_command(self, request):
        dev = request.match_info["id"]
        body = await _body(request)
        method = body.get("method")
        if type(method) is not str:
            raise ProtocolError('method: expected a string such as "relay.set", got %s' % json.dumps(method))
        timeout, deadline = body.get("timeout"), body.get("deadline")
        if timeout is not None and (type(timeout) not in (int, float) or not 0 < timeout <= 86_400):
            raise ProtocolError(
                "timeout: expected seconds, a number above 0 and at most 86400, got %s" % json.dumps(timeout)
            )
        if deadline is not None and (type(deadline) is not int or deadline <= 0):
            raise ProtocolError(
                "deadline: expected UTC milliseconds (an integer), got %s" % json.dumps(deadline)
            )
        cmd = await self.server.create_command(dev, method, body.get("params"), timeout, deadline)
        return web.json_response({"command": cmd}, status=201)

    async def command(self, request):
        cmd = await self.server.read("command", request.match_info["id"])
        if cmd is None:
            raise StoreError("not_found", "no command %r" % request.match_info["id"])
        return web.json_response({"command": cmd})

    async def live(self, request):
        server = self.server
        dev = request.query.get("device")
        ws = web.WebSocketResponse(max_msg_size=4096, heartbeat=30)
        if not ws.can_prepare(request).ok:
            return error(
                400, "bad_request", "/api/live is a WebSocket: a WebSocket upgrade request is needed"
            )
        addr = request.remote or "?"
        if not server.limits.connect(addr):
            return error(429, "too_many", "too many connections from %s" % addr, {"Retry-After": "10"})
        sub = Subscriber(ws, dev, server.live_queue)
        try:
            await ws.prepare(request)
            server.live.add(sub)  # updates from now on wait in its queue until the snapshot is out
            rows = await server.read("devices")
            snapshot = [server.summary(r) for r in rows if dev is None or r["id"] == dev]
            await ws.send_str(json.dumps({"type": "devices", "devices": snapshot}))
            sub.task = asyncio.ensure_future(sub.run())
            async for _ in ws:  # browsers have nothing to say; this waits for the close
                pass
        except ConnectionResetError:  # the browser left before its snapshot: nothing to report
            # (aiohttp's writing of this reply meets the closed connection too, and says nothing)
            return web.Response(status=499, reason="Client Closed Request")
        finally:
            server.live.discard(sub)
            if sub.task is not None:
                sub.task.cancel()
            server.limits.release(addr)
        return ws

    async def _row(self, request):
        dev = request.match_info["id"]
        row = await self.server.read("device", dev)
        if row is None:
            raise StoreError("not_found", "no device %r" % dev)
        return row


class Subscriber:
    """One browser on /api/live: updates go through a bounded queue; one that falls behind is closed."""

    def __init__(self, ws, device, size):
        self.ws = ws
        self.device = device
        self.queue = asyncio.Queue(size)
        self.task = None
        self.closing = None

    def push(self, text):
        try:
            self.queue.put_nowait(text)
        except asyncio.QueueFull:
            if self.closing is None:
                if self.task is not None:
                    self.task.cancel()
                self.closing = asyncio.ensure_future(
                    self.ws.close(code=1013, message=b"live updates falling behind; reconnect")
                )

    async def run(self):
        try:
            while True:
                await self.ws.send_str(await self.queue.get())
        except (ConnectionError, RuntimeError):
            pass


async def _body(request):
    try:
        body = await request.json()
    except ValueError:
        raise ProtocolError("the request body must be a JSON object")
    if type(body) is not dict:
        raise ProtocolError("the request body must be a JSON object, got %s" % type(body).__name__)
    return body


def _int(request, name, default, lo, hi=2**53 - 1):
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        v = int(raw)
    except ValueError:
        v = None
    if v is None or not lo <= v <= hi:
        raise ProtocolError("%s: expected an integer from %d to %d, got %r" % (name, lo, hi, raw))
    return v
