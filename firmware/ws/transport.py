"""The byte stream under a WebSocket: TCP (TCP_NODELAY) or TLS, on MicroPython or CPython asyncio.

The two runtimes' asyncio streams differ (readinto, TLS set-up, certificate access); this is
the one module that absorbs it, detected once at import time.
"""

import asyncio
import binascii
import hashlib
import socket

from ws.errors import TLSError

try:
    import tls as _mptls  # MicroPython: the mbedtls context with verify_callback
except ImportError:
    _mptls = None
    import ssl as _ssl

_MICROPYTHON_STREAMS = hasattr(asyncio.StreamReader, "readinto")
_IPPROTO_TCP = getattr(socket, "IPPROTO_TCP", 6)
_TCP_NODELAY = getattr(socket, "TCP_NODELAY", 1)


def _nodelay(sock):
    # One write per frame already avoids the Nagle/delayed-ACK stall; this makes sure.
    try:
        sock.setsockopt(_IPPROTO_TCP, _TCP_NODELAY, 1)
    except (OSError, AttributeError):
        pass


def parse_fingerprint(fp):
    """A SHA-256 certificate fingerprint from 32 bytes or hex text (colons allowed)."""
    if isinstance(fp, (bytes, bytearray)) and len(fp) == 32:
        return bytes(fp)
    if isinstance(fp, str):
        text = fp.replace(":", "").replace(" ", "").lower()
        if len(text) == 64:
            try:
                return bytes.fromhex(text)
            except ValueError:
                pass
    raise ValueError("fingerprint must be a SHA-256 digest: 32 bytes or 64 hex digits")


class TLSConfig:
    """How to trust the server: cadata (PEM or DER bytes of the CA), a leaf fingerprint pin,
    or insecure=True to skip verification (never for real loads)."""

    def __init__(self, cadata=None, fingerprint=None, insecure=False, server_hostname=None):
        self.cadata = cadata
        self.pin = parse_fingerprint(fingerprint) if fingerprint is not None else None
        self.insecure = insecure
        self.server_hostname = server_hostname


def _is_pem(data):
    return data[:11] == b"-----BEGIN " if isinstance(data, (bytes, bytearray)) else True


class Transport:
    """readinto/write/drain/close over one connected stream (CPython asyncio streams)."""

    # Whether the end of stream shows up after a closing handshake (see MicroPythonTransport).
    eof_after_close = True

    def __init__(self, reader, writer, sock):
        self._r = reader
        self._w = writer
        self._sock = sock

    async def readinto(self, buf):
        """Read into buf (a memoryview); 0 at end of stream."""
        data = await self._r.read(len(buf))  # CPython's StreamReader has no readinto
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


class MicroPythonTransport(Transport):
    """The same over MicroPython's asyncio Stream, reading straight into our buffer."""

    def __init__(self, stream, sock, tls=False):
        self._w = stream
        self._sock = sock
        self.readinto = stream.readinto  # no copy: the socket fills the protocol's buffer
        # MicroPython's TLS socket never reports the server's close_notify as end of stream,
        # and the server waits for ours: waiting for EOF there would only run into the timeout.
        self.eof_after_close = not tls

    def write(self, data):
        w = self._w
        w.write(data)  # tries the socket at once; keeps in out_buf what it did not take
        return not w.out_buf

    def close(self):
        try:
            self._sock.close()
        except OSError:
            pass


def _ders(data):
    # The board's mbedtls may lack PEM parsing: hand it DER, one certificate at a time.
    if isinstance(data, str):
        data = data.encode()
    if not _is_pem(data):
        return [bytes(data)]
    out = []
    for block in bytes(data).split(b"-----BEGIN CERTIFICATE-----")[1:]:
        body = block.split(b"-----END CERTIFICATE-----")[0]
        try:
            out.append(binascii.a2b_base64(body.replace(b"\r", b"").replace(b"\n", b"")))
        except ValueError:
            raise TLSError("cadata holds a PEM block that is not valid base64")
    if not out:
        raise TLSError("cadata holds no PEM certificate")
    return out


