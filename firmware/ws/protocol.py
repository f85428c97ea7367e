"""Sans-I/O WebSocket client (RFC 6455): bytes in, events out, frames to send out.

No sockets, clocks or global randomness: the caller passes random_bytes(n), reads into
recv_buffer() and reports received(n), takes next_event() until None, and writes
data_to_send() and the frames that send(), ping() and close() return.

Events are plain values that compare with ==: a str is a text message, bytes a binary message;
(9, payload) a ping (its pong is queued already), (10, payload) a pong, (8, code, reason,
by_peer) the close, and first of all (101, subprotocol, headers), the accepted handshake.
States: 0 CONNECTING, 1 OPEN, 2 CLOSING (our close frame is sent), 3 CLOSED.

This module is all the board keeps of the core while a connection is open: the opening
handshake lives in ws.handshake, imported only while connecting. It also holds the package's
errors, the masking and the strict UTF-8 check.
"""

from compat import const

_CONT = const(0)
_TEXT = const(1)
_BINARY = const(2)
_CLOSE = const(8)
_PING = const(9)
_PONG = const(10)
_CONNECTING = const(0)
_OPEN = const(1)
_CLOSING = const(2)
_CLOSED = const(3)

# Why the core fails a connection (the reason of its close frame), by number.
_DROPPED = const(0)
_RSV = const(1)
_MASKED = const(2)
_SPLIT_CONTROL = const(3)
_LONG_CONTROL = const(4)
_ONE_BYTE_CLOSE = const(5)
_NO_MESSAGE = const(6)
_NEW_MESSAGE = const(7)
_MSB = const(8)
_BAD_TEXT = const(9)
_BAD_REASON = const(10)
_UNFINISHED = const(11)
_TOO_BIG = const(12)
_WHY = (  # one string: one object, where each string would be one
    "connection dropped without a close frame\n"
    "reserved bits set\n"
    "masked frame from the server\n"
    "fragmented control frame\n"
    "control frame longer than 125 bytes\n"
    "close frame with a 1-byte payload\n"
    "continuation frame without a message to continue\n"
    "new message inside a fragmented message\n"
    "frame length with the most significant bit set\n"
    "invalid UTF-8 in a text message\n"
    "invalid UTF-8 in the close reason\n"
    "text message ends inside a UTF-8 sequence\n"
    "message over %d bytes"
)


# ---- errors: one shallow hierarchy; each says whose fault it is ------------------------------


class WebSocketError(Exception):
    """Base class of every error of this package."""


class LocalProtocolError(WebSocketError):
    """The caller misused the API: sent when not open, a bad close code or header."""


class InvalidURL(WebSocketError):
    """The URL cannot be used for a WebSocket: .url, .why."""


class ConnectFailed(WebSocketError):
    """No TCP connection (refused, unreachable, name not found): .error (the OSError), .errno."""


class TLSError(WebSocketError):
    """wss:// failed: certificate refused, wrong host name, pin mismatch, unusable CA data."""


class HandshakeError(WebSocketError):
    """The server did not accept the upgrade: .status (None if the response was malformed),
    .reason, .headers, .location (redirects), .retry_after (seconds or None; 429, 503)."""


class WebSocketTimeout(WebSocketError):
    """connect, handshake or close did not finish in time: .what, .seconds."""


class ConnectionClosed(WebSocketError):
    """The connection is over: .code and .reason as received (1006: it dropped), .clean."""

    def __init__(self, code, reason="", clean=None):
        super().__init__("connection closed: %d %s" % (code, reason))
        self.code = code
        self.reason = reason
        self.clean = code in (1000, 1001) if clean is None else clean


# ---- masking (RFC 6455 5.3), never byte by byte in Python --------------------------------------

# A frame is built with the key at [12:16] and the payload from [16], word-aligned for viper.
# The viper version is compiled on the device itself at import: the .mpy stays architecture-
# independent (plain mpy-cross) and one deployment serves ESP32, S3 and C3 alike.
try:  # detected once: MicroPython has the emitter; CPython has no micropython.viper
    import micropython  # noqa: F401 (the viper source below uses it)

    exec(
        """
@micropython.viper
def mask16(buf, n: int):
    s = ptr32(buf)
    t = ptr8(buf)
    e = s[3]
    r = 4
    f = 4 + (n >> 2)
    while r < f:
        s[r] = s[r] ^ e
        r += 1
    r <<= 2
    f = 16 + n
    while r < f:
        t[r] = t[r] ^ t[12 + (r & 3)]
        r += 1
"""
    )
    import gc

    gc.collect()  # the compiler's garbage goes now, before buffers need contiguous blocks
