"""The WebSocket connection for applications: connect, recv, send, ping, close (asyncio).

The same code runs on the board (MicroPython) and on CPython. One task should call recv()
in a loop; any task may send. Keepalive pings and their deadline need that recv() loop.
"""

import asyncio
import os

from compat import ticks_diff, ticks_ms
from ws import events
from ws.errors import ConnectionClosed, HandshakeError, TLSError, WebSocketError, WebSocketTimeout
from ws.protocol import OPEN, ClientProtocol
from ws.transport import open_transport
from ws.url import parse_url

_TimeoutError = asyncio.TimeoutError
_CancelledError = asyncio.CancelledError


async def _timed(coro, seconds, what):
    if seconds is None:
        return await coro
    try:
        return await asyncio.wait_for(coro, seconds)
    except _TimeoutError:
        raise WebSocketTimeout(what, seconds)


class ConnectFailed(WebSocketError):
    """The TCP connection could not be made (refused, unreachable, name not found)."""

    def __init__(self, host, port, error):
        super().__init__("cannot connect to %s:%s: %s" % (host, port, error))
        self.error = error
        self.errno = getattr(error, "errno", None)


class WebSocket:
    """An open client connection. Use connect() to make one."""

    def __init__(self, transport, protocol, close_timeout=5, ping_interval=None, ping_timeout=None):
        self._t = transport
        self._p = protocol
        self.close_timeout = close_timeout
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self._lock = asyncio.Lock()
        self._closed = None  # the ConnectionClosed to raise once the connection is over
        self._abort_reason = None
        self._reader = None  # the task inside recv(), so keepalive can wake it
        self._keepalive = None
        self.last_received = ticks_ms()
        self.subprotocol = None

    @property
    def open(self):
        return self._p.state == OPEN and self._closed is None

    @property
    def state(self):
        return self._p.state

    async def _handshake(self):
        p = self._p
        await self._write(p.data_to_send())
        while True:
            n = await self._t.readinto(p.recv_buffer())
            p.received(n)
            ev = p.next_event()  # raises HandshakeError
            if ev is not None:
                self.subprotocol = ev.subprotocol
                self.response_headers = ev.headers
                return

    async def _write(self, data):
        # Exactly one write per frame. Whoever must wait for the socket to drain holds the
        # lock, and later writers queue behind it, so frames never interleave.
        lock = self._lock
        if lock.locked():
            await lock.acquire()
            try:
                if not self._t.write(data):
                    await self._t.drain()
            finally:
                lock.release()
        elif not self._t.write(data):
            await lock.acquire()  # free, so taken without yielding
            try:
                await self._t.drain()
            finally:
                lock.release()

    def _check_open(self):
        if self._closed is not None:
            raise self._closed
        if self._p.state != OPEN:
            raise ConnectionClosed(self._p.close_code or 1006, self._p.close_reason)

    async def send(self, data):
        """Send a str as a text message, bytes-like as a binary message."""
        if self._closed is not None or self._p.state != OPEN:
            self._check_open()
        if self._lock.locked():  # the frame is a view of a shared buffer: build it in turn
            await self._send_queued(0 if isinstance(data, str) else 1, data)
            return
        p = self._p
        try:
            done = self._t.write(p.send_text(data) if isinstance(data, str) else p.send_bytes(data))
        except OSError as e:
            self._lost("write failed: %s" % (e,))
            raise self._closed
        if not done:
            await self._drain()

    async def _drain(self):
        lock = self._lock
        await lock.acquire()  # free, so taken without yielding
        try:
            await self._t.drain()
        except OSError as e:
            self._lost("write failed: %s" % (e,))
            raise self._closed
        finally:
            lock.release()

    async def _send_queued(self, kind, data):
        lock = self._lock
        await lock.acquire()
        try:
            self._check_open()
            p = self._p
            if kind == 0:
                frame = p.send_text(data)
            elif kind == 1:
                frame = p.send_bytes(data)
            else:
                frame = p.send_ping(data)
            if not self._t.write(frame):
                await self._t.drain()
        finally:
            lock.release()

    async def send_text(self, text):
        if not isinstance(text, str):
            raise TypeError("send_text needs a str")
        await self.send(text)

    async def send_bytes(self, data):
        if isinstance(data, str):
            raise TypeError("send_bytes needs bytes, bytearray or memoryview")
        await self.send(data)

    async def ping(self, payload=b""):
        """Send a ping; the pong shows up as a sign of life (last_received)."""
        self._check_open()
        try:
            await self._send_queued(2, payload)
        except OSError as e:
            self._lost("write failed: %s" % (e,))
            raise self._closed

    async def _flush(self):
        out = self._p.data_to_send()
        if out:
            try:
                await self._write(out)
            except OSError:
                pass

    def _lost(self, reason):
        if self._closed is None:
            self._closed = ConnectionClosed(1006, reason, False)
        self._t.close()

    async def recv(self):
        """The next message: str (text) or bytes (binary). Raises ConnectionClosed at the end."""
        p = self._p
        while True:
            ev = p.next_event()
            if ev is None:
                if self._closed is not None:
                    raise self._closed
                self._reader = asyncio.current_task()
                try:
                    n = await self._t.readinto(p.recv_buffer())  # straight into the core's buffer
                except OSError as e:
                    n = 0
                    self._abort_reason = self._abort_reason or "read failed: %s" % (e,)
                except _CancelledError:
                    self._reader = None
                    if self._abort_reason is None:
                        raise
                    self._lost(self._abort_reason)
                    raise self._closed
                self._reader = None
                p.received(n)
                self.last_received = ticks_ms()
            elif type(ev) is events.TextMessage or type(ev) is events.BytesMessage:
                return ev.data
            else:
                await self._on_control(ev)

    async def _on_control(self, ev):
        t = type(ev)
        if t is events.Ping:
            await self._flush()  # the pong the core queued
        elif t is events.CloseConnection:
            await self._flush()  # our echo, or the close frame of the error
            reason = self._abort_reason if ev.code == 1006 and self._abort_reason else ev.reason
            self._closed = ConnectionClosed(ev.code, reason)
            if ev.code != 1006 and self._t.eof_after_close:
                # The server closes TCP first (RFC 6455 7.1.1); closing with unread bytes
                # would reset the connection and could destroy our close frame in flight.
                try:
                    await _timed(self._until_eof(), self.close_timeout, "close")
                except (WebSocketTimeout, OSError):
                    pass
            self._t.close()
            raise self._closed

    async def _until_eof(self):
        scratch = memoryview(bytearray(64))
        while await self._t.readinto(scratch):
            pass

    def _abort(self, reason):
        # Declare the connection dead and wake the task blocked in recv().
        self._abort_reason = reason
        reader = self._reader
        self._lost(reason)
        if reader is not None:
            reader.cancel()

    async def _keepalive_loop(self):
        interval = self.ping_interval
        deadline = self.ping_timeout if self.ping_timeout is not None else interval
        while self.open:
            await asyncio.sleep(interval)
            if not self.open:
                return
            sent = ticks_ms()
            try:
                await self.ping(b"keepalive")
            except WebSocketError:
                return
            await asyncio.sleep(deadline)
            if self.open and ticks_diff(self.last_received, sent) < 0:
                self._abort("keepalive: nothing received within %s s of a ping" % deadline)
                return

    async def close(self, code=1000, reason=""):
        """Close cleanly: send a close frame, wait for the peer's (close_timeout), drop TCP."""
        p = self._p
        if p.state == OPEN and self._closed is None:
            frame = p.send_close(code, reason)  # LocalProtocolError for a bad code or reason
            try:
                await self._write(frame)
            except OSError:
                pass
            if self._reader is None:
                try:
                    await _timed(self._await_close(), self.close_timeout, "close")
                except (WebSocketTimeout, WebSocketError, OSError):
                    pass
            else:  # the recv() loop will see the peer's close frame
                t0 = ticks_ms()
                while self._reader is not None and ticks_diff(ticks_ms(), t0) < self.close_timeout * 1000:
                    await asyncio.sleep(0.01)
        if self._keepalive is not None:
            self._keepalive.cancel()
            self._keepalive = None
        if self._closed is None:
            self._closed = ConnectionClosed(p.close_code or code, p.close_reason or reason)
        self._t.close()

    async def _await_close(self):
        while True:
            try:
                await self.recv()
            except ConnectionClosed:
                return


