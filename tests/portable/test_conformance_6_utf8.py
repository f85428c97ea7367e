"""Autobahn TestSuite section 6 (UTF-8 handling), client side: text messages must be strict UTF-8
(RFC 3629) or the connection fails with 1007, as soon as the offending byte arrives, also when a
code point is split across frames or across reads of one frame. Binary messages are not checked."""

from conftools import (
    KOSME,
    autobahn_utf8_cases,
    binary,
    check,
    check_fails,
    cont,
    event_offsets,
    fail,
    fails_at,
    h,
    text,
    utf8_error_at,
)
from wsutil import OP_TEXT, events, give, open_client, server_frame

_HELLO = "Hello-µ@ßöäüàá-UTF-8!!"
_EDITED = h("65 64 69 74 65 64")  # "edited"


def test_6_1_1_empty_text_message():
    check(text(""), [events.TextMessage("")])


def test_6_1_2_two_empty_fragments():
    check(text("", fin=False) + cont(""), [events.TextMessage("")])


def test_6_1_3_empty_first_and_last_fragments():
    check(text("", fin=False) + cont("middle", fin=False) + cont(""), [events.TextMessage("middle")])


def test_6_2_1_valid_text_in_one_frame():
    check(text(_HELLO), [events.TextMessage(_HELLO)])


def test_6_2_2_valid_text_in_two_fragments_on_a_code_point_boundary():
    b = _HELLO.encode()
    cut = b.index("ß".encode())
    check(text(b[:cut], fin=False) + cont(b[cut:]), [events.TextMessage(_HELLO)])


def _octet_frames(payload):
    # One frame per byte, as Autobahn's payload_frag_size=1 sends it.
    n = len(payload)
    out = []
    for i in range(n):
        op = OP_TEXT if i == 0 else 0
        out.append(server_frame(op, payload[i : i + 1], i == n - 1))
    return b"".join(out)


def test_6_2_3_valid_text_in_one_octet_fragments():
    check(_octet_frames(_HELLO.encode()), [events.TextMessage(_HELLO)], pair_max=0)


def test_6_2_4_kosme_in_one_octet_fragments():
    check(_octet_frames(KOSME), [events.TextMessage(KOSME.decode())])


_INVALID_6_3 = KOSME + h("ed a0 80") + _EDITED


def test_6_3_1_surrogate_in_one_frame_fails_with_1007():
    check_fails(text(_INVALID_6_3), 1007)


def test_6_3_2_surrogate_in_one_octet_fragments_fails_at_its_second_byte():
    data = _octet_frames(_INVALID_6_3)
    check_fails(data, 1007)
    fails_at(data, 1007, 3 * (len(KOSME) + 1) + 2)  # the frame carrying A0 after ED


def _parts_6_4_1():
    return KOSME, h("f4 90 80 80"), _EDITED


def _parts_6_4_2():
    return KOSME + h("f4"), h("90"), h("80 80") + _EDITED


def _fails_on_part_2_of_3_frames(parts):
    p1, p2, p3 = parts
    f1 = text(p1, fin=False)
    f2 = cont(p2, fin=False)
    f3 = cont(p3)
    check_fails(f1 + f2 + f3, 1007)
    p = open_client()
    give(p, f1)
    assert p.next_event() is None
    give(p, f2)
    assert p.next_event() == events.CloseConnection(1007, p.close_reason, False)
    # And byte by byte: exactly at the 90 after F4 (F4 90 would be above U+10FFFF).
    data = f1 + f2 + f3
    fails_at(data, 1007, data.index(b"\x90", len(f1)))


def test_6_4_1_fails_fast_on_the_second_of_three_frames():
    _fails_on_part_2_of_3_frames(_parts_6_4_1())


def test_6_4_2_fails_fast_when_the_bad_byte_is_alone_in_its_frame():
    _fails_on_part_2_of_3_frames(_parts_6_4_2())


