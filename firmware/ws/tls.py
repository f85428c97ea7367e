"""wss:// trust settings and TLS contexts: a CA given as data, host names, SHA-256 pinning.

Imported only for wss:// connections, so plain ws:// never loads it on the board.
"""

import binascii
import hashlib

from ws.protocol import TLSError


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

    def pinned(self, der):
        """True unless a pin is set and the certificate (DER) does not match it."""
        return self.pin is None or hashlib.sha256(der).digest() == self.pin


def is_pem(data):
    return data[:11] == b"-----BEGIN " if isinstance(data, (bytes, bytearray)) else True


def ders(data):
    """The DER certificates in cadata (PEM text or one DER certificate)."""
    # The board's mbedtls may lack PEM parsing: it gets DER, one certificate at a time.
    if isinstance(data, str):
        data = data.encode()
    if not is_pem(data):
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


def micropython_context(cfg):
    """An mbedtls context (MicroPython's tls module) for cfg."""
    import tls

    ctx = tls.SSLContext(tls.PROTOCOL_TLS_CLIENT)
    if cfg.insecure:
        ctx.verify_mode = tls.CERT_NONE
        return ctx
    if cfg.cadata:
        for der in ders(cfg.cadata):
            try:
                ctx.load_verify_locations(der)
            except ValueError as e:
                raise TLSError("cadata is not a usable CA certificate: %s" % (e,))
        ctx.verify_mode = tls.CERT_REQUIRED
    elif cfg.pin:
        ctx.verify_mode = tls.CERT_OPTIONAL  # the chain is not trusted; only the pin is
    else:
        raise TLSError("wss:// needs cadata= (the server's CA) or fingerprint= on this platform")
    if cfg.pin:
        # Checked during the TLS handshake, before any byte (and the token) is sent.
        ctx.verify_callback = lambda cert, depth: 0 if depth or cfg.pinned(cert) else 1
    return ctx
