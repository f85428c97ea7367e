"""Helpers for the conformance tests (both runtimes): server frames, whole and split feeding."""

import gc
import sys

from wsutil import (
    CLOSED,
    OP_BINARY,
    OP_CLOSE,
    OP_CONT,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    events,
    give,
    is_close,
    open_client,
    server_frame,
    split_frames,
)

MICROPYTHON = sys.implementation.name == "micropython"
# Splitting into two pieces at every offset costs one client per offset: only for short inputs.
PAIR_SPLIT_MAX = 160


def roomy():
    """Collect garbage before a test that needs 64 KiB blocks: MicroPython's heap fragments."""
    gc.collect()


def h(text):
    """Bytes from hex written with spaces, as in the RFC and Autobahn's case descriptions."""
    return bytes.fromhex(text.replace(" ", ""))


def text(s, fin=True):
    return server_frame(OP_TEXT, s.encode() if isinstance(s, str) else s, fin)


def binary(data, fin=True):
    return server_frame(OP_BINARY, data, fin)


def cont(data, fin=True):
    return server_frame(OP_CONT, data.encode() if isinstance(data, str) else data, fin)


def ping(payload=b""):
    return server_frame(OP_PING, payload)


def pong(payload=b""):
    return server_frame(OP_PONG, payload)


def close(code=None, reason=b""):
    """A server close frame; code None sends an empty payload."""
    if code is None:
        return server_frame(OP_CLOSE, b"")
    if isinstance(reason, str):
        reason = reason.encode()
    return server_frame(OP_CLOSE, bytes((code >> 8, code & 255)) + reason)


def fragments(opcode, data, size):
    """data as a fragmented message of frames carrying size bytes each (the last may be shorter)."""
    out = []
    n = len(data)
    off = 0
    op = opcode
    while True:
        end = off + size
        out.append(server_frame(op, data[off:end], end >= n))
        op = OP_CONT
        off = end
        if off >= n:
            return b"".join(out)


def fail(code):
    """The event a client produces when it fails the connection (reasons are not compared)."""
    return events.CloseConnection(code, "", False)


def closed_by_peer(code, reason=""):
    return events.CloseConnection(code, reason, True)


def sent_pong(payload=b""):
    return (True, OP_PONG, payload)


def sent_close(code=None):
    return (True, OP_CLOSE, b"" if code is None else bytes((code >> 8, code & 255)))


def _norm_event(ev):
    if is_close(ev) and not ev[3]:
        return fail(ev[1])
    return ev


def _norm_sent(frame):
    fin, op, payload = frame
    if op == OP_CLOSE:
        payload = payload[:2]  # our own reason text is informational
    return (fin, op, payload)


def frames_sent(p):
    """The client's data_to_send() as (fin, opcode, payload), close payloads cut to the code."""
    return [_norm_sent(f) for f in split_frames(p.data_to_send())]


def drain(p):
    """Every event ready now; our own close reasons blanked, as fail() makes them."""
    out = []
    while True:
        ev = p.next_event()
        if ev is None:
            return out
        out.append(_norm_event(ev))


def feed(p, data, pieces):
    """Feed data cut into pieces of the given lengths (the rest in one go); every event, in order."""
    out = []
    off = 0
    mv = memoryview(data)  # slices of a view copy nothing: 64 KiB cases stay affordable
    for n in pieces:
        if n:
            give(p, mv[off : off + n])
            off += n
        out.extend(drain(p))
    if off < len(data):
        give(p, mv[off:])
        out.extend(drain(p))
    return out


def feed_readinto(p, data, chunk):
    """Feed data the way a socket loop does: readinto recv_buffer(), then received(n)."""
    out = []
    off = 0
    mv = memoryview(data)
    while off < len(data):
        buf = p.recv_buffer()
        n = min(len(buf), chunk, len(data) - off)
        buf[0:n] = mv[off : off + n]
        p.received(n)
        off += n
        out.extend(drain(p))
    return out


