"""The opening handshake (RFC 6455 4.1, 4.2.2): the request, the response, the upgrade.

Runs only while a connection opens: ClientProtocol imports this module in its CONNECTING state
and ws.client.connect() for the upgrade (after ws.dial made the TCP/TLS connection), then drops
it from the heap again. start, accept and check_response are sans-I/O.
"""

# Few module-level names (imports are local, the errors come through ws.protocol): the fewer,
# the smaller the table this module needs while it is loaded.
from ws import protocol


def accept_key(key):
    """The Sec-WebSocket-Accept value a server must answer to key."""
    import binascii
    import hashlib

    key = hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()
    return binascii.b2a_base64(key)[:-1].decode()


def _check(what, value, mode):
    # A token (mode True: header name, subprotocol) or a header value the request can carry.
    if mode and not value:
        raise protocol.LocalProtocolError("empty %s in the request" % what)
    for c in value.encode():  # bytes: iterating a str makes every character an interned name
        if c in b"\r\n\0":
            raise protocol.LocalProtocolError("%s %r: line breaks are not allowed in a value" % (what, value))
        if mode and (c in b'()<>@,;:\\"/[]?={} \t' or c < 33 or c > 126):
            raise protocol.LocalProtocolError("invalid character %r in %s %r" % (chr(c), what, value))


def start(
    p,
    host,
    port,
    resource,
    secure=False,
    origin=None,
    subprotocols=None,
    headers=None,
    max_message_size=None,
    fragment_size=None,
    max_header_size=None,
    rx_buffer_size=None,
):
    """Set up ws.protocol.ClientProtocol p: its limits, its key; returns its request (bytes).

    headers: a dict or a list of (name, value)."""
    if max_message_size is not None:
        p.max_message_size = max_message_size
    if fragment_size is not None:
        if fragment_size < 1:
            raise protocol.LocalProtocolError("fragment_size must be at least 1, not %r" % fragment_size)
        p.fragment_size = fragment_size
    if max_header_size is not None:
        p.max_header_size = max_header_size
    if rx_buffer_size is not None:
        p.rx_buffer_size = rx_buffer_size
    import binascii

    key = binascii.b2a_base64(p.random(16))[:-1].decode()  # Sec-WebSocket-Key
    p.message = (key, subprotocols)  # while connecting: what the response must match
    p.count = 0  # while connecting: where to look for the blank line next
    if ":" in host:  # an IPv6 literal goes in brackets
        host = "[" + host + "]"
    if port != (443 if secure else 80):
        host += ":" + str(port)
    out = [
        "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n" % (resource, host, key)
    ]
    if origin is not None:
        _check("Origin", origin, False)
        out.append("Origin: %s\r\n" % origin)
    if subprotocols:
        for host in subprotocols:
            _check("subprotocol", host, True)
        out.append("Sec-WebSocket-Protocol: %s\r\n" % ", ".join(subprotocols))
    for host, port in (headers.items() if hasattr(headers, "items") else headers) if headers else ():
        _check("header name", host, True)
        # The headers the client sets itself, in one string (one object, not seven).
        if " %s " % host.lower() in (
            " host upgrade connection sec-websocket-key sec-websocket-version"
            " sec-websocket-protocol sec-websocket-extensions "
        ):
            raise protocol.LocalProtocolError("header %s is set by the client itself" % host)
        port = str(port)
        _check(host, port, False)
        out.append("%s: %s\r\n" % (host, port))
    out.append("\r\n")
    return "".join(out).encode()


def _refused(message, status=None, reason="", headers=None):
    # A HandshakeError with its status, reason, headers, location and retry_after.
    e = protocol.HandshakeError(message)
    e.status = status
    e.reason = reason
    e.headers = headers = headers or {}
    e.location = headers.get("location")
    e.retry_after = None
    message = headers.get("retry-after", "").strip()
    if message.isdigit():  # delta-seconds; an HTTP date is of no use here
        e.retry_after = int(message)
    return e


def check_response(head, key, subprotocols=None):
    """(subprotocol, headers) of the response head (bytes, without the blank line) to a
    request with key; HandshakeError unless it is a valid upgrade. Header names are
    lowercased; repeated headers are joined with ", "."""
    try:
        lines = head.decode().split("\r\n")
    except UnicodeError:
        raise _refused("the response header is not valid text")
    head = lines[0].split(" ", 2)
    if len(head) < 2 or head[0] not in ("HTTP/1.1", "HTTP/1.0"):
        raise _refused("not an HTTP response: %r" % lines[0][:60])
    if len(head[1]) != 3 or not head[1].isdigit():
        raise _refused("bad HTTP status %r" % head[1][:20])
    status = int(head[1])
    reason = head[2] if len(head) > 2 else ""
    headers = {}
    for line in lines[1:]:
        i = line.find(":")
        if i < 1 or line[:i] != line[:i].strip():
            raise _refused("malformed response header line %r" % line[:60], status, reason)
        head = line[:i].lower()
        line = line[i + 1 :].strip()
        headers[head] = headers[head] + ", " + line if head in headers else line
    if status != 101:
        if 300 <= status < 400:
            why = "redirected to %s" % headers.get("location", "?")
        elif status in (401, 403):
            why = "not authorised"
        elif status in (429, 503) and "retry-after" in headers:
            why = "retry after %s" % headers["retry-after"]
        else:
            why = "upgrade refused"
        raise _refused("HTTP %d %s: %s" % (status, reason, why), status, reason, headers)
    why = None
    for name, token in (("Upgrade", "websocket"), ("Connection", "upgrade")):
        value = headers.get(name.lower())
        if token not in [t.strip().lower() for t in (value or "").split(",")]:
            why = "%s header is %r, not %s" % (name, value, token)
            break
    value = headers.get("sec-websocket-protocol")
    if why:
        pass
    elif headers.get("sec-websocket-accept") != accept_key(key):
        why = "Sec-WebSocket-Accept %r does not match the key" % headers.get("sec-websocket-accept")
    elif "sec-websocket-extensions" in headers:
        why = "extension %r was not offered" % headers["sec-websocket-extensions"]
    elif value is not None and (not subprotocols or value not in subprotocols):
        why = "subprotocol %r was not offered" % value
    if why:
        raise _refused("invalid upgrade response: " + why, status, reason, headers)
    return value, headers