async def connect(
    url,
    *,
    origin=None,
    subprotocols=None,
    headers=None,
    cadata=None,
    fingerprint=None,
    insecure=False,
    server_hostname=None,
    connect_timeout=10,
    handshake_timeout=10,
    close_timeout=5,
    ping_interval=None,
    ping_timeout=None,
    max_message_size=None,
    fragment_size=None,
    rx_buffer_size=None,
    random_bytes=None,
):
    """Open a WebSocket to a ws:// or wss:// URL and return a WebSocket.

    Raises InvalidURL, ConnectFailed, TLSError, WebSocketTimeout or HandshakeError.
    """
    u = parse_url(url)
    tls = None
    if u.secure:
        from ws.tls import TLSConfig  # loaded only for wss://

        tls = TLSConfig(cadata, fingerprint, insecure, server_hostname)
    try:
        t = await _timed(open_transport(u.host, u.port, tls), connect_timeout, "connect")
    except OSError as e:
        raise ConnectFailed(u.host, u.port, e)
    p = ClientProtocol(
        u.host,
        u.port,
        u.resource,
        random_bytes=random_bytes or os.urandom,
        secure=u.secure,
        origin=origin,
        subprotocols=subprotocols,
        headers=headers,
        max_message_size=max_message_size,
        fragment_size=fragment_size,
        rx_buffer_size=rx_buffer_size,
    )
    ws = WebSocket(t, p, close_timeout, ping_interval, ping_timeout)
    try:
        await _timed(ws._handshake(), handshake_timeout, "handshake")
    except (OSError, ValueError) as e:
        # MicroPython reports certificate failures as ValueError/OSError on the first I/O.
        t.close()
        if tls is not None:
            raise TLSError("TLS handshake failed: %s" % (str(e).strip() or repr(e),))
        if isinstance(e, ValueError):
            raise
        raise ConnectFailed(u.host, u.port, e)
    except BaseException:
        t.close()
        raise
    if p.state != OPEN:
        t.close()
        raise HandshakeError("connection closed during the opening handshake")
    if ping_interval:
        ws._keepalive = asyncio.create_task(ws._keepalive_loop())
    return ws