def _fails_on_chop_2_of_one_frame(parts):
    p1, p2, p3 = parts
    frame = text(p1 + p2 + p3)
    head = len(frame) - len(p1 + p2 + p3)
    check_fails(frame, 1007)
    p = open_client()
    give(p, frame[: head + len(p1)])
    assert p.next_event() is None
    give(p, frame[head + len(p1) : head + len(p1) + len(p2)])
    ev = p.next_event()
    assert ev is not None and ev[:2] == (8, 1007), ev
    fails_at(frame, 1007, head + (p1 + p2 + p3).index(h("f4 90")) + 1)


def test_6_4_3_fails_fast_on_the_second_chop_of_one_frame():
    _fails_on_chop_2_of_one_frame(_parts_6_4_1())


def test_6_4_4_fails_fast_on_a_one_byte_chop_of_one_frame():
    _fails_on_chop_2_of_one_frame(_parts_6_4_2())


def _expected(valid, payload):
    if valid:
        return [events.TextMessage(str(payload, "utf-8"))]
    return [fail(1007)]


def test_6_5_to_6_23_autobahn_sequences_in_one_frame():
    cases = autobahn_utf8_cases()
    assert len(cases) == 132  # as many as Autobahn's 6.5.1 .. 6.23.7
    for case, valid, payload in cases:
        assert (utf8_error_at(payload) < 0) == valid, case
        frame = text(payload)
        sent = [] if valid else [(True, 8, b"\x03\xef")]
        try:
            check(frame, _expected(valid, payload), sent, pair_max=40)
        except AssertionError as e:
            raise AssertionError("case %s: %s" % (case, e))


def test_6_5_to_6_23_invalid_sequences_fail_at_the_first_impossible_byte():
    for case, valid, payload in autobahn_utf8_cases():
        if valid:
            continue
        bad = utf8_error_at(payload)
        last = len(payload) - 1
        where = bad if bad < len(payload) else last  # a truncated text fails when it ends
        frame = text(payload)
        got = event_offsets(frame)
        assert got == [(len(frame) - len(payload) + where, fail(1007))], (case, got)
        frames = _octet_frames(payload)
        got = event_offsets(frames)
        assert got == [(3 * where + 2, fail(1007))], (case, got)


def test_6_5_to_6_23_sequences_in_one_octet_fragments():
    for case, valid, payload in autobahn_utf8_cases():
        got = event_offsets(_octet_frames(payload))
        assert [ev for _, ev in got] == _expected(valid, payload), case


def test_sequence_split_between_frames_fails_when_the_bad_byte_arrives():
    # ED A0 80 is a surrogate: ED may start a valid code point, ED A0 may not.
    for head in (b"", b"ok ", "é".encode()):
        f1 = text(head + b"\xed", fin=False)
        data = f1 + cont(b"\xa0\x80", fin=False) + cont(b" and the rest never matters")
        check_fails(data, 1007)
        fails_at(data, 1007, len(f1) + 2)


def test_truncated_code_point_at_message_end_fails_only_at_the_end():
    data = text("abc€".encode()[:-1], fin=False) + cont(b"")
    check_fails(data, 1007)
    fails_at(data, 1007, len(data) - 1)


def test_valid_code_point_split_across_frames_and_control_frames():
    s = "€😀"
    b = s.encode()
    data = text(b[:1], fin=False) + server_frame(9, b"") + cont(b[1:5], fin=False) + cont(b[5:])
    check(data, [events.Ping(b""), events.TextMessage(s)], [(True, 10, b"")])


def test_binary_messages_are_not_checked_for_utf8():
    junk = h("ed a0 80 ff fe c0 80")
    check(binary(junk), [events.BytesMessage(junk)])


def test_a_good_message_before_a_bad_one_is_delivered():
    check_fails(text("fine") + text(b"\xc0\xaf"), 1007, before=[events.TextMessage("fine")])
