"""Helpers for the portable tests (CPython and MicroPython): server frames, handshakes, raises."""

from ws.handshake import accept_key
from ws.protocol import OPEN, ClientProtocol

FIXED_MASK = b"\x37\xfa\x21\x3d"  # the key of the examples in RFC 6455 5.7


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


def accept_response(request, extra=""):
    """A valid 101 response to the client's request bytes."""
    key = None
    for line in request.split(b"\r\n"):
        if line.lower().startswith(b"sec-websocket-key:"):
            key = line.split(b":", 1)[1].strip().decode()
    return (
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Accept: %s\r\n%s\r\n" % (accept_key(key), extra)
    ).encode()


def open_client(**kwargs):
    """A client protocol past the handshake (OPEN), its request already taken."""
    p = ClientProtocol("example.com", 80, "/", random_bytes=fixed_random, **kwargs)
    p.receive_data(accept_response(p.data_to_send()))
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
        p.receive_data(data[i : i + step])
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
