"""The byte stream under a WebSocket: TCP with TCP_NODELAY, or TLS, on MicroPython's asyncio.

CPython's asyncio streams differ (no readinto, TLS through the ssl module): detected once at
import, its version lives in ws._cpython and the board never loads it.
"""

import asyncio
import socket

from ws.errors import TLSError

_IPPROTO_TCP = getattr(socket, "IPPROTO_TCP", 6)
_TCP_NODELAY = getattr(socket, "TCP_NODELAY", 1)


def nodelay(sock):
    # One write per frame already avoids the Nagle/delayed-ACK stall; this makes sure.
    try:
        sock.setsockopt(_IPPROTO_TCP, _TCP_NODELAY, 1)
    except (OSError, AttributeError):
        pass


class Transport:
    """readinto/write/drain/close over MicroPython's asyncio Stream."""

    def __init__(self, stream, sock, tls=False):
        self._w = stream
        self._sock = sock
        self.readinto = stream.readinto  # no copy: the socket fills the protocol's buffer
        # MicroPython's TLS socket never reports the server's close_notify as end of stream,
        # and the server waits for ours: waiting for EOF there would only run into the timeout.
        self.eof_after_close = not tls

    def write(self, data):
        """Send data at once where the socket takes it; True if nothing is left to drain."""
        w = self._w
        w.write(data)  # keeps in out_buf what the socket did not take
        return not w.out_buf

    async def drain(self):
        await self._w.drain()

    def close(self):
        try:
            self._sock.close()
        except OSError:
            pass


def _writable(sock):
    # MicroPython's asyncio has no public "wait until writable"; this is what open_connection does.
    yield asyncio.core._io_queue.queue_write(sock)


async def open_transport(host, port, tls=None):
    """Connect to host:port; tls is a ws.tls.TLSConfig for wss:// or None."""
    ai = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)[0]
    sock = socket.socket(ai[0], socket.SOCK_STREAM)
    nodelay(sock)
    sock.setblocking(False)
    try:
        sock.connect(ai[-1])
    except OSError as e:
        if e.errno != 115 and e.errno != 119:  # EINPROGRESS on Linux and on lwIP
            sock.close()
            raise
    if tls is not None:
        from ws.tls import micropython_context

        raw = sock
        try:
            ctx = micropython_context(tls)
            sock = ctx.wrap_socket(
                sock, server_hostname=tls.server_hostname or host, do_handshake_on_connect=False
            )
        except OSError as e:
            raw.close()
            raise TLSError("TLS set-up failed: %s" % (e,))
        except TLSError:
            raw.close()
            raise
        sock.setblocking(False)
    stream = asyncio.StreamReader(sock)
    await _writable(sock)
    return Transport(stream, sock, tls is not None)


if not hasattr(asyncio.StreamReader, "readinto"):  # CPython
    from ws import _cpython

    _cp_open = _cpython.open_transport

    async def open_transport(host, port, tls=None):  # noqa: F811
        """Connect to host:port; tls is a ws.tls.TLSConfig for wss:// or None."""
        return await _cp_open(host, port, tls, nodelay)
