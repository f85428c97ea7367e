"""Typed errors: whose fault it is (caller, peer, network) and what the caller can do."""


class WebSocketError(Exception):
    """Base class of every error this package raises."""


class LocalProtocolError(WebSocketError):
    """The caller misused the API (sent after close, bad close code, wrong state)."""


class InvalidURL(WebSocketError):
    """The URL cannot be used for a WebSocket connection."""

    def __init__(self, url, why):
        super().__init__("invalid WebSocket URL %r: %s" % (url, why))
        self.url = url
        self.why = why


class HandshakeError(WebSocketError):
    """The server did not accept the opening handshake.

    status is the HTTP status (None when the response was malformed), location is set for
    redirects, retry_after (seconds, or None) for 429/503.
    """

    def __init__(self, message, status=None, reason="", headers=None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.reason = reason
        self.headers = headers or {}
        self.location = self.headers.get("location")
        self.retry_after = _seconds(self.headers.get("retry-after"))


def _seconds(value):
    # Retry-After is either delta-seconds or an HTTP date; only the former is usable here.
    if value is None:
        return None
    try:
        n = int(value.strip())
    except ValueError:
        return None
    return n if n >= 0 else None


class ConnectionClosed(WebSocketError):
    """The connection is closed: code and reason as received (1006 when it just dropped)."""

    def __init__(self, code, reason="", clean=None):
        if clean is None:
            clean = code in (1000, 1001)
        super().__init__("connection closed: %d %s" % (code, reason))
        self.code = code
        self.reason = reason
        self.clean = clean


class WebSocketTimeout(WebSocketError):
    """An operation did not complete in time (connect, handshake, close or keepalive)."""

    def __init__(self, what, seconds):
        super().__init__("%s timed out after %s s" % (what, seconds))
        self.what = what
        self.seconds = seconds


class TLSError(WebSocketError):
    """The TLS connection failed: bad certificate, wrong host name or pin mismatch."""
