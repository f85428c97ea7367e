"""The WebSocket connection for applications: connect, recv, send, ping, close (asyncio).

The same code runs on the board (MicroPython) and on CPython. One task should call recv() in a
loop; any task may send. Keepalive pings and their deadline need that recv() loop. What only
opening a connection needs (URL, TCP/TLS, handshake) is loaded by connect() and dropped from
the heap again once the connection is open.
"""

import asyncio

from compat import const, ticks_diff, ticks_ms
from ws.protocol import (  # noqa: F401 (the errors are part of this module's API)
    ConnectFailed,
    ConnectionClosed,
    HandshakeError,
    InvalidURL,
    LocalProtocolError,
    TLSError,
    WebSocketError,
    WebSocketTimeout,
)

_OPEN = const(1)  # the state and the close event of ws.protocol
_CLOSE = const(8)

# Under a connection: a socket s with s.write(data) -> bytes taken now (None: none) and
# s.close(), and two awaitables, _read(s, buf) -> bytes read (0: the end) and _writable(s).
try:  # MicroPython: a non-blocking socket, waited for by the scheduler's poller
    from asyncio import core as _core

    def _read(s, buf):
        while True:
            yield _core._io_queue.queue_read(s)
            n = s.readinto(buf)  # None: TLS has no whole record yet
            if n is not None:
                return n

    def _writable(s):
        yield _core._io_queue.queue_write(s)

except ImportError:  # CPython: its asyncio streams behind the same calls
    from ws._cpython import _read, _writable

    _core = None


async def _alarm(task, seconds, done):
    await asyncio.sleep(seconds)
    done.append(seconds)
    task.cancel()


async def _within(coro, seconds, what):
    # await coro for at most seconds (None: no limit); WebSocketTimeout(what) when they run out.
    if seconds is None:
        return await coro
    task = asyncio.current_task()
    done = []
    alarm = asyncio.create_task(_alarm(task, seconds, done))
    try:
        return await coro
    except asyncio.CancelledError:
        if not done:
            raise
        if hasattr(task, "uncancel"):  # CPython counts cancellations
            task.uncancel()
        e = WebSocketTimeout("%s timed out after %s s" % (what, seconds))
        e.what = what
        e.seconds = seconds
        raise e
    finally:
        alarm.cancel()