def outcome(data, pieces, eof=False, **kw):
    """(events, frames the client sent, state) after data is fed to a fresh OPEN client."""
    p = open_client(**kw)
    evs = feed(p, data, pieces)
    if eof:
        give(p, b"")
        evs.extend(drain(p))
    return evs, frames_sent(p), p.state


def splits(n, step):
    """Piece lengths that cut n bytes into step-sized pieces."""
    out = [step] * (n // step)
    if n % step:
        out.append(n % step)
    return out


def edge_splits(n, edge=300, step=997):
    """Byte by byte through the first and last edge bytes, step-sized pieces in between."""
    if n <= 2 * edge:
        return splits(n, 1)
    return [1] * edge + splits(n - 2 * edge, step) + [1] * edge


# Above this, feeding every byte on its own is slow on MicroPython: only the edges go bytewise.
BYTEWISE_MAX = 8192


def check(data, want, sent=None, eof=False, pair_max=PAIR_SPLIT_MAX, **kw):
    """The same events and sent frames whether data comes at once, byte by byte or in two pieces.

    want: the events; sent: the frames the client answers with (pongs, close), default none.
    A client that ends with a CloseConnection must be CLOSED.
    """
    if sent is None:
        sent = []
    n = len(data)
    bytewise = splits(n, 1) if n <= BYTEWISE_MAX else edge_splits(n)
    plans = [[n], bytewise, splits(n, 3) if n <= BYTEWISE_MAX else splits(n, 997)]
    if n <= pair_max:
        for i in range(1, n):
            plans.append([i, n - i])
    for plan in plans:
        if n > BYTEWISE_MAX:
            roomy()
        evs, got_sent, state = outcome(data, plan, eof, **kw)
        where = "split %r" % (plan[:4],)
        assert evs == want, "%s: events %r, want %r" % (where, evs, want)
        assert got_sent == sent, "%s: sent %r, want %r" % (where, got_sent, sent)
        if want and is_close(want[-1]):
            assert state == CLOSED, "%s: state %d" % (where, state)


def check_fails(data, code, before=(), eof=False, **kw):
    """data fails the connection with code (after the events in before); only a close is sent."""
    check(data, list(before) + [fail(code)], [sent_close(code)], eof, **kw)


def event_offsets(data, **kw):
    """Feed data one byte at a time: [(offset of the byte after which it came, event)]."""
    p = open_client(**kw)
    out = []
    mv = memoryview(data)
    for i in range(len(data)):
        give(p, mv[i : i + 1])
        for ev in drain(p):
            out.append((i, ev))
    return out


def fails_at(data, code, offset, **kw):
    """The connection fails with code right when byte data[offset] arrives, not later."""
    got = event_offsets(data, **kw)
    assert got and got[-1] == (offset, fail(code)), "events %r, want fail %d at %d" % (got, code, offset)


def utf8_error_at(b):
    """Reference validator (Unicode Table 3-7), byte by byte: -1 if b is valid UTF-8, len(b) if
    it stops inside a sequence, else the index of the first byte no valid text can contain."""
    need = 0
    lo = hi = 0
    for i in range(len(b)):
        c = b[i]
        if need:
            if c < lo or c > hi:
                return i
            need -= 1
            lo = 0x80
            hi = 0xBF
        elif c < 0x80:
            pass
        elif 0xC2 <= c <= 0xDF:
            need = 1
            lo = 0x80
            hi = 0xBF
        elif 0xE0 <= c <= 0xEF:
            need = 2
            lo = 0xA0 if c == 0xE0 else 0x80
            hi = 0x9F if c == 0xED else 0xBF
        elif 0xF0 <= c <= 0xF4:
            need = 3
            lo = 0x90 if c == 0xF0 else 0x80
            hi = 0x8F if c == 0xF4 else 0xBF
        else:
            return i
    return len(b) if need else -1


KOSME = h("ce ba e1 bd b9 cf 83 ce bc ce b5")  # "κόσμε", Autobahn's favourite
_MISSING_LAST = (
    "c0",
    "e080",
    "f08080",
    "f8808080",
    "fc80808080",
    "df",
    "efbf",
    "f7bfbf",
    "fbbfbfbf",
    "fdbfbfbfbf",
)


def autobahn_utf8_cases():
    """Autobahn TestSuite 6.5.1-6.23.7 (from Markus Kuhn's UTF-8-test.txt): [(case, valid, payload)]."""
    groups = [
        # 6.5: "hello" + U+0024, U+00A2, U+20AC, U+24B62 + "world", and KOSME
        [(True, h("68656c6c6f" + x + "776f726c64")) for x in ("24", "c2a2", "e282ac", "f0a4ada2")]
        + [(True, KOSME)],
        # 6.6: every prefix of KOSME, valid where it ends on a code point boundary
        [(utf8_error_at(KOSME[:i]) < 0, KOSME[:i]) for i in range(1, len(KOSME) + 1)],
        [(True, h(x)) for x in ("00", "c280", "e0a080", "f0908080")],
        [(False, h(x)) for x in ("f888808080", "fc8480808080")],
        [(True, h(x)) for x in ("7f", "dfbf", "efbfbf", "f48fbfbf")],
        [(False, h(x)) for x in ("f7bfbfbf", "fbbfbfbfbf", "fdbfbfbfbfbf")],
        [(True, h(x)) for x in ("ed9fbf", "ee8080", "efbfbd", "f48fbfbf")] + [(False, h("f4908080"))],
        [(False, h(x)) for x in ("80", "bf", "80bf", "80bf80", "80bf80bf", "80bf80bf80", "80bf80bf80bf")]
        + [(False, bytes(range(0x80, 0xBF)))],  # 6.12.8: 80..BE, as Autobahn builds it
        # 6.13: lonely start bytes, each followed by a space
        [(False, b"".join(bytes((c, 0x20)) for c in range(lo, hi))) for lo, hi in _LONELY],
        [(False, h(x)) for x in _MISSING_LAST],
        [(False, h("".join(_MISSING_LAST)))],
        [(False, h(x)) for x in ("fe", "ff", "fefeffff")],
        [(False, h(x)) for x in ("c0af", "e080af", "f08080af", "f8808080af", "fc80808080af")],
        [(False, h(x)) for x in ("c1bf", "e09fbf", "f08fbfbf", "f887bfbfbf", "fc83bfbfbfbf")],
        [(False, h(x)) for x in ("c080", "e08080", "f0808080", "f880808080", "fc8080808080")],
        [(False, h(x)) for x in ("eda080", "edadbf", "edae80", "edafbf", "edb080", "edbe80", "edbfbf")],
        [(False, h(a + b)) for a in ("eda080", "edadbf", "edae80", "edafbf") for b in ("edb080", "edbfbf")],
        [(True, h("efbfbe")), (True, h("efbfbf"))] + [(True, x) for x in _noncharacters()],
        [(True, bytes((0xEF, 0xBF, c))) for c in range(0xB9, 0xC0)],
    ]
    out = []
    for i, group in enumerate(groups):
        for j, (valid, payload) in enumerate(group):
            out.append(("6.%d.%d" % (i + 5, j + 1), valid, payload))
    return out


_LONELY = ((0xC0, 0xDF), (0xE0, 0xEF), (0xF0, 0xF7), (0xF8, 0xFB), (0xFC, 0xFD))


def _noncharacters():
    # U+nFFFE and U+nFFFF of the supplementary planes: unusual but valid UTF-8
    out = []
    for z1 in (0xF0, 0xF1, 0xF2, 0xF3, 0xF4):
        for z2 in (0x8F, 0x9F, 0xAF, 0xBF):
            if z1 == 0xF4 and z2 != 0x8F:
                continue  # above U+10FFFF
            if z1 == 0xF0 and z2 == 0x8F:
                continue  # overlong
            for z3 in (0xBE, 0xBF):
                out.append(bytes((z1, z2, 0xBF, z3)))
    return out
