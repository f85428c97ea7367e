"""Helpers for the portable tests (CPython and MicroPython): server frames, handshakes, raises."""

from ws.handshake import accept_key
from ws.protocol import ClientProtocol

FIXED_MASK = b"\x37\xfa\x21\x3d"  # the key of the examples in RFC 6455 5.7

# Opcodes (RFC 6455 5.2), also the first item of ws.protocol's control events, and its states.
OP_CONT = 0
OP_TEXT = 1
OP_BINARY = 2
OP_CLOSE = 8
OP_PING = 9
OP_PONG = 10
ACCEPTED = 101
CONNECTING = 0
OPEN = 1
CLOSING = 2
CLOSED = 3


class events:
    """ws.protocol's events under the names the tests read like the RFC: a message is the str
    or bytes itself, every other event a tuple led by its opcode (101 for the handshake)."""

    @staticmethod
    def TextMessage(text):
        assert isinstance(text, str)
        return text

    @staticmethod
    def BytesMessage(data):
        return bytes(data)

    @staticmethod
    def Ping(payload=b""):
        return (OP_PING, payload)

    @staticmethod
    def Pong(payload=b""):
        return (OP_PONG, payload)

    @staticmethod
    def CloseConnection(code, reason="", by_peer=True):
        return (OP_CLOSE, code, reason, by_peer)

    @staticmethod
    def Accepted(subprotocol=None, headers=None):
        return (ACCEPTED, subprotocol, headers or {})


def is_close(ev):
    """True for the close event (OP_CLOSE, code, reason, by_peer)."""
    return type(ev) is tuple and ev[0] == OP_CLOSE


def fixed_random(n):
    """Deterministic 'random' bytes: the RFC's mask key, repeated."""
    return (FIXED_MASK * (n // 4 + 1))[:n]


def raises(exc_type, fn, *args, **kwargs):
    """Call fn and return the exception of exc_type it raised; fail if it raised nothing."""
    try:
        fn(*args, **kwargs)
    except exc_type as e:
        return e
    raise AssertionError("%s was not raised" % exc_type.__name__)


def give(p, data):
    """Feed bytes to protocol p as a socket loop does (readinto recv_buffer(), then received(n));
    b"" or None: the peer closed the TCP connection."""
    if not data:
        p.received(0)
        return
    mv = memoryview(data)
    while len(mv):
        buf = p.recv_buffer()
        n = min(len(buf), len(mv))
        buf[0:n] = mv[0:n]
        p.received(n)
        mv = mv[n:]


def server_frame(opcode, payload=b"", fin=True, rsv=0, mask=None, length=None):
    """An unmasked (or deliberately masked) frame as a server would send it."""
    n = len(payload) if length is None else length
    b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
    mbit = 0x80 if mask else 0
    if n < 126:
        head = bytes((b0, mbit | n))
    elif n < 65536:
        head = bytes((b0, mbit | 126, n >> 8, n & 255))
    else:
        head = bytes((b0, mbit | 127)) + n.to_bytes(8, "big")
    if mask:
        payload = bytes(payload[i] ^ mask[i % 4] for i in range(len(payload)))
        head += mask
    return head + payload


def request_key(request):
    """The Sec-WebSocket-Key of the client's request bytes."""
    for line in request.split(b"\r\n"):
        if line.lower().startswith(b"sec-websocket-key:"):
            return line.split(b":", 1)[1].strip().decode()
    raise AssertionError("no Sec-WebSocket-Key in %r" % request)


def accept_response(request, extra=""):
    """A valid 101 response to the client's request bytes."""
    return (
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Accept: %s\r\n%s\r\n" % (accept_key(request_key(request)), extra)
    ).encode()


def open_client(**kwargs):
    """A client protocol past the handshake (OPEN), its request already taken."""
    p = ClientProtocol("example.com", 80, "/", random_bytes=fixed_random, **kwargs)
    give(p, accept_response(p.data_to_send()))
    ev = p.next_event()
    assert p.state == OPEN, ev
    return p


def events_of(p, data=None, step=None):
    """Feed data (all at once, or step bytes at a time) and collect every event."""
    out = []
    if data is None:
        data = b""
        step = None
    if step is None:
        step = len(data) or 1
    for i in range(0, len(data), step):
        give(p, data[i : i + step])
        while True:
            ev = p.next_event()
            if ev is None:
                break
            out.append(ev)
    return out


def _lengths(frame):
    # (header length before the key, payload length) of one client frame.
    n = frame[1] & 0x7F
    if n == 126:
        return 4, (frame[2] << 8) | frame[3]
    if n == 127:
        return 10, int.from_bytes(frame[2:10], "big")
    return 2, n


def unmask(frame):
    """(fin, opcode, payload) of one client frame, unmasking it; checks the mask bit is set."""
    assert frame[1] & 0x80, "client frames must be masked"
    i, n = _lengths(frame)
    key = frame[i : i + 4]
    data = frame[i + 4 : i + 4 + n]
    assert len(data) == n, "frame is truncated"
    payload = bytes(data[j] ^ key[j % 4] for j in range(n))
    return bool(frame[0] & 0x80), frame[0] & 0x0F, payload


def split_frames(data):
    """Split concatenated client frames into a list of (fin, opcode, payload)."""
    out = []
    data = bytes(data)
    while data:
        i, n = _lengths(data)
        size = i + 4 + n
        out.append(unmask(data[:size]))
        data = data[size:]
    return out