class WebSocket:
    """An open client connection. Use connect() to make one.

    Internal state is named after names the interpreter holds already: each new one costs heap.
    """

    wait_eof = True  # after the close frames, until the server closes TCP (RFC 6455 7.1.1)

    def __init__(self, sock, p, close_timeout=5):
        self.sock = sock
        self._p = p
        self.close_timeout = close_timeout
        self.exc = None  # the error every call raises once the connection is over
        self.task = None  # the task blocked in recv(), which keepalive and timeouts wake
        self.locked = False  # a task waits for the socket to take a frame: the others wait too
        self.coro = None  # the keepalive task
        self.last_received = ticks_ms()
        self.subprotocol = None
        self.response_headers = None

    @property
    def open(self):
        return self.exc is None and self._p.state == _OPEN

    def _lost(self, exc):
        # The connection is over: exc is what the application gets from now on. The keepalive
        # task ends too: asleep until its next ping, it would hold this connection's objects.
        if self.exc is None:
            self.exc = exc
        try:
            self.sock.close()
        except OSError:
            pass
        self._p.release()  # its buffers go to the next connection
        k = self.coro
        if k is not None:
            self.coro = None
            k.cancel()

    def _try(self, data):
        # Write what the socket takes now: None when all of data went, else the rest.
        n = self.sock.write(data)  # OSError: the callers' to handle (no try here, no heap frame)
        if n != len(data):
            return data[n:] if n else data

    async def _put(self, data):
        # The slow way: one frame at a time, waiting for the socket to take it.
        data = bytes(data)  # it may be a view of the send buffer, which the next frame reuses
        while self.locked:
            await asyncio.sleep(0.002)
        self.locked = True
        try:
            data = self._try(data)
            while data:
                await _writable(self.sock)
                data = self._try(data)
        except OSError as e:
            self._lost(ConnectionClosed(1006, "write failed: %s" % (e,), False))
            raise self.exc
        finally:
            self.locked = False

    async def send(self, data):
        """Send a str as a text message, bytes-like as a binary message."""
        if self.exc is not None or self._p.state != _OPEN:
            raise self.exc or ConnectionClosed(self._p.close_code or 1006, self._p.close_reason)
        data = self._p.send(data)  # one write per frame, so Nagle never delays a message
        try:
            if not self.locked:
                data = self._try(data)
            if data:
                await self._put(data)
        except OSError as e:
            self._lost(ConnectionClosed(1006, "write failed: %s" % (e,), False))
            raise self.exc

    async def ping(self, data=b""):
        """Send a ping; the pong counts as a sign of life (last_received)."""
        if self.exc is not None or self._p.state != _OPEN:
            raise self.exc or ConnectionClosed(self._p.close_code or 1006, self._p.close_reason)
        await self._put(self._p.ping(data))

    async def recv(self):
        """The next message: str (text) or bytes (binary). Raises ConnectionClosed at the end."""
        p = self._p
        while True:
            ev = p.next_event()
            if ev is None:
                if self.exc is not None:
                    raise self.exc
                self.task = asyncio.current_task()
                try:
                    ev = await _read(self.sock, p.recv_buffer())  # straight into the core's buffer
                except OSError as e:
                    self._lost(ConnectionClosed(1006, "read failed: %s" % (e,), False))
                    ev = 0
                except asyncio.CancelledError:
                    if self.exc is None:  # not woken by keepalive: the application cancelled
                        self.task = None
                        raise
                    ev = 0
                self.task = None
                if not ev and self.exc is not None:
                    raise self.exc
                p.received(ev)
                self.last_received = ticks_ms()
            elif type(ev) is tuple:
                await self._control(ev)
            else:
                return ev

    async def _control(self, ev):
        # A ping, pong or the close: send what the core queued (a pong, the echo of a close
        # frame, the close frame of an error); at the close, raise ConnectionClosed.
        data = self._p.data_to_send()
        if data:
            try:
                await self._put(data)
            except WebSocketError:
                pass
        if ev[0] == _CLOSE:
            data = ConnectionClosed(ev[1], ev[2])
            self.exc = data
            if ev[1] != 1006 and self.wait_eof:
                # The server closes TCP first (RFC 6455 7.1.1); closing with unread bytes would
                # reset the connection and could destroy our close frame in flight.
                try:
                    await _within(self._until(True), self.close_timeout, "close")
                except (WebSocketError, OSError):
                    pass
            self._lost(data)
            raise data

    async def _keep_alive(self, t, timeout):
        while True:
            await asyncio.sleep(t)
            sent = ticks_ms()
            try:
                await self.ping(b"keepalive")
            except WebSocketError:
                return
            await asyncio.sleep(timeout)
            if self.exc is None and ticks_diff(self.last_received, sent) < 0:
                # Dead: declare it so, and wake the task blocked in recv().
                self.coro = None  # this task ends here: _lost need not cancel it
                self._lost(
                    ConnectionClosed(
                        1006, "keepalive: nothing received within %s s of a ping" % timeout, False
                    )
                )
                if self.task is not None:
                    self.task.cancel()
                return

    async def _until(self, eof):
        # Read until the end: of the TCP stream (eof), else of the connection (its close frame).
        while True:
            if not eof:
                await self.recv()
            elif not await _read(self.sock, self._p.recv_buffer()):
                return

    async def close(self, code=1000, reason=""):
        """Close cleanly: send a close frame, wait for the peer's (close_timeout), drop TCP."""
        p = self._p
        if self.exc is None and p.state == _OPEN:
            data = p.close(code, reason)  # LocalProtocolError for a bad code or reason
            try:
                await self._put(data)
            except WebSocketError:
                pass
            if self.task is None:  # read until the peer's close frame ourselves
                try:
                    await _within(self._until(False), self.close_timeout, "close")
                except (WebSocketError, OSError):
                    pass
            else:  # the task in recv() sees the peer's close frame
                t = ticks_ms()
                while self.task is not None and ticks_diff(ticks_ms(), t) < self.close_timeout * 1000:
                    await asyncio.sleep(0.01)
        self._lost(ConnectionClosed(p.close_code or code, p.close_reason or reason))


async def connect(url, **options):
    """Open a WebSocket to a ws:// or wss:// URL and return it: a WebSocket.

    Options: origin, subprotocols, headers (a dict or (name, value) pairs), cadata (PEM or DER
    CA data), fingerprint (SHA-256 pin of the server certificate), insecure, server_hostname,
    connect_timeout=10, handshake_timeout=10, close_timeout=5 (seconds; None: no limit),
    ping_interval, ping_timeout, max_message_size, fragment_size, rx_buffer_size,
    random_bytes. Raises InvalidURL, ConnectFailed, TLSError, WebSocketTimeout, HandshakeError.
    """
    # Dialling and the opening handshake each load their code for the time they run, one after
    # the other, and unload it when done: none of it takes room on an open connection.
    from ws import dial

    s, url = await dial.connect(url, options)
    dial = None  # its last reference: ws.dial is gone before ws.handshake comes in
    from ws import handshake

    return await handshake.upgrade(s, url, options)
