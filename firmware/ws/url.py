"""ws:// and wss:// URLs (RFC 6455 3): parsed and checked, with a clear error for each fault."""

from ws.errors import InvalidURL


class URL:
    """A parsed WebSocket URL: secure, host (IPv6 without brackets), port, resource."""

    def __init__(self, secure, host, port, resource):
        self.secure = secure
        self.host = host
        self.port = port
        self.resource = resource  # path and query, as sent in the request line

    def __eq__(self, other):
        return isinstance(other, URL) and (self.secure, self.host, self.port, self.resource) == (
            other.secure,
            other.host,
            other.port,
            other.resource,
        )

    def __repr__(self):
        return "URL(secure=%r, host=%r, port=%r, resource=%r)" % (
            self.secure,
            self.host,
            self.port,
            self.resource,
        )


def parse_url(url):
    """A URL from a ws:// or wss:// string; InvalidURL explains what is wrong."""
    if not isinstance(url, str):
        raise InvalidURL(url, "a URL must be a str")
    for ch in url:
        if ord(ch) <= 32 or ord(ch) == 127:
            raise InvalidURL(url, "spaces and control characters are not allowed")
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise InvalidURL(url, "no scheme: expected ws:// or wss://")
    scheme = scheme.lower()
    if scheme == "ws":
        secure = False
    elif scheme == "wss":
        secure = True
    else:
        raise InvalidURL(url, "scheme %r is not ws or wss" % scheme)
    if "#" in rest:
        raise InvalidURL(url, "fragments (#...) are not allowed in WebSocket URLs")
    i = 0
    while i < len(rest) and rest[i] not in "/?":
        i += 1
    authority = rest[:i]
    resource = rest[i:]
    if resource.startswith("?"):
        resource = "/" + resource
    if not resource:
        resource = "/"
    if "@" in authority:
        raise InvalidURL(url, "user information (user@host) is not supported; use headers")
    if authority.startswith("["):
        close = authority.find("]")
        if close < 0:
            raise InvalidURL(url, "unclosed [ in an IPv6 address")
        host = authority[1:close]
        after = authority[close + 1 :]
        if not host or ":" not in host:
            raise InvalidURL(url, "%r is not an IPv6 address" % host)
        for ch in host:
            if ch not in "0123456789abcdefABCDEF:.":
                raise InvalidURL(url, "%r is not an IPv6 address" % host)
        if after and not after.startswith(":"):
            raise InvalidURL(url, "unexpected %r after the IPv6 address" % after)
        port_text = after[1:] if after else None
    else:
        host, sep, port_text = authority.partition(":")
        if not sep:
            port_text = None
        if "[" in host or "]" in host:
            raise InvalidURL(url, "IPv6 addresses must be written in [brackets]")
    if not host:
        raise InvalidURL(url, "no host")
    if port_text is None:
        port = 443 if secure else 80
    else:
        if not port_text.isdigit():
            raise InvalidURL(url, "port %r is not a number" % port_text)
        port = int(port_text)
        if not 0 < port < 65536:
            raise InvalidURL(url, "port %d is out of range 1-65535" % port)
    return URL(secure, host.lower(), port, resource)
