"""The byte stream under a WebSocket on CPython's asyncio (no readinto; TLS by the ssl module).

Imported by ws.transport only where MicroPython's streams are absent: never on the board.
"""

import asyncio
import ssl

from ws.errors import TLSError


class Transport:
    """readinto/write/drain/close over CPython's asyncio streams."""

    eof_after_close = True

    def __init__(self, reader, writer):
        self._r = reader
        self._w = writer

    async def readinto(self, buf):
        """Read into buf (a memoryview); 0 at end of stream."""
        data = await self._r.read(len(buf))
        n = len(data)
        buf[0:n] = data
        return n

    def write(self, data):
        """Queue data (copied or sent at once); True if nothing is left to drain."""
        self._w.write(data)
        return self._w.transport.get_write_buffer_size() == 0

    async def drain(self):
        await self._w.drain()

    def close(self):
        try:
            self._w.close()
        except OSError:
            pass


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


async def open_transport(host, port, tls=None, nodelay=None):
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
    if sock is not None and nodelay is not None:
        nodelay(sock)
    if tls is not None and not tls.pinned(writer.get_extra_info("ssl_object").getpeercert(True)):
        writer.close()
        raise TLSError("server certificate does not match the pinned fingerprint")
    return Transport(reader, writer)
