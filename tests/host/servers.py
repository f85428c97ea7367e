"""Loopback servers for the client tests, each on its own thread and event loop.

WsServer: a real `websockets` server (echo, headers, close, refusals). RawServer: a scripted
server that completes the handshake by hand, then sends given bytes and records the reply.
"""

import asyncio
import base64
import hashlib
import json
import threading

from websockets.asyncio.server import serve
from websockets.datastructures import Headers
from websockets.http11 import Response

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class _Loop:
    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def call(self, coro, timeout=10):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self):
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def _process_request(connection, request):
    path = request.path
    if path.startswith("/refuse503"):
        return Response(503, "Service Unavailable", Headers({"Retry-After": "7", "Content-Length": "0"}), b"")
    if path.startswith("/redirect"):
        return Response(
            302, "Found", Headers({"Location": "ws://127.0.0.1:1/elsewhere", "Content-Length": "0"}), b""
        )
    if path.startswith("/auth"):
        if request.headers.get("Authorization") != "Bearer good-token":
            return Response(401, "Unauthorized", Headers({"Content-Length": "0"}), b"")
    return None


def _select_subprotocol(connection, offered):
    for p in offered:
        if p in ("v1.node", "v2.node"):
            return p
    return None


async def _handler(ws):
    path = ws.request.path
    if path.startswith("/echo") or path.startswith("/auth"):
        async for msg in ws:
            await ws.send(msg)
    elif path.startswith("/headers"):
        h = ws.request.headers
        await ws.send(
            json.dumps(
                {
                    "authorization": h.get("Authorization"),
                    "origin": h.get("Origin"),
                    "x-device": h.get("X-Device"),
                    "host": h.get("Host"),
                    "path": path,
                    "subprotocol": ws.subprotocol,
                }
            )
        )
        await ws.wait_closed()
    elif path.startswith("/close/"):
        code = int(path.split("/")[2])
        await ws.send("bye")
        await ws.close(code, "server says bye")


class WsServer:
    """A websockets server on 127.0.0.1; url(path) gives the address. ssl: an SSLContext."""

    def __init__(self, ssl=None):
        self._l = _Loop()
        self.scheme = "wss" if ssl else "ws"

        async def start():
            return await serve(
                _handler,
                "127.0.0.1",
                0,
                process_request=_process_request,
                select_subprotocol=_select_subprotocol,
                compression=None,
                max_size=2**22,
                ssl=ssl,
            )

        self.server = self._l.call(start())
        self.port = self.server.sockets[0].getsockname()[1]

    def url(self, path="/echo", host="127.0.0.1"):
        return "%s://%s:%d%s" % (self.scheme, host, self.port, path)

    def stop(self):
        async def stop():
            self.server.close()
            await self.server.wait_closed()

        self._l.call(stop())
        self._l.stop()


def _has_close(data):
    # Walks the client's (masked) frames; True once a whole close frame is there.
    i = 0
    while i + 2 <= len(data):
        n = data[i + 1] & 0x7F
        h = 2
        if n == 126:
            if i + 4 > len(data):
                return False
            n = int.from_bytes(data[i + 2 : i + 4], "big")
            h = 4
        elif n == 127:
            if i + 10 > len(data):
                return False
            n = int.from_bytes(data[i + 2 : i + 10], "big")
            h = 10
        end = i + h + 4 + n
        if end > len(data):
            return False
        if data[i] & 0x0F == 8:
            return True
        i = end
    return False


class RawServer:
    """Accepts one connection at a time: answers the handshake (or sends `response` raw),
    sends `script` bytes, then records what the client sends until it closes."""

    def __init__(self, script=b"", response=None, linger=5.0):
        self.script = script
        self.response = response
        self.linger = linger
        self.received = []
        self.requests = []
        self._l = _Loop()

        async def start():
            return await asyncio.start_server(self._conn, "127.0.0.1", 0)

        self.server = self._l.call(start())
        self.port = self.server.sockets[0].getsockname()[1]

    def url(self, path="/"):
        return "ws://127.0.0.1:%d%s" % (self.port, path)

    async def _conn(self, reader, writer):
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            self.requests.append(head)
            if self.response is not None:
                writer.write(self.response)
            else:
                key = [ln for ln in head.split(b"\r\n") if ln.lower().startswith(b"sec-websocket-key:")]
                key = key[0].split(b":", 1)[1].strip()
                accept = base64.b64encode(hashlib.sha1(key + GUID.encode()).digest())
                writer.write(
                    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n"
                )
            writer.write(self.script)
            await writer.drain()
            data = b""
            try:
                while True:
                    chunk = await asyncio.wait_for(reader.read(65536), self.linger)
                    if not chunk:
                        break
                    data += chunk
                    if _has_close(data):  # like a real server: close TCP after the close frame
                        break
            except (TimeoutError, ConnectionError):
                pass
            self.received.append(data)
        except Exception as e:  # recorded for the test to see
            self.received.append(e)
        finally:
            writer.close()

    def stop(self):
        async def stop():
            self.server.close()

        self._l.call(stop())
        self._l.stop()
