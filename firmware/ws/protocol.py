"""Sans-I/O WebSocket client (RFC 6455): bytes in, events out, bytes to send out.

No sockets, clocks or global randomness: the caller passes random_bytes(n), feeds what it
reads with receive_data() (or readinto recv_buffer() then received(n)), drains next_event()
until None, and writes data_to_send() and the frames that send_*() return.
"""

from compat import const
from ws import events
from ws.errors import HandshakeError, LocalProtocolError
from ws.frames import (
    OP_BINARY,
    OP_CLOSE,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    FrameWriter,
    as_bytes,
    check_close_code,
    close_payload,
)
from ws.handshake import build_request, check_response, make_key, parse_response
from ws.utf8 import LAX, Utf8Validator, decode_utf8, decode_view, strict_ok

CONNECTING = const(0)
OPEN = const(1)
CLOSING = const(2)  # we sent a close frame and wait for the peer's
CLOSED = const(3)
STATE_NAMES = ("CONNECTING", "OPEN", "CLOSING", "CLOSED")

# What each state allows, as data: (send data/ping, receive frames).
_CAN_SEND = (False, True, False, False)
_CAN_RECEIVE = (False, True, True, False)


class ClientProtocol:
    """One client connection's protocol state. Limits are public attributes, in bytes."""

    max_message_size = 16384  # larger incoming messages fail the connection with 1009
    fragment_size = 4096  # larger outgoing messages are sent as several frames
    max_header_size = 4096  # larger handshake responses are refused
    rx_buffer_size = 2048  # receive buffer; larger frames stream through it

    def __init__(
        self,
        host,
        port,
        resource="/",
        *,
        random_bytes,
        secure=False,
        origin=None,
        subprotocols=None,
        headers=None,
        max_message_size=None,
        fragment_size=None,
        max_header_size=None,
        rx_buffer_size=None,
    ):
        if max_message_size is not None:
            self.max_message_size = max_message_size
        if fragment_size is not None:
            if fragment_size < 1:
                raise LocalProtocolError("fragment_size must be at least 1")
            self.fragment_size = fragment_size
        if max_header_size is not None:
            self.max_header_size = max_header_size
        if rx_buffer_size is not None:
            self.rx_buffer_size = rx_buffer_size
        self.state = CONNECTING
        self.subprotocols = subprotocols
        self.subprotocol = None
        self.close_code = None
        self.close_reason = ""
        self._key = make_key(random_bytes)
        self._out = [build_request(host, port, resource, self._key, secure, origin, subprotocols, headers)]
        self._writer = FrameWriter(random_bytes)
        cap = self.rx_buffer_size if self.rx_buffer_size > 256 else 256  # a control frame must fit
        self._rx = bytearray(cap)
        self._rxmv = memoryview(self._rx)
        self._pos = 0  # first unread byte
        self._end = 0  # end of the bytes received
        self._scan = 0  # handshake: where to look for the blank line next
        self._eof = False
        self._fop = -1  # opcode of the frame being read, -1 between frames, 0 once streaming
        self._ffin = 0
        self._fleft = 0  # payload bytes of that frame not yet consumed
        self._mop = 0  # opcode of the fragmented message being assembled (0: none)
        self._msg = None
        self._utf8 = Utf8Validator()
        self._vdone = 0  # bytes of a partly received text frame already validated

    # ---- input ----------------------------------------------------------------------------

    def recv_buffer(self):
        """A writable memoryview to readinto(); then call received(n)."""
        pos = self._pos
        if pos:
            n = self._end - pos
            if n:
                self._rxmv[0:n] = self._rxmv[pos : self._end]
            self._pos = 0
            self._end = n
            self._scan -= pos
        if self._end == len(self._rx):  # full: only a caller that skipped next_event() gets here
            self._grow(2 * len(self._rx))
        if not self._end:
            return self._rxmv  # the usual case, and no new memoryview to allocate
        return self._rxmv[self._end :]

    def received(self, n):
        """n bytes were read into recv_buffer(); 0 means the peer closed the TCP connection."""
        if not n:
            self._eof = True
        elif self.state != CLOSED:  # after the close nothing is parsed: let the bytes go
            self._end += n

    def receive_data(self, data):
        """Feed bytes read from the network; b"" (or None) means end of stream."""
        if not data:
            self._eof = True
            return
        if self.state == CLOSED:  # nothing is parsed any more: do not let the bytes pile up
            return
        n = len(data)
        free = self.recv_buffer()
        if n > len(free):
            self._grow(self._end + n)
            free = self._rxmv[self._end :]
        free[0:n] = data
        self._end += n

    def _grow(self, size):
        rx = bytearray(size)
        rx[0 : self._end] = self._rxmv[0 : self._end]
        self._rx = rx
        self._rxmv = memoryview(rx)

    # ---- output ---------------------------------------------------------------------------

    def data_to_send(self):
        """Bytes the core wants sent (handshake, pongs, close frames); b"" when none."""
        if not self._out:
            return b""
        out = self._out
        self._out = []
        return out[0] if len(out) == 1 else b"".join(out)

    def _check_send(self):
        if not _CAN_SEND[self.state]:
            raise LocalProtocolError("cannot send in state %s" % STATE_NAMES[self.state])

    def send_text(self, text):
        """The frame(s) of a text message; a view valid until the next send_*() call."""
        if not _CAN_SEND[self.state]:
            self._check_send()
        b = as_bytes(text)
        if len(b) <= self.fragment_size:
            return self._writer.frame(OP_TEXT, b)
        return self._writer.message(OP_TEXT, b, self.fragment_size)

    def send_bytes(self, data):
        """The frame(s) of a binary message; a view valid until the next send_*() call."""
        if not _CAN_SEND[self.state]:
            self._check_send()
        if len(data) <= self.fragment_size:
            return self._writer.frame(OP_BINARY, data)
        return self._writer.message(OP_BINARY, data, self.fragment_size)

    def send_ping(self, payload=b""):
        self._check_send()
        if len(payload) > 125:
            raise LocalProtocolError("ping payload is %d bytes, at most 125" % len(payload))
        return self._writer.frame(OP_PING, payload)

    def send_close(self, code=1000, reason=""):
        """Start the closing handshake: the close frame to send. code None sends no status."""
        if self.state != OPEN:
            raise LocalProtocolError("cannot close in state %s" % STATE_NAMES[self.state])
        payload = close_payload(code, reason)
        self.state = CLOSING
        self.close_code = code if code is not None else 1005
        self.close_reason = reason
        return bytes(self._writer.frame(OP_CLOSE, payload))

    # ---- events ---------------------------------------------------------------------------

    def next_event(self):
        """The next event, or None when more bytes are needed.

        Raises HandshakeError while connecting; after that, bad bytes from the peer become a
        CloseConnection event (and a close frame in data_to_send()), never an exception.
        """
        if _CAN_RECEIVE[self.state]:
            return self._parse()
        if self.state == CONNECTING:
            return self._handshake()
        return None

    def _fail(self, code, reason):
        if self.state == OPEN:
            self._out.append(bytes(self._writer.frame(OP_CLOSE, close_payload(code, reason))))
        return self._fail_closed(code, reason)

    def _need_more(self):
        if self._eof:
            if self.state == CLOSED:
                return None
            return self._fail_closed(1006, "connection dropped without a close frame")
        return None

    def _fail_closed(self, code, reason):
        self.state = CLOSED
        self.close_code = code
        self.close_reason = reason
        return events.CloseConnection(code, reason, False)

    def _handshake(self):
        start = self._scan - 3 if self._scan > 3 else 0
        i = self._rx.find(b"\r\n\r\n", start, self._end)
        if i < 0:
            self._scan = self._end
            if self._end > self.max_header_size:
                self.state = CLOSED
                raise HandshakeError("response header exceeds %d bytes" % self.max_header_size)
            if self._eof:
                self.state = CLOSED
                raise HandshakeError("connection closed during the opening handshake")
            return None
        if i > self.max_header_size:
            self.state = CLOSED
            raise HandshakeError("response header exceeds %d bytes" % self.max_header_size)
        self.state = CLOSED  # until proven acceptable
        status, reason, headers = parse_response(bytes(self._rxmv[0:i]))
        self.subprotocol = check_response(status, reason, headers, self._key, self.subprotocols)
        self._pos = i + 4  # what follows the blank line is the first frame
        self.state = OPEN
        return events.Accepted(self.subprotocol, headers)

    # MicroPython puts the frame of a call with more than a handful of locals on the heap, so
    # the per-message path below is split into small functions with few locals each.

    def _parse(self):
        while True:
            op = self._fop
            if op < 0:
                op = self._header()
            elif op and op < OP_CLOSE and self._ffin and self._fleft <= len(self._rx):
                # A final frame that fits the buffer: deliver it from there once complete.
                if self._end - self._pos >= self._fleft:
                    return self._deliver(op)
                return self._partial(op)
            else:
                op = self._slow_frame(op)
            if op is not True:
                return op

    def _deliver(self, op):
        pos = self._pos
        n = self._fleft
        self._pos = pos + n
        self._fop = -1
        if op == OP_TEXT:
            return self._text(pos, n)
        return events.BytesMessage(bytes(self._rxmv[pos : pos + n]))

    def _partial(self, op):
        # Fail as early as the bytes allow: validate the text that has arrived so far.
        pos = self._pos
        avail = self._end - pos
        if op == OP_TEXT and avail > self._vdone:
            if not self._utf8.feed(self._rx, pos + self._vdone, pos + avail):
                return self._fail(1007, "invalid UTF-8 in a text message")
            self._vdone = avail
        return self._need_more()

    def _text(self, pos, n):
        if self._vdone:  # parts were validated while the frame arrived; decoded whole now
            self._vdone = 0
            self._utf8.reset()
        s = decode_view(self._rxmv[pos : pos + n])
        if s is None or (LAX and len(s) != n and not strict_ok(self._rx, pos, pos + n)):
            return self._fail(1007, "invalid UTF-8 in a text message")
        return events.TextMessage(s)

    def _header(self):
        # True: a header was consumed; else what _need_more() says, or the close event.
        pos = self._pos
        avail = self._end - pos
        if avail < 2:
            return self._need_more()
        b0 = self._rx[pos]
        n = self._rx[pos + 1]
        if (b0 == 0x81 or b0 == 0x82) and n <= 126 and not self._mop:
            # Common case: a final, unmasked text/binary frame with a 7- or 16-bit length.
            if n == 126:
                if avail < 4:
                    return self._need_more()
                n = (self._rx[pos + 2] << 8) | self._rx[pos + 3]
                self._pos = pos + 4
            else:
                self._pos = pos + 2
            if n > self.max_message_size:
                return self._fail(1009, "message over %d bytes" % self.max_message_size)
            self._fop = b0 & 0x0F
            self._ffin = 0x80
            self._fleft = n
            return True
        return self._header_rules(b0, n, pos, avail)

    def _header_rules(self, b0, b1, pos, avail):
        # Checks every rule the first two bytes allow before waiting for the rest.
        if b0 & 0x70:
            return self._fail(1002, "reserved bits set")
        if b1 & 0x80:
            return self._fail(1002, "masked frame from the server")
        op = b0 & 0x0F
        fin = b0 & 0x80
        n = b1 & 0x7F
        if op >= OP_CLOSE:
            if op > OP_PONG:
                return self._fail(1002, "reserved opcode %d" % op)
            if not fin:
                return self._fail(1002, "fragmented control frame")
            if n > 125:
                return self._fail(1002, "control frame longer than 125 bytes")
            if op == OP_CLOSE and n == 1:
                return self._fail(1002, "close frame with a 1-byte payload")
        elif op > OP_BINARY:
            return self._fail(1002, "reserved opcode %d" % op)
        elif op == 0:
            if not self._mop:
                return self._fail(1002, "continuation frame without a message to continue")
        elif self._mop:
            return self._fail(1002, "new message inside a fragmented message")
        h = 2
        if n == 126:
            h = 4
            if avail < 4:
                return self._need_more()
            n = (self._rx[pos + 2] << 8) | self._rx[pos + 3]
        elif n == 127:
            h = 10
            if avail < 10:
                return self._need_more()
            n = int.from_bytes(self._rxmv[pos + 2 : pos + 10], "big")
            if n >> 63:
                return self._fail(1002, "frame length with the most significant bit set")
        if op < OP_CLOSE:
            total = n + (len(self._msg) if op == 0 else 0)
            if total > self.max_message_size:
                return self._fail(1009, "message over %d bytes" % self.max_message_size)
        self._pos = pos + h
        self._fop = op
        self._ffin = fin
        self._fleft = n
        return True

    def _slow_frame(self, op):
        # Control frames, fragments, and frames larger than the buffer.
        # True: go on parsing; else what _need_more() says, or an event.
        pos = self._pos
        avail = self._end - pos
        n = self._fleft
        if op >= OP_CLOSE:
            if avail < n:
                return self._need_more()
            payload = bytes(self._rxmv[pos : pos + n])
            self._pos = pos + n
            self._fop = -1
            ev = self._control(op, payload)
            return True if ev is None else ev
        if op:  # the first frame of a fragmented (or not yet complete) message
            self._mop = op
            self._msg = bytearray()
            self._utf8.reset()
            self._fop = 0
        take = avail if avail < n else n
        if take:
            if self._mop == OP_TEXT and not self._utf8.feed(self._rx, pos, pos + take):
                return self._fail(1007, "invalid UTF-8 in a text message")
            self._msg.extend(self._rxmv[pos : pos + take])
            self._pos = pos + take
            self._fleft = n = n - take
        if n:
            return self._need_more()
        self._fop = -1
        if not self._ffin:
            return True
        op = self._mop
        data = self._msg
        self._mop = 0
        self._msg = None
        if op == OP_TEXT:
            if not self._utf8.finish():
                return self._fail(1007, "text message ends inside a UTF-8 sequence")
            return events.TextMessage(str(data, "utf-8"))
        return events.BytesMessage(bytes(data))

    def _control(self, op, payload):
        if op == OP_PING:
            if self.state == OPEN:
                self._out.append(bytes(self._writer.frame(OP_PONG, payload)))
            return events.Ping(payload)
        if op == OP_PONG:
            return events.Pong(payload)
        code = 1005
        reason = ""
        if payload:
            code = (payload[0] << 8) | payload[1]
            if not check_close_code(code):
                return self._fail(1002, "invalid close code %d" % code)
            reason = decode_utf8(payload, 2)
            if reason is None:
                return self._fail(1007, "invalid UTF-8 in the close reason")
        if self.state == OPEN:
            self._out.append(bytes(self._writer.frame(OP_CLOSE, close_payload(code if payload else None))))
        self.state = CLOSED
        self.close_code = code
        self.close_reason = reason
        return events.CloseConnection(code, reason, True)
