"""Frame writing (RFC 6455 5.2): header and masked payload in one reusable buffer."""

from compat import const
from ws.errors import LocalProtocolError
from ws.mask import mask16

OP_CONT = const(0)
OP_TEXT = const(1)
OP_BINARY = const(2)
OP_CLOSE = const(8)
OP_PING = const(9)
OP_PONG = const(10)

_KEY = const(12)  # the mask key sits right before the payload...
_DATA = const(16)  # ...which starts on a word boundary

# A str exposes its UTF-8 bytes to memoryview on MicroPython (no copy); CPython must encode.
try:
    memoryview("")
    as_bytes = memoryview
except TypeError:

    def as_bytes(s):
        return s.encode()


def check_close_code(code):
    """True for the codes an endpoint may send in a close frame (RFC 6455 7.4)."""
    return 1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999


def close_payload(code, reason=""):
    """The payload of a close frame, checked: LocalProtocolError for a bad code or long reason."""
    if code is None:
        return b""
    if not check_close_code(code):
        raise LocalProtocolError("close code %r may not be sent" % (code,))
    r = reason.encode()
    if len(r) > 123:
        raise LocalProtocolError("close reason is %d bytes, at most 123 fit" % len(r))
    return bytes((code >> 8, code & 255)) + r


def _header(buf, b0, n):
    # Writes the header right before the key; returns where the frame starts.
    if n < 126:
        buf[_KEY - 2] = b0
        buf[_KEY - 1] = 0x80 | n
        return _KEY - 2
    if n < 65536:
        buf[_KEY - 4] = b0
        buf[_KEY - 3] = 0xFE
        buf[_KEY - 2] = n >> 8
        buf[_KEY - 1] = n & 255
        return _KEY - 4
    buf[_KEY - 10] = b0
    buf[_KEY - 9] = 0xFF
    buf[_KEY - 8 : _KEY] = n.to_bytes(8, "big")
    return _KEY - 10


class FrameWriter:
    """Builds client frames in one buffer; the view returned is valid until the next call."""

    def __init__(self, random_bytes, capacity=256):
        self._rand = random_bytes
        self._buf = bytearray(_DATA + capacity)
        self._mv = memoryview(self._buf)
        self._keys = b""  # random bytes drawn 256 at a time: one allocation per 64 frames
        self._k = 0

    def _key(self, buf):
        k = self._k
        if k == len(self._keys):
            self._keys = self._rand(256)
            k = 0
        keys = self._keys
        buf[_KEY] = keys[k]
        buf[_KEY + 1] = keys[k + 1]
        buf[_KEY + 2] = keys[k + 2]
        buf[_KEY + 3] = keys[k + 3]
        self._k = k + 4

    def frame(self, opcode, data, fin=True):
        """One masked frame holding data (bytes-like), as a memoryview of the buffer."""
        # Few locals on purpose: MicroPython heap-allocates the frames of bigger functions.
        n = len(data)
        if _DATA + n > len(self._buf):
            self._buf = bytearray(_DATA + n)
            self._mv = memoryview(self._buf)
        mv = self._mv
        if n:
            mv[_DATA : _DATA + n] = data
        self._key(self._buf)
        mask16(self._buf, n)
        return mv[_header(self._buf, opcode | 0x80 if fin else opcode, n) : _DATA + n]

    def message(self, opcode, data, fragment_size):
        """The frames of one message; over fragment_size bytes it is split (a new bytearray)."""
        n = len(data)
        if n <= fragment_size:
            return self.frame(opcode, data)
        out = bytearray()
        mv = memoryview(data)
        off = 0
        while off < n:
            end = off + fragment_size
            out.extend(self.frame(opcode, mv[off:end], end >= n))
            opcode = OP_CONT
            off = end
        return out
