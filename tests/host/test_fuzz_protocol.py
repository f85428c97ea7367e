"""Property-based tests of the sans-I/O core (CPython, hypothesis): whatever bytes arrive, however
they are split, the core answers with events or a close code, never an unexpected exception."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftools import drain, feed, frames_sent, sent_close, sent_pong
from ws.protocol import ClientProtocol, HandshakeError, check_close_code
from wsutil import (
    ACCEPTED,
    CLOSED,
    CONNECTING,
    OP_BINARY,
    OP_CLOSE,
    OP_CONT,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    accept_response,
    events,
    fixed_random,
    give,
    is_close,
    open_client,
    server_frame,
    split_frames,
)

FAIL_CODES = {1002, 1007, 1009, 1006}
_SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
_LIMIT = 600  # a small max_message_size so that 1009 is reachable


def _pieces(data, cuts):
    """Piece lengths for data cut at the given offsets (taken modulo its length)."""
    n = len(data)
    if not n:
        return []
    offs = sorted({c % n for c in cuts if c % n} | {n})
    out = []
    last = 0
    for o in offs:
        out.append(o - last)
        last = o
    return out


cuts = st.lists(st.integers(min_value=0, max_value=1 << 16), max_size=12)

# Frames that look plausible enough to get past the first checks, sometimes broken on purpose.
_tricky_utf8 = st.sampled_from(
    [b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xc0\xaf", b"\xe0\x80", b"\xf5", b"\x80", b"\xe2\x82", b"\xff"]
)
_payload = st.one_of(
    st.binary(max_size=40),
    st.binary(max_size=3),  # 1-byte close payloads, bare close codes
    st.text(max_size=20).map(lambda s: s.encode("utf-8", "surrogatepass")),
    st.tuples(st.text(max_size=8), _tricky_utf8, st.text(max_size=8)).map(
        lambda t: t[0].encode() + t[1] + t[2].encode()
    ),
    st.integers(min_value=0, max_value=0xFFFF).map(lambda c: c.to_bytes(2, "big")),  # close codes
    st.integers(min_value=100, max_value=700).map(lambda n: b"z" * n),  # over 125, over the limit
)


@st.composite
def raw_frames(draw):
    op = draw(st.sampled_from([0, 1, 2, 8, 9, 10] * 3 + list(range(16))))
    payload = draw(_payload)
    fin = draw(st.booleans() | st.just(True))
    rsv = draw(st.sampled_from([0] * 10 + list(range(1, 8))))
    mask = draw(st.sampled_from([None] * 10 + [b"\x01\x02\x03\x04"]))
    length = draw(st.sampled_from([None] * 10 + [0, 1, 126, 1 << 16, (1 << 63) + 5, (1 << 63) - 1]))
    return server_frame(op, payload, fin=fin, rsv=rsv, mask=mask, length=length)


@st.composite
def hostile_streams(draw):
    """Random bytes, or plausible frames with random truncation and byte flips."""
    if draw(st.booleans()):
        return draw(st.binary(max_size=300))
    data = bytearray(b"".join(draw(st.lists(raw_frames(), max_size=8))))
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        if data:
            i = draw(st.integers(min_value=0, max_value=len(data) - 1))
            data[i] = draw(st.integers(min_value=0, max_value=255))
    if data and draw(st.booleans()):
        data = data[: draw(st.integers(min_value=0, max_value=len(data)))]
    return bytes(data)


def _run(data, pieces, eof):
    p = open_client(max_message_size=_LIMIT)
    evs = feed(p, data, pieces)
    if eof:
        give(p, b"")
        evs.extend(drain(p))
    return p, evs, frames_sent(p)


def _check_outcome(p, evs, sent, eof):
    for ev in evs:  # a message (str or bytes), or (opcode, payload) of a ping or pong, or the close
        if type(ev) is tuple:
            assert ev[0] in (OP_PING, OP_PONG) and len(ev) == 2 or is_close(ev) and len(ev) == 4, ev
            assert ev[0] == OP_CLOSE or type(ev[1]) is bytes, ev
        else:
            assert type(ev) in (str, bytes), ev
    closes = [i for i, ev in enumerate(evs) if is_close(ev)]
    assert closes in ([], [len(evs) - 1]), evs  # at most one, and nothing after it
    for ev in evs:
        if type(ev) is not tuple:
            assert len(ev.encode() if isinstance(ev, str) else ev) <= _LIMIT
    # Our answers: a pong per ping (while open), and at most one close frame, last.
    pings = [ev[1] for ev in evs if type(ev) is tuple and ev[0] == OP_PING]
    pongs = [payload for fin, op, payload in sent if op == OP_PONG]
    assert pongs == pings
    assert all(fin for fin, op, payload in sent)
    assert {op for fin, op, payload in sent} <= {OP_PONG, OP_CLOSE}
    if closes:
        _, code, reason, by_peer = evs[-1]
        assert p.state == CLOSED and p.close_code == code and isinstance(reason, str)
        if by_peer:
            assert code == 1005 or check_close_code(code), evs[-1]
            assert sent[-1] == sent_close(None if code == 1005 else code)
        else:
            assert code in FAIL_CODES, evs[-1]
            if code == 1006:
                assert not [f for f in sent if f[1] == OP_CLOSE]
            else:
                assert sent[-1] == sent_close(code)
    else:
        assert not eof, "EOF must end with a CloseConnection"
        assert not [f for f in sent if f[1] == OP_CLOSE]


@_SETTINGS
@given(hostile_streams(), cuts, st.booleans())
def test_hostile_bytes_give_events_or_a_close_code_under_any_split(data, cut, eof):
    p, evs, sent = _run(data, _pieces(data, cut), eof)
    _check_outcome(p, evs, sent, eof)
    # The outcome does not depend on how the bytes were split.
    _, evs_once, sent_once = _run(data, [len(data)], eof)
    assert (evs, sent) == (evs_once, sent_once)


@_SETTINGS
@given(st.binary(max_size=400), cuts)
def test_random_bytes_then_eof_always_end_with_one_close(data, cut):
    p, evs, sent = _run(data, _pieces(data, cut), True)
    _check_outcome(p, evs, sent, True)
    assert is_close(evs[-1])
    assert p.next_event() is None


# ---- valid conversations round-trip ------------------------------------------------------

_control = st.one_of(
    st.binary(max_size=125).map(lambda b: ("ping", b)),
    st.binary(max_size=125).map(lambda b: ("pong", b)),
)


@st.composite
def messages(draw):
    """(frames, events, pongs) of one message, fragmented at random, controls between fragments."""
    if draw(st.booleans()):
        s = draw(st.text(max_size=120))
        op, payload, ev = OP_TEXT, s.encode(), events.TextMessage(s)
    else:
        b = draw(st.binary(max_size=300))
        op, payload, ev = OP_BINARY, b, events.BytesMessage(b)
    n = len(payload)
    cut_at = sorted(set(draw(st.lists(st.integers(min_value=0, max_value=n), max_size=5))))
    bounds = [0] + cut_at + [n]
    frames = []
    evs = []
    pongs = []
    first = True
    for i in range(len(bounds) - 1):
        last = i == len(bounds) - 2
        frames.append(server_frame(op if first else OP_CONT, payload[bounds[i] : bounds[i + 1]], fin=last))
        first = False
        if not last:
            for kind, data in draw(st.lists(_control, max_size=2)):
                if kind == "ping":
                    frames.append(server_frame(OP_PING, data))
                    evs.append(events.Ping(data))
                    pongs.append(sent_pong(data))
                else:
                    frames.append(server_frame(OP_PONG, data))
                    evs.append(events.Pong(data))
    evs.append(ev)
    return b"".join(frames), evs, pongs


@st.composite
def conversations(draw):
    items = draw(st.lists(st.one_of(messages(), _control.map(_lone_control)), max_size=8))
    data = b"".join(i[0] for i in items)
    evs = [e for i in items for e in i[1]]
    sent = [s for i in items for s in i[2]]
    if draw(st.booleans()):
        code = draw(st.sampled_from([1000, 1001, 1003, 1008, 1011, 3000, 4999, None]))
        reason = "" if code is None else draw(st.text(max_size=20).filter(lambda r: len(r.encode()) <= 123))
        payload = b"" if code is None else code.to_bytes(2, "big") + reason.encode()
        data += server_frame(OP_CLOSE, payload) + draw(st.binary(max_size=20))  # ignored after close
        evs.append(events.CloseConnection(1005 if code is None else code, reason, True))
        sent.append(sent_close(code))
    return data, evs, sent


def _lone_control(c):
    kind, data = c
    if kind == "ping":
        return server_frame(OP_PING, data), [events.Ping(data)], [sent_pong(data)]
    return server_frame(OP_PONG, data), [events.Pong(data)], []


@_SETTINGS
@given(conversations(), cuts)
def test_valid_frame_sequences_round_trip_under_any_split(conv, cut):
    data, want, want_sent = conv
    p = open_client()
    assert feed(p, data, _pieces(data, cut)) == want
    assert frames_sent(p) == want_sent


@_SETTINGS
@given(conversations(), st.integers(min_value=1, max_value=64))
def test_valid_frame_sequences_round_trip_through_recv_buffer(conv, chunk):
    data, want, want_sent = conv
    p = open_client(rx_buffer_size=256)
    got = []
    off = 0
    while off < len(data):
        buf = p.recv_buffer()
        n = min(len(buf), chunk, len(data) - off)
        buf[:n] = data[off : off + n]
        p.received(n)
        off += n
        got.extend(drain(p))
    assert got == want
    assert frames_sent(p) == want_sent


@_SETTINGS
@given(st.text(max_size=300), st.integers(min_value=1, max_value=50))
def test_our_own_fragmented_frames_parse_back(s, fragment_size):
    sender = open_client(fragment_size=fragment_size)
    wire = b"".join(server_frame(op, payload, fin=fin) for fin, op, payload in split_frames(sender.send(s)))
    p = open_client(max_message_size=4096)
    assert feed(p, wire, [len(wire)]) == [events.TextMessage(s)]


# ---- the opening handshake -------------------------------------------------------------

_REQUEST = ClientProtocol("example.com", 80, random_bytes=fixed_random).data_to_send()
_GOOD = accept_response(_REQUEST)


@st.composite
def responses(draw):
    kind = draw(st.integers(min_value=0, max_value=3))
    if kind == 0:
        return draw(st.binary(max_size=300))
    if kind == 1:
        lines = draw(st.lists(st.text(max_size=30), max_size=6))
        return ("\r\n".join(["HTTP/1.1 101 Switching Protocols"] + lines) + "\r\n\r\n").encode()
    data = bytearray(_GOOD)
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        i = draw(st.integers(min_value=0, max_value=len(data) - 1))
        what = draw(st.integers(min_value=0, max_value=2))
        if what == 0:
            data[i] = draw(st.integers(min_value=0, max_value=255))
        elif what == 1:
            del data[i : i + draw(st.integers(min_value=1, max_value=10))]
        else:
            data[i:i] = draw(st.sampled_from([b"\r\n", b":", b" ", b"\r\n\r\n", b"\xff", b"X-A: b\r\n"]))
    return bytes(data) + draw(st.binary(max_size=10))


def _handshake(data, pieces, eof):
    p = ClientProtocol("example.com", 80, random_bytes=fixed_random)
    p.data_to_send()
    off = 0
    for n in pieces + ([None] if eof else []):
        if n is None:
            give(p, b"")
        else:
            give(p, data[off : off + n])
            off += n
        try:
            ev = p.next_event()
        except HandshakeError as e:
            assert p.state == CLOSED
            assert str(e) and isinstance(e.status, (int, type(None))), e
            return "error"
        if ev is not None:
            assert ev[0] == ACCEPTED and type(ev[2]) is dict, ev
            return "accepted"
        assert p.state == CONNECTING
    return None


@_SETTINGS
@given(responses(), cuts, st.booleans())
def test_handshake_bytes_give_accepted_none_or_handshake_error_only(data, cut, eof):
    got = _handshake(data, _pieces(data, cut), eof)
    assert got == _handshake(data, _pieces(data, []), eof)  # however it was split
    if eof:
        assert got in ("accepted", "error")


def test_the_unmodified_response_is_accepted_under_every_split():
    for i in range(1, len(_GOOD)):
        assert _handshake(_GOOD, [i, len(_GOOD) - i], False) == "accepted"