except (ImportError, NameError, SyntaxError, AttributeError, ValueError):
    from ws._cpython import mask16  # two big integers: about 3n bytes a frame

# A str exposes its UTF-8 bytes to memoryview on MicroPython (no copy); CPython must encode.
try:
    memoryview("")
    _utf8 = memoryview
except TypeError:
    _utf8 = str.encode


# ---- strict UTF-8 (RFC 3629) -------------------------------------------------------------------

# MicroPython's decoder only checks the byte structure: overlong forms, surrogates and code
# points above U+10FFFF get through. Detected once; CPython's decoder is already strict.
try:
    b"\xed\xa0\x80".decode()
    _LAX = True
except UnicodeError:
    _LAX = False


def _str(buf):
    try:
        return str(buf, "utf-8")
    except UnicodeError:
        return None


def decode_utf8(buf, start=0, end=None):
    """buf[start:end] (bytes or bytearray) as a str, or None unless it is strict UTF-8."""
    if end is None:
        end = len(buf)
    s = _str(memoryview(buf)[start:end])
    # All-ASCII text has as many characters as bytes and needs no further check.
    if s is not None and _LAX and len(s) != end - start:
        # Lead byte, then the lowest and highest byte that may follow it where that is not
        # 80..BF; "ff 00" after C0, C1 (overlong) and F5-F7 (above U+10FFFF): nothing may.
        t = b"\xe0\xa0\xbf\xed\x80\x9f\xf0\x90\xbf\xf4\x80\x8f\xc0\xff\x00\xc1\xff\x00\xf5\xff\x00\xf6\xff\x00\xf7\xff\x00"  # noqa: E501
        i = 0
        while i < 27:
            j = buf.find(t[i : i + 1], start, end)
            while j >= 0:
                c = buf[j + 1]  # structurally valid: a lead byte has its successor
                if c < t[i + 1] or c > t[i + 2]:
                    return None
                j = buf.find(t[i : i + 1], j + 2, end)
            i += 3
    return s


def utf8_cut(buf, start, end):
    """How far buf[start:end] is valid UTF-8: end, or where a trailing sequence starts that is not
    complete yet but still can be; -1 as soon as the bytes cannot be valid UTF-8."""
    i = end - 1
    while i >= start and i >= end - 3:
        c = buf[i]
        if c < 0x80:
            break
        if c >= 0xC0:  # the last lead byte: is its sequence complete, or can it still be?
            if end - i < (2 if c < 0xE0 else 3 if c < 0xF0 else 4):
                if c < 0xC2 or c > 0xF4:
                    return -1
                if end - i > 1:
                    n = buf[i + 1]
                    if n < (0xA0 if c == 0xE0 else 0x90 if c == 0xF0 else 0x80):
                        return -1
                    if n > (0x9F if c == 0xED else 0x8F if c == 0xF4 else 0xBF):
                        return -1
                end = i
            break
        i -= 1
    if end > start and decode_utf8(buf, start, end) is None:
        return -1
    return end


# ---- close frames (RFC 6455 5.5.1, 7.4) --------------------------------------------------------


def check_close_code(code):
    """True for the codes an endpoint may send in a close frame (RFC 6455 7.4)."""
    return 1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999


# ---- the protocol ------------------------------------------------------------------------------


_spare = [None, None]  # the receive and send buffers of the last connection released