def accept(p):
    """ClientProtocol p while connecting: None until the response head is in, then the
    (101, subprotocol, headers) event; HandshakeError if the server did not upgrade."""
    end = p.end
    i = p.buf.find(b"\r\n\r\n", p.count - 3 if p.count > 3 else 0, end)
    if i < 0:
        p.count = end
        if end <= p.max_header_size:
            if not p.done:
                return None
            p.state = 3  # CLOSED
            raise _refused("connection closed during the opening handshake")
        i = end
    p.state = 3  # CLOSED until proven acceptable
    if i > p.max_header_size:
        raise _refused("response header exceeds %d bytes" % p.max_header_size)
    end = check_response(bytes(p.buffer[0:i]), p.message[0], p.message[1])
    p.pos = i + 4  # what follows the blank line is the first frame
    p.message = None
    p.count = 0
    p.state = 1  # OPEN
    return (101, end[0], end[1])


# ---- the upgrade on a connected socket (ws.client.connect) -------------------------------------


async def _upgrade(ws):
    # Send the request, then read until the response head is in (HandshakeError if refused).
    from ws.client import _read, _writable

    p = ws._p
    s = ws.sock
    data = p.data_to_send()
    while data:
        n = s.write(data)
        if n:
            data = data[n:]
        else:
            await _writable(s)
    while True:
        data = p.next_event()
        if data is not None:
            ws.subprotocol = data[1]
            ws.response_headers = data[2]
            return
        p.received(await _read(s, p.recv_buffer()))


async def upgrade(s, target, opts):
    """The opening handshake on socket s to target (host, port, resource, secure) for
    ws.client.connect(), with the options it left in the dict opts: the open WebSocket."""
    try:
        return await _upgrade_to(s, target, opts)
    finally:
        import sys

        # Leave the heap: out of sys.modules and out of the package.
        if sys.modules.pop("ws.handshake", None) and hasattr(sys.modules["ws"], "handshake"):
            delattr(sys.modules["ws"], "handshake")


async def _upgrade_to(s, target, opts):
    import asyncio
    import os

    from ws import client

    host, port, resource, secure = target
    opt = opts.pop
    p = None
    try:
        p = protocol.ClientProtocol(
            host,
            port,
            resource,
            random_bytes=opt("random_bytes", None) or os.urandom,
            secure=secure,
            origin=opt("origin", None),
            subprotocols=opt("subprotocols", None),
            headers=opt("headers", None),
            max_message_size=opt("max_message_size", None),
            fragment_size=opt("fragment_size", None),
            rx_buffer_size=opt("rx_buffer_size", None),
        )
        ws = client.WebSocket(s, p, opt("close_timeout", 5))
        # MicroPython's TLS socket never reports the server's close_notify as the end of the
        # stream, and the server waits for ours: waiting for it would only run into the timeout.
        ws.wait_eof = not secure or client._core is None
        interval = opt("ping_interval", None)
        timeout = opt("ping_timeout", None)
        handshake_timeout = opt("handshake_timeout", 10)
        for name in opts:
            raise TypeError("connect() got an unexpected keyword argument %r" % name)
        await client._within(_upgrade(ws), handshake_timeout, "handshake")
    except (OSError, ValueError) as e:
        # MicroPython reports certificate failures as ValueError/OSError on the first I/O.
        s.close()
        if p is not None:
            p.release()  # its buffers go to the next attempt
        if secure:
            raise protocol.TLSError("TLS handshake failed: %s" % (str(e).strip() or repr(e),))
        if isinstance(e, ValueError):
            raise
        error = protocol.ConnectFailed("cannot connect to %s:%s: %s" % (host, port, e))
        error.error = e
        error.errno = getattr(e, "errno", None)
        raise error
    except BaseException:
        s.close()
        if p is not None:
            p.release()
        raise
    if interval:  # keepalive pings every ping_interval s, dead after ping_timeout s (default: the same)
        ws.coro = asyncio.create_task(ws._keep_alive(interval, interval if timeout is None else timeout))
    return ws