def _mp_context(cfg, host):
    ctx = _mptls.SSLContext(_mptls.PROTOCOL_TLS_CLIENT)
    if cfg.insecure:
        ctx.verify_mode = _mptls.CERT_NONE
        return ctx
    if cfg.cadata:
        for der in _ders(cfg.cadata):
            try:
                ctx.load_verify_locations(der)
            except ValueError as e:
                raise TLSError("cadata is not a usable CA certificate: %s" % (e,))
        ctx.verify_mode = _mptls.CERT_REQUIRED
    elif cfg.pin:
        ctx.verify_mode = _mptls.CERT_OPTIONAL  # the chain is not trusted; only the pin is
    else:
        raise TLSError("wss:// needs cadata= (the server's CA) or fingerprint= on this platform")
    if cfg.pin:
        pin = cfg.pin

        def check(cert, depth):
            if depth == 0 and hashlib.sha256(cert).digest() != pin:
                return 1
            return 0

        ctx.verify_callback = check
    return ctx


def _cp_context(cfg):
    if cfg.insecure or (cfg.pin and not cfg.cadata):
        ctx = _ssl.SSLContext(_ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = _ssl.CERT_NONE
        return ctx
    cadata = cfg.cadata
    if cadata is not None and _is_pem(cadata) and not isinstance(cadata, str):
        cadata = bytes(cadata).decode()
    try:
        return _ssl.create_default_context(cadata=cadata)
    except (_ssl.SSLError, ValueError) as e:
        raise TLSError("cadata is not a usable CA certificate: %s" % e)


async def _mp_open(host, port, cfg):
    ai = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)[0]
    sock = socket.socket(ai[0], socket.SOCK_STREAM)
    _nodelay(sock)
    sock.setblocking(False)
    try:
        sock.connect(ai[-1])
    except OSError as e:
        if e.errno != 115 and e.errno != 119:  # EINPROGRESS on Linux and on lwIP
            sock.close()
            raise
    raw = sock
    if cfg is not None:
        ctx = _mp_context(cfg, host)
        try:
            sock = ctx.wrap_socket(
                sock, server_hostname=cfg.server_hostname or host, do_handshake_on_connect=False
            )
        except OSError as e:
            raw.close()
            raise TLSError("TLS set-up failed: %s" % (e,))
        sock.setblocking(False)
    stream = asyncio.StreamReader(sock)
    await _writable(sock)
    return MicroPythonTransport(stream, sock, cfg is not None)


def _writable(sock):
    # MicroPython's asyncio has no public "wait until writable"; this is what open_connection does.
    yield asyncio.core._io_queue.queue_write(sock)


async def _cp_open(host, port, cfg):
    ctx = _cp_context(cfg) if cfg is not None else None
    kw = {}
    if ctx is not None:
        kw["ssl"] = ctx
        kw["server_hostname"] = cfg.server_hostname or host
    try:
        reader, writer = await asyncio.open_connection(host, port, **kw)
    except _ssl.SSLCertVerificationError as e:
        raise TLSError("server certificate rejected: %s" % (e.verify_message or e,))
    except _ssl.SSLError as e:
        raise TLSError("TLS handshake failed: %s" % (e,))
    sock = writer.get_extra_info("socket")
    if sock is not None:
        _nodelay(sock)
    if cfg is not None and cfg.pin:
        der = writer.get_extra_info("ssl_object").getpeercert(True)
        if hashlib.sha256(der).digest() != cfg.pin:
            writer.close()
            raise TLSError("server certificate does not match the pinned fingerprint")
    return Transport(reader, writer, None)


async def open_transport(host, port, tls=None):
    """Connect to host:port; tls is a TLSConfig for wss:// or None."""
    if _MICROPYTHON_STREAMS:
        return await _mp_open(host, port, tls)
    return await _cp_open(host, port, tls)