class ClientProtocol:
    """One client connection's protocol state. Limits are public attributes, in bytes.

    ClientProtocol(host, port, resource="/", *, random_bytes, secure=False, origin=None,
    subprotocols=None, headers=None, max_message_size=None, fragment_size=None,
    max_header_size=None, rx_buffer_size=None): the request is in data_to_send() at once.
    Internal state has names the interpreter holds already: each new name costs heap.
    """

    max_message_size = 16384  # larger incoming messages fail the connection with 1009
    fragment_size = 4096  # larger outgoing messages are sent as several frames
    max_header_size = 4096  # larger handshake responses are refused
    rx_buffer_size = 1040  # a 1 KiB message and its header fit; larger frames stream through

    def __init__(self, host, port, resource="/", *, random_bytes, **options):
        from ws.handshake import start  # checks the options, sets the limits, builds the request

        self.state = _CONNECTING
        self.close_code = None
        self.close_reason = ""
        self.random = random_bytes
        self.keys = b""  # mask keys, drawn 256 random bytes at a time: one allocation per 64 frames
        self.index = 0  # the next key in keys
        self.pos = 0  # first unread byte in buf
        self.end = 0  # end of the bytes received
        self.done = False  # the peer closed the TCP connection
        self.flags = -1  # the frame being read: its first byte, -1 between frames
        self.count = 0  # payload bytes of that frame not consumed yet
        self.message = None  # the bytes so far of a message that comes in several frames
        self.length = 0  # how many bytes of the text being received are valid; -1: binary
        # Few attributes: past 17, the instance's table grows. While connecting, message and
        # count hold the handshake's state (ws.handshake).
        self.data = start(self, host, port, resource, **options)  # for data_to_send()
        n = self.rx_buffer_size
        if n < 256:
            n = 256  # a control frame always fits
        buf = _spare[0]  # a closed connection's buffers (release) are this one's
        _spare[0] = None  # one of another size (grown, or another rx_buffer_size) is let go
        if buf is None or len(buf) != n:
            buf = bytearray(n)
        self.buf = buf  # receive buffer
        self.buffer = memoryview(buf)
        buf = _spare[1]
        _spare[1] = None
        self.out_buf = buf or memoryview(bytearray(16 + 256))  # send buffer, grows to the largest frame

    def release(self):
        """The connection is over: nothing is parsed or sent any more, and the next ClientProtocol
        made gets its buffers. A board that reconnects then needs no new blocks for them in a
        heap that has fragmented meanwhile. ws.client calls this when a connection ends."""
        self.state = _CLOSED
        if self.buf is not None:  # once: a second call must not hand them out again
            _spare[0] = self.buf
            _spare[1] = self.out_buf
            self.buf = self.buffer = self.out_buf = None

    # ---- input -------------------------------------------------------------------------------

    def recv_buffer(self):
        """A writable memoryview to readinto(); then call received(n)."""
        pos = self.pos
        end = self.end
        if pos:
            end -= pos
            if end:
                self.buffer[0:end] = self.buffer[pos : pos + end]
            self.pos = 0
            self.end = end
        if end == len(self.buf):  # full: only a caller that skipped next_event() gets here
            buf = bytearray(2 * end)
            buf[0:end] = self.buf
            self.buf = buf
            self.buffer = memoryview(buf)
        return self.buffer[end:] if end else self.buffer  # usually all of it: nothing allocated

    def received(self, n):
        """n bytes were read into recv_buffer(); 0 means the peer closed the TCP connection."""
        if not n:
            self.done = True
        elif self.state != _CLOSED:  # after the close nothing is parsed: let the bytes go
            self.end += n

    # ---- output ------------------------------------------------------------------------------

    def data_to_send(self):
        """Bytes the core wants sent (the request, pongs, close frames); b"" when none."""
        data = self.data
        self.data = b""
        return data

    def send(self, data):
        """The frame(s) of a message, text for a str, binary for bytes-like: a view valid until
        the next frame is made (over fragment_size bytes: a new bytearray of fragments)."""
        op = _BINARY
        if isinstance(data, str):
            op = _TEXT
            data = _utf8(data)
        if len(data) <= self.fragment_size:
            return self._frame(op | 0x80, data)
        data = memoryview(data)
        out = bytearray()
        while data:  # few locals: MicroPython puts the frames of bigger functions on the heap
            out += self._frame(
                op if len(data) > self.fragment_size else op | 0x80, data[: self.fragment_size]
            )
            data = data[self.fragment_size :]
            op = _CONT
        return out

    def ping(self, data=b""):
        """A ping frame (up to 125 bytes of data): a view valid until the next frame is made."""
        if len(data) > 125:
            raise LocalProtocolError("ping payload is %d bytes, at most 125" % len(data))
        return self._frame(0x89, data)

    def close(self, code=1000, reason=""):
        """Start the closing handshake: the close frame to send (code None sends no status).
        LocalProtocolError for a code that may not be sent or a reason over 123 bytes."""
        data = b""
        if code is not None:
            if not check_close_code(code):
                raise LocalProtocolError("close code %r may not be sent" % (code,))
            data = bytes((code >> 8, code & 255)) + reason.encode()
            if len(data) > 125:
                raise LocalProtocolError("close reason is %d bytes, at most 123 fit" % (len(data) - 2))
        data = self._frame(0x88, data)
        self.state = _CLOSING
        self.close_code = 1005 if code is None else code
        self.close_reason = reason
        return data

    def _frame(self, head, data):
        # One masked frame in the send buffer: header (first byte head), key at [12:16],
        # payload from [16]. Few locals: MicroPython puts bigger functions' frames on the heap.
        if self.state != _OPEN:
            raise LocalProtocolError(
                "cannot send in state " + ("CONNECTING", "OPEN", "CLOSING", "CLOSED")[self.state]
            )
        n = len(data)
        if n + 16 > len(self.out_buf):
            self.out_buf = memoryview(bytearray(n + 16))
        buf = self.out_buf
        if n:
            buf[16 : 16 + n] = data
        i = self.index
        if i == len(self.keys):
            self.keys = self.random(256)
            i = 0
        buf[12] = self.keys[i]
        buf[13] = self.keys[i + 1]
        buf[14] = self.keys[i + 2]
        buf[15] = self.keys[i + 3]
        self.index = i + 4
        mask16(buf, n)
        if n < 126:
            buf[10] = head
            buf[11] = 0x80 | n
            return buf[10 : 16 + n]
        if n < 65536:
            buf[8] = head
            buf[9] = 0xFE
            buf[10] = n >> 8
            buf[11] = n & 255
            return buf[8 : 16 + n]
        buf[2] = head
        buf[3] = 0xFF
        buf[4:12] = n.to_bytes(8, "big")
        return buf[2 : 16 + n]

    # ---- events ------------------------------------------------------------------------------

    def next_event(self):
        """The next event, or None when more bytes are needed.

        Raises HandshakeError while connecting; after that, bad bytes from the peer become an
        (8, code, reason, False) event and a close frame in data_to_send(), never an error.
        """
        if self.state == _CONNECTING:
            from ws.handshake import accept

            return accept(self)
        while self.state != _CLOSED:
            f = self.flags
            if f < 0:
                f = self._head()
            elif (f == 0x81 or f == 0x82) and self.count <= len(self.buf):
                f = self._whole(f)
            else:
                f = self._stream(f)
            if f is None:  # more bytes are needed, unless there will be none
                if self.done:
                    return self._fail(1006, _DROPPED)
                return None
            if f is not True:
                return f
        return None

    # The per-message path is split into functions with few locals each, so that no call frame
    # of it lands on the heap: True means go on parsing, None that more bytes are needed.

    def _head(self):
        # A frame header: the usual one here, final, unmasked text or binary, a 7- or 16-bit
        # length.
        pos = self.pos
        if self.end - pos < 2:
            return None
        f = self.buf[pos]
        n = self.buf[pos + 1]
        if f != 0x81 and f != 0x82 or n > 126 or self.message is not None:
            return self._rules(f, n)
        if n == 126:
            if self.end - pos < 4:
                return None
            n = self.buf[pos + 2] << 8 | self.buf[pos + 3]
            pos += 2
        if n > self.max_message_size:
            return self._fail(1009, _TOO_BIG)
        self.pos = pos + 2
        self.flags = f
        self.count = n
        return True

    def _rules(self, f, n):
        # Any other header. Every rule that its first two bytes allow to check is checked before
        # waiting for the rest of it.
        if f & 0x70:
            return self._fail(1002, _RSV)
        if n & 0x80:
            return self._fail(1002, _MASKED)
        n &= 127
        op = f & 15
        if op > _PONG or _BINARY < op < _CLOSE:
            return self._fail(1002, "reserved opcode %d" % op)
        if op >= _CLOSE:
            if not f & 0x80:
                return self._fail(1002, _SPLIT_CONTROL)
            if n > 125:
                return self._fail(1002, _LONG_CONTROL)
            if op == _CLOSE and n == 1:
                return self._fail(1002, _ONE_BYTE_CLOSE)
        elif not op and self.message is None:
            return self._fail(1002, _NO_MESSAGE)
        elif op and self.message is not None:
            return self._fail(1002, _NEW_MESSAGE)
        pos = self.pos
        if self.end - pos < (2 if n < 126 else 4 if n == 126 else 10):
            return None
        if n == 126:
            n = self.buf[pos + 2] << 8 | self.buf[pos + 3]
            pos += 2
        elif n == 127:
            n = int.from_bytes(self.buffer[pos + 2 : pos + 10], "big")
            if n >> 63:
                return self._fail(1002, _MSB)
            pos += 8
        if op < _CLOSE and n + (len(self.message) if not op else 0) > self.max_message_size:
            return self._fail(1009, _TOO_BIG)
        self.pos = pos + 2
        self.flags = f
        self.count = n
        return True

    def _whole(self, f):
        # The usual message, one frame that fits the buffer: delivered from there when complete.
        pos = self.pos
        n = self.count
        if self.end - pos < n:
            if f == 0x81:  # fail as soon as the text that has arrived cannot be UTF-8
                n = utf8_cut(self.buf, pos + self.length, self.end)
                if n < 0:
                    return self._fail(1007, _BAD_TEXT)
                self.length = n - pos
            return None
        self.pos = pos + n
        self.flags = -1
        if f == 0x82:
            return bytes(self.buffer[pos : pos + n])
        self.length = 0
        f = _str(self.buffer[pos : pos + n])
        if f is None or _LAX and len(f) != n and decode_utf8(self.buf, pos, pos + n) is None:
            return self._fail(1007, _BAD_TEXT)
        return f

    def _stream(self, f):
        # Control frames, fragments and frames larger than the buffer; f is the frame's first
        # byte, only its FIN bit once the frame streams.
        pos = self.pos
        n = self.count
        avail = self.end - pos
        op = f & 15
        if op >= _CLOSE:  # wait for the whole (at most 125 bytes) payload
            if avail < n:
                return None
            self.pos = pos + n
            self.flags = -1
            f = bytes(self.buffer[pos : pos + n])
            if op == _PING:
                if self.state == _OPEN:
                    self.data += self._frame(0x8A, f)
                return (_PING, f)
            if op == _PONG:
                return (_PONG, f)
            if not n:
                return self._fail(1005, "", f)
            n = f[0] << 8 | f[1]
            if not check_close_code(n):
                return self._fail(1002, "invalid close code %d" % n)
            op = decode_utf8(f, 2)
            if op is None:
                return self._fail(1007, _BAD_REASON)
            return self._fail(n, op, f[:2])
        if op:  # the first frame of a message that is fragmented or larger than the buffer
            self.message = bytearray()
            self.length = 0 if op == _TEXT else -1
            self.flags = f & 0x80
        if avail > n:
            avail = n
        if avail:
            self.message.extend(self.buffer[pos : pos + avail])
            self.pos = pos + avail
            self.count = n = n - avail
            if self.length >= 0:  # text
                avail = utf8_cut(self.message, self.length, len(self.message))
                if avail < 0:
                    return self._fail(1007, _BAD_TEXT)
                self.length = avail
        if n:
            return None
        self.flags = -1
        if not f & 0x80:
            return True
        f = self.message
        self.message = None
        n = self.length
        self.length = 0  # as the in-buffer path expects it
        if n < 0:
            return bytes(f)
        if n != len(f):
            return self._fail(1007, _UNFINISHED)
        return str(f, "utf-8")

    def _fail(self, code, reason, data=None):
        # The connection ends: our close frame (data: the echo of the peer's; none if the
        # connection just dropped), then the close event, by the peer if data was given.
        if type(reason) is int:  # one of _WHY
            reason = _WHY.split("\n")[reason]
            if "%d" in reason:
                reason %= self.max_message_size
        if self.state == _OPEN and code != 1006:
            self.data += self._frame(
                0x88, bytes((code >> 8, code & 255)) + reason.encode() if data is None else data
            )
        self.state = _CLOSED
        self.close_code = code
        self.close_reason = reason
        return (_CLOSE, code, reason, data is not None)
