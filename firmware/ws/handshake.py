"""The opening handshake (RFC 6455 4.1, 4.2.2): build the request, parse and check the response."""

import binascii
import hashlib

from ws.errors import HandshakeError, LocalProtocolError

_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
# Headers the client sets itself; a caller may not override them.
_RESERVED = (
    "host",
    "upgrade",
    "connection",
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-protocol",
    "sec-websocket-extensions",
)
_SEPARATORS = '()<>@,;:\\"/[]?={} \t'


def _b64(data):
    return binascii.b2a_base64(data)[:-1].decode()


def make_key(random_bytes):
    """A fresh Sec-WebSocket-Key from 16 random bytes."""
    return _b64(random_bytes(16))


def accept_key(key):
    """The Sec-WebSocket-Accept value a server must answer to key."""
    return _b64(hashlib.sha1((key + _GUID).encode()).digest())


def _check_token(what, value):
    if not value:
        raise LocalProtocolError("empty %s" % what)
    for ch in value:
        if ch in _SEPARATORS or ord(ch) < 33 or ord(ch) > 126:
            raise LocalProtocolError("invalid character %r in %s %r" % (ch, what, value))


def _check_value(name, value):
    for ch in value:
        if ch in "\r\n\0":
            raise LocalProtocolError("header %s: line breaks are not allowed in a value" % name)


def build_request(host, port, resource, key, secure=False, origin=None, subprotocols=None, headers=None):
    """The HTTP/1.1 upgrade request as bytes. headers: a dict or a list of (name, value)."""
    if ":" in host:  # an IPv6 literal
        hostport = "[%s]" % host
    else:
        hostport = host
    if port != (443 if secure else 80):
        hostport = "%s:%d" % (hostport, port)
    lines = [
        "GET %s HTTP/1.1" % resource,
        "Host: " + hostport,
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Key: " + key,
        "Sec-WebSocket-Version: 13",
    ]
    if origin is not None:
        _check_value("Origin", origin)
        lines.append("Origin: " + origin)
    if subprotocols:
        for p in subprotocols:
            _check_token("subprotocol", p)
        lines.append("Sec-WebSocket-Protocol: " + ", ".join(subprotocols))
    if headers:
        items = headers.items() if hasattr(headers, "items") else headers
        for name, value in items:
            _check_token("header name", name)
            if name.lower() in _RESERVED:
                raise LocalProtocolError("header %s is set by the client itself" % name)
            value = str(value)
            _check_value(name, value)
            lines.append("%s: %s" % (name, value))
    lines.append("\r\n")
    return "\r\n".join(lines).encode()


def parse_response(head):
    """(status, reason, headers) from the response head (bytes, without the blank line).

    Header names are lowercased; repeated headers are joined with ", ".
    """
    try:
        text = head.decode()
    except UnicodeError:
        raise HandshakeError("the response header is not valid text")
    lines = text.split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or parts[0] not in ("HTTP/1.1", "HTTP/1.0"):
        raise HandshakeError("not an HTTP response: %r" % lines[0][:60])
    code = parts[1]
    if len(code) != 3 or not code.isdigit():
        raise HandshakeError("bad HTTP status %r" % code[:20])
    status = int(code)
    reason = parts[2] if len(parts) > 2 else ""
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise HandshakeError("malformed response header line %r" % line[:60], status, reason)
        name = name.lower()
        value = value.strip()
        if name in headers:
            headers[name] = headers[name] + ", " + value
        else:
            headers[name] = value
    return status, reason, headers


def _tokens(value):
    return [t.strip().lower() for t in value.split(",")]


def check_response(status, reason, headers, key, subprotocols=None):
    """The negotiated subprotocol (or None); HandshakeError unless the upgrade is valid."""
    if status != 101:
        if 300 <= status < 400:
            why = "redirected to %s" % headers.get("location", "?")
        elif status in (401, 403):
            why = "not authorised"
        elif status in (429, 503) and "retry-after" in headers:
            why = "retry after %s" % headers["retry-after"]
        else:
            why = "upgrade refused"
        raise HandshakeError("HTTP %d %s: %s" % (status, reason, why), status, reason, headers)

    def fail(why):
        raise HandshakeError("invalid upgrade response: " + why, status, reason, headers)

    if "websocket" not in _tokens(headers.get("upgrade", "")):
        fail("Upgrade header is %r, not websocket" % headers.get("upgrade"))
    if "upgrade" not in _tokens(headers.get("connection", "")):
        fail("Connection header is %r, not upgrade" % headers.get("connection"))
    got = headers.get("sec-websocket-accept")
    if got is None:
        fail("no Sec-WebSocket-Accept")
    if got != accept_key(key):
        fail("Sec-WebSocket-Accept %r does not match the key" % got)
    if "sec-websocket-extensions" in headers:
        fail("extension %r was not offered" % headers["sec-websocket-extensions"])
    proto = headers.get("sec-websocket-protocol")
    if proto is None:
        return None
    if not subprotocols or proto not in subprotocols:
        fail("subprotocol %r was not offered" % proto)
    return proto
