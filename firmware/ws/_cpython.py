"""The byte stream under a WebSocket on CPython: asyncio streams, TLS by the ssl module.

Offers what ws.client and ws.opening use of a MicroPython socket (write, close) and the two
awaitables around it; imported only where MicroPython's asyncio is absent, never on the board.
"""

import asyncio
import ssl

from ws.mask import mask16_portable as mask16  # noqa: F401 (what ws.protocol masks with here)
from ws.protocol import TLSError

_HIGH_WATER = 65536  # bytes queued in the transport before a writer waits


class Transport:
    """write/close over CPython's asyncio streams; see _read and _writable."""

    def __init__(self, reader, writer):
        self.reader = reader
        self.writer = writer

    def write(self, data):
        """All of data (copied: it may be a view of a reused buffer), or 0 when too much waits."""
        if self.writer.transport.get_write_buffer_size() > _HIGH_WATER:
            return 0
        self.writer.write(bytes(data))
        return len(data)

    def close(self):
        try:
            self.writer.close()
        except OSError:
            pass


async def _read(t, buf):
    """Read into buf (a memoryview): the byte count, 0 at the end of the stream."""
    data = await t.reader.read(len(buf))
    n = len(data)
    buf[0:n] = data
    return n


async def _writable(t):
    await t.writer.drain()


def _context(cfg):
    from ws.tls import is_pem

    if cfg.insecure or (cfg.pin and not cfg.cadata):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    cadata = cfg.cadata
    if cadata is not None and is_pem(cadata) and not isinstance(cadata, str):
        cadata = bytes(cadata).decode()
    try:
        return ssl.create_default_context(cadata=cadata)
    except (ssl.SSLError, ValueError) as e:
        raise TLSError("cadata is not a usable CA certificate: %s" % e)


async def _open(host, port, tls=None):
    """Connect to host:port; tls is a ws.tls.TLSConfig for wss:// or None."""
    kw = {}
    if tls is not None:
        kw["ssl"] = _context(tls)
        kw["server_hostname"] = tls.server_hostname or host
    try:
        reader, writer = await asyncio.open_connection(host, port, **kw)
    except ssl.SSLCertVerificationError as e:
        raise TLSError("server certificate rejected: %s" % (e.verify_message or e,))
    except ssl.SSLError as e:
        raise TLSError("TLS handshake failed: %s" % (e,))
    sock = writer.get_extra_info("socket")
    if sock is not None:
        try:  # one write per frame already avoids the Nagle/delayed-ACK stall; this makes sure
            sock.setsockopt(6, 1, 1)  # IPPROTO_TCP, TCP_NODELAY
        except OSError:
            pass
    if tls is not None and not tls.pinned(writer.get_extra_info("ssl_object").getpeercert(True)):
        writer.close()
        raise TLSError("server certificate does not match the pinned fingerprint")
    return Transport(reader, writer)
