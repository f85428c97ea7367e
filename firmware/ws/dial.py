"""Dialling a WebSocket server: the ws:// or wss:// URL, then TCP (and TLS) to it.

ws.client.connect() imports this module for the time it dials, then drops it from the heap
before the opening handshake (ws.handshake) loads: the two never take room at the same time.
parse_url is sans-I/O.
"""

from ws import protocol  # the errors, through one module-level name


def _invalid(url, why):
    e = protocol.InvalidURL("invalid WebSocket URL %r: %s" % (url, why))
    e.url = url
    e.why = why
    return e


def parse_url(url):
    """(secure, host, port, resource) of a ws:// or wss:// URL; InvalidURL says what is wrong.

    host is lowercase (an IPv6 address without brackets); resource is the path and query."""
    if not isinstance(url, str):
        raise _invalid(url, "a URL must be a str")
    # Bytes, not characters: iterating a str makes every character a new interned name.
    for c in url.encode():
        if c <= 32 or c == 127:
            raise _invalid(url, "spaces and control characters are not allowed")
        if c == 35:  # "#"
            raise _invalid(url, "fragments (#...) are not allowed in WebSocket URLs")
    i = url.find("://")
    if i < 0:
        raise _invalid(url, "no scheme: expected ws:// or wss://")
    secure = url[:i].lower()
    if secure[:2] != "ws" or secure[2:] not in ("", "s"):
        raise _invalid(url, "scheme %r is not ws or wss" % secure)
    secure = len(secure) == 3
    rest = url[i + 3 :]
    i = rest.find("/")
    if i < 0 or 0 <= rest.find("?") < i:
        i = rest.find("?")
    if i < 0:
        i = len(rest)
    host = rest[:i]
    rest = rest[i:] if rest[i : i + 1] != "?" else "/" + rest[i:]
    if "@" in host:
        raise _invalid(url, "user information (user@host) is not supported; use headers")
    port = None
    if host[:1] == "[":
        i = host.find("]")
        if i < 0:
            raise _invalid(url, "unclosed [ in an IPv6 address")
        if host[i + 1 :]:
            if host[i + 1 : i + 2] != ":":
                raise _invalid(url, "unexpected %r after the IPv6 address" % host[i + 1 :])
            port = host[i + 2 :]
        host = host[1:i]
        if ":" not in host or host.strip("0123456789abcdefABCDEF:."):
            raise _invalid(url, "%r is not an IPv6 address" % host)
    else:
        if "[" in host or "]" in host:
            raise _invalid(url, "IPv6 addresses must be written in [brackets]")
        i = host.find(":")
        if i >= 0:
            port = host[i + 1 :]
            host = host[:i]
    if not host:
        raise _invalid(url, "no host in the URL")
    if port is None:
        port = 443 if secure else 80
    elif not port.isdigit():
        raise _invalid(url, "port %r is not a number" % port)
    elif not 0 < int(port) < 65536:
        raise _invalid(url, "port %s is out of range 1-65535" % port)
    return secure, host.lower(), int(port), rest or "/"


async def _open(host, port, tls):
    # MicroPython: a connected non-blocking socket (TLS: wrapped, its handshake on first I/O).
    import socket

    from ws.client import _writable

    ai = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)[0]
    s = socket.socket(ai[0], socket.SOCK_STREAM)
    try:
        try:  # one write per frame already avoids the Nagle/delayed-ACK stall; this makes sure
            s.setsockopt(6, 1, 1)  # IPPROTO_TCP, TCP_NODELAY
        except (OSError, AttributeError):
            pass
        s.setblocking(False)
        try:
            s.connect(ai[-1])
        except OSError as e:
            if e.errno != 115 and e.errno != 119:  # EINPROGRESS on Linux and on lwIP
                raise
        if tls is not None:
            from ws.tls import micropython_context

            try:
                ctx = micropython_context(tls)
                s = ctx.wrap_socket(
                    s, server_hostname=tls.server_hostname or host, do_handshake_on_connect=False
                )
            except OSError as e:
                raise protocol.TLSError("TLS set-up failed: %s" % (e,))
            s.setblocking(False)
        await _writable(s)
    except BaseException:
        s.close()
        raise
    return s


async def connect(url, opts):
    """Dial url for ws.client.connect(): (socket, (host, port, resource, secure)). Takes its
    own options out of the dict opts: cadata, fingerprint, insecure, server_hostname,
    connect_timeout."""
    from ws import client

    try:
        return await _dial(client, url, opts)
    finally:
        _unload("ws.dial", "ws.tls")


def _unload(*names):
    # Leave the heap: out of sys.modules and out of the package (ws.handshake does the same).
    import sys

    for name in names:
        if sys.modules.pop(name, None) and hasattr(sys.modules["ws"], name[3:]):
            delattr(sys.modules["ws"], name[3:])


async def _dial(client, url, opts):
    secure, host, port, url = parse_url(url)
    tls = None
    cadata = opts.pop("cadata", None)
    fingerprint = opts.pop("fingerprint", None)
    insecure = opts.pop("insecure", False)
    server_hostname = opts.pop("server_hostname", None)
    if secure:
        from ws.tls import TLSConfig

        tls = TLSConfig(cadata, fingerprint, insecure, server_hostname)
    opener = _open
    if client._core is None:  # CPython: asyncio streams and the ssl module
        from ws._cpython import _open as opener
    try:
        s = await client._within(opener(host, port, tls), opts.pop("connect_timeout", 10), "connect")
    except OSError as e:
        url = protocol.ConnectFailed("cannot connect to %s:%s: %s" % (host, port, e))
        url.error = e
        url.errno = getattr(e, "errno", None)
        raise url
    return s, (host, port, url, secure)
