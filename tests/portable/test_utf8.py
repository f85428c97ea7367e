"""Strict UTF-8 (RFC 3629): decode_utf8 on whole buffers and Utf8Validator on pieces split anywhere,
checked against a byte-by-byte reference on both runtimes (MicroPython's own decoder is lax)."""

from conftools import KOSME, autobahn_utf8_cases, h, utf8_error_at
from ws.utf8 import Utf8Validator, decode_utf8


def _enc(cp):
    # Encodes any value below 0x110000, surrogates included (str.encode refuses those on CPython).
    if cp < 0x80:
        return bytes((cp,))
    if cp < 0x800:
        return bytes((0xC0 | cp >> 6, 0x80 | cp & 63))
    if cp < 0x10000:
        return bytes((0xE0 | cp >> 12, 0x80 | cp >> 6 & 63, 0x80 | cp & 63))
    return bytes((0xF0 | cp >> 18, 0x80 | cp >> 12 & 63, 0x80 | cp >> 6 & 63, 0x80 | cp & 63))


def _validate_pieces(data, cuts):
    """Feed data cut at the offsets in cuts: (index of the piece that failed or -1, finish())."""
    v = Utf8Validator()
    start = 0
    for k, end in enumerate(list(cuts) + [len(data)]):
        if not v.feed(data, start, end):
            return k, False
        start = end
    return -1, v.finish()


# ---- decode_utf8 -------------------------------------------------------------------------


def test_decode_valid_text():
    assert decode_utf8(b"") == ""
    assert decode_utf8(b"plain ascii") == "plain ascii"
    assert decode_utf8(KOSME) == "\u03ba\u1f79\u03c3\u03bc\u03b5"  # κόσμε
    assert decode_utf8("é€😀".encode()) == "é€😀"
    assert decode_utf8(bytearray(b"ba")) == "ba"


def test_decode_slices_of_bytes_and_bytearrays():
    raw = b"\xff<\xc3\xa9t\xc3\xa9>\xff"
    for buf in (raw, bytearray(raw)):
        assert decode_utf8(buf, 1, 8) == "<été>"
        assert decode_utf8(buf, 2, 4) == "é"
        assert decode_utf8(buf, 3, 4) is None  # a lone continuation byte
        assert decode_utf8(buf, 4, 4) == ""
        assert decode_utf8(buf, 1) is None  # runs into the trailing FF
    assert decode_utf8(b"ab\xed\xa0\x80", 0, 2) == "ab"


def test_decode_refuses_every_invalid_autobahn_sequence():
    for case, valid, payload in autobahn_utf8_cases():
        got = decode_utf8(payload)
        if valid:
            assert got == str(payload, "utf-8"), case
        else:
            assert got is None, case
            # Also inside ASCII context and at an offset into a bytearray.
            buf = bytearray(b"\x80ok ") + payload + b" ok\x80"
            assert decode_utf8(buf, 1, len(buf) - 1) is None, case


def test_decode_code_point_boundaries():
    for cp in (0, 0x7F, 0x80, 0x7FF, 0x800, 0xFFF, 0x1000, 0xD7FF, 0xE000, 0xFFFD, 0xFFFF):
        assert decode_utf8(_enc(cp)) == chr(cp), hex(cp)
    for cp in (0x10000, 0x3FFFF, 0x40000, 0xFFFFF, 0x100000, 0x10FFFF):
        assert decode_utf8(_enc(cp)) == chr(cp), hex(cp)
    for cp in (0xD800, 0xDBFF, 0xDC00, 0xDFFF):
        assert decode_utf8(_enc(cp)) is None, hex(cp)
    assert decode_utf8(h("f4 90 80 80")) is None  # U+110000
    assert decode_utf8(h("f7 bf bf bf")) is None  # U+1FFFFF


def test_decode_overlong_forms_of_every_length():
    for cp in (0, 0x2F, 0x7F):
        assert decode_utf8(bytes((0xC0 | cp >> 6, 0x80 | cp & 63))) is None
    for cp in (0, 0x7FF):
        assert decode_utf8(bytes((0xE0, 0x80 | cp >> 6, 0x80 | cp & 63))) is None
    for cp in (0, 0xFFFF):
        assert decode_utf8(bytes((0xF0, 0x80 | cp >> 12, 0x80 | cp >> 6 & 63, 0x80 | cp & 63))) is None


def test_every_lead_byte_with_every_second_byte_agrees_with_the_reference():
    for lead in range(0x80, 0x100):
        for second in [0x41] + list(range(0x80, 0xC0)) + [0xC2, 0xF0]:
            data = bytes((lead, second)) + b"\x80\x80"
            for n in (1, 2, 3, 4):
                want = utf8_error_at(data[:n]) < 0
                assert (decode_utf8(data, 0, n) is not None) == want, data[:n]


# ---- Utf8Validator -----------------------------------------------------------------------


def test_validator_accepts_valid_text_cut_anywhere():
    data = ("a κόσμε € 😀 " * 3).encode()
    for i in range(len(data) + 1):
        assert _validate_pieces(data, [i]) == (-1, True), i
    assert _validate_pieces(data, range(1, len(data))) == (-1, True)


def test_validator_reports_an_unfinished_sequence_only_at_finish():
    for data in (h("c3"), h("e2 82"), h("f0 9f 98"), b"ok" + h("f4 8f bf")):
        assert _validate_pieces(data, []) == (-1, False)
        assert _validate_pieces(data, range(1, len(data))) == (-1, False)


def test_validator_fails_on_the_piece_holding_the_first_bad_byte():
    for case, valid, payload in autobahn_utf8_cases():
        bad = utf8_error_at(payload)
        n = len(payload)
        # One piece per byte: fails exactly at the first impossible byte.
        got = _validate_pieces(payload, range(1, n))
        if valid:
            assert got == (-1, True), case
        elif bad < n:
            assert got == (bad, False), (case, got)
        else:
            assert got == (-1, False), case
        # Two pieces: fails in the piece where the bad byte is.
        for cut in range(n + 1):
            got = _validate_pieces(payload, [cut])
            if valid:
                assert got == (-1, True), case
            elif bad < n:
                assert got == ((0 if bad < cut else 1), False), (case, cut, got)
            else:
                assert got == (-1, False), (case, cut)


def test_validator_surrogate_split_after_its_lead_byte():
    v = Utf8Validator()
    assert v.feed(b"ok \xed")
    assert not v.finish()
    assert not v.feed(b"\xa0\x80")


def test_validator_reset_forgets_an_unfinished_sequence():
    v = Utf8Validator()
    assert v.feed(b"\xe2\x82")
    v.reset()
    assert v.finish()
    assert not v.feed(b"\xac")  # a continuation byte with nothing to continue
    v.reset()
    assert v.feed(b"\xe2") and v.feed(b"\x82") and v.feed(b"\xac") and v.finish()


def test_validator_feeds_slices_of_a_bytearray():
    buf = bytearray(b"\xff\xff" + "€".encode() + b"\xff")
    v = Utf8Validator()
    assert v.feed(buf, 2, 3) and v.feed(buf, 3, 4) and v.feed(buf, 4, 5) and v.finish()
    v = Utf8Validator()
    assert v.feed(buf, 2, 2) and v.finish()  # an empty piece
    assert not Utf8Validator().feed(buf, 0, 3)


def test_validator_empty_pieces_keep_the_state():
    v = Utf8Validator()
    assert v.feed(b"\xf0") and v.feed(b"") and v.feed(b"\x9f") and v.feed(b"")
    assert not v.finish()
    assert v.feed(b"\x98\x80") and v.finish()
