"""Events the protocol core produces: immutable nouns that compare with ==."""


class Event:
    _fields = ()

    def __eq__(self, other):
        if type(other) is not type(self):
            return False
        for name in self._fields:
            if getattr(self, name) != getattr(other, name):
                return False
        return True

    def __repr__(self):
        parts = ["%s=%r" % (name, getattr(self, name)) for name in self._fields]
        return "%s(%s)" % (type(self).__name__, ", ".join(parts))


class Accepted(Event):
    """The server accepted the opening handshake."""

    _fields = ("subprotocol", "headers")

    def __init__(self, subprotocol=None, headers=None):
        self.subprotocol = subprotocol
        self.headers = headers or {}


class TextMessage(Event):
    """A complete text message (str)."""

    _fields = ("data",)

    def __init__(self, data):
        self.data = data


class BytesMessage(Event):
    """A complete binary message (bytes)."""

    _fields = ("data",)

    def __init__(self, data):
        self.data = data


class Ping(Event):
    """The peer pinged; the core has already queued the pong."""

    _fields = ("payload",)

    def __init__(self, payload=b""):
        self.payload = payload


class Pong(Event):
    """The peer answered a ping (or sent an unsolicited pong): a sign of life."""

    _fields = ("payload",)

    def __init__(self, payload=b""):
        self.payload = payload


class CloseConnection(Event):
    """The connection is closing or closed.

    code/reason are the peer's close frame, or the code we failed the connection with
    (by_peer False): 1002 protocol error, 1007 bad UTF-8, 1009 too big, 1006 dropped.
    """

    _fields = ("code", "reason", "by_peer")

    def __init__(self, code, reason="", by_peer=True):
        self.code = code
        self.reason = reason
        self.by_peer = by_peer
