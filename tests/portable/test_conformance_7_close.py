"""Autobahn TestSuite section 7 (close handling), client side, and the closing handshake's
states: the peer's close is echoed with its code, nothing after it is processed, bad close
frames fail with 1002 (1007 for a reason that is not UTF-8), a dropped TCP stream is 1006."""

from conftools import (
    binary,
    check,
    check_fails,
    close,
    closed_by_peer,
    cont,
    drain,
    fail,
    fails_at,
    feed,
    frames_sent,
    h,
    ping,
    sent_close,
    splits,
    text,
)
from ws.protocol import LocalProtocolError
from wsutil import CLOSED, CLOSING, OPEN, events, give, open_client, raises, split_frames


def test_7_1_1_message_then_close_delivers_both_and_echoes_1000():
    data = text("Hello World!") + close(1000)
    check(data, [events.TextMessage("Hello World!"), closed_by_peer(1000)], [sent_close(1000)])


def test_7_1_2_a_second_close_is_ignored():
    check(close(1000) + close(1000), [closed_by_peer(1000)], [sent_close(1000)])


def test_7_1_3_ping_after_close_is_not_answered():
    check(close(1000) + ping(b"Hello World!"), [closed_by_peer(1000)], [sent_close(1000)])


def test_7_1_4_text_after_close_is_not_delivered():
    check(close(1000) + text("Hello World!"), [closed_by_peer(1000)], [sent_close(1000)])


def test_7_1_5_close_inside_a_fragmented_message_ends_it_undelivered():
    data = text("fragment1", fin=False) + close(1000) + cont("fragment2")
    check(data, [closed_by_peer(1000)], [sent_close(1000)])


def test_7_1_6_large_message_then_close_then_ping():
    big = b"BAsd7&jh23" * 1000  # 10 KB here; Autobahn sends 256 KiB
    data = binary(big) + close(1000) + ping(b"Hello World!")
    check(data, [events.BytesMessage(big), closed_by_peer(1000)], [sent_close(1000)])


def test_7_3_1_empty_close_is_1005_and_echoed_empty():
    check(close(), [closed_by_peer(1005)], [sent_close(None)])
    p = open_client()
    feed(p, close(), [2])
    assert (p.state, p.close_code, p.close_reason) == (CLOSED, 1005, "")


def test_7_3_2_one_byte_close_payload_fails_with_1002():
    data = h("88 01 03")
    check_fails(data, 1002)
    fails_at(data, 1002, 1)


def test_7_3_3_close_1000_is_echoed():
    check(close(1000), [closed_by_peer(1000)], [sent_close(1000)])


def test_7_3_4_close_reason_is_delivered():
    check(close(1000, "Hello World!"), [closed_by_peer(1000, "Hello World!")], [sent_close(1000)])


def test_7_3_5_close_with_123_byte_reason_is_accepted():
    reason = "*" * 123
    check(close(1000, reason), [closed_by_peer(1000, reason)], [sent_close(1000)])


def test_7_3_6_close_with_124_byte_reason_is_over_125_and_fails():
    check_fails(close(1000, "*" * 124), 1002)


def test_7_5_1_close_reason_not_utf8_fails_with_1007():
    check_fails(close(1000, h("ce ba e1 bd b9 cf 83 ce bc ce b5 ed a0 80 65 64 69 74 65 64")), 1007)
    check_fails(close(1000, h("c0 af")), 1007)


def test_close_reason_with_multibyte_text_is_decoded():
    check(close(1001, "au revoir €"), [closed_by_peer(1001, "au revoir €")], [sent_close(1001)])


def test_7_7_valid_close_codes_are_echoed():
    # Autobahn 7.7.1-7.7.13, plus 1012-1014, registered with IANA since.
    for code in (
        1000,
        1001,
        1002,
        1003,
        1007,
        1008,
        1009,
        1010,
        1011,
        1012,
        1013,
        1014,
        3000,
        3999,
        4000,
        4999,
    ):
        check(close(code), [closed_by_peer(code)], [sent_close(code)], pair_max=0)


def test_7_9_invalid_close_codes_fail_with_1002():
    # Autobahn 7.9.1-7.9.9 and 7.13.1-7.13.2; 1015 may not be sent on the wire either.
    for code in (0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535):
        check_fails(close(code), 1002, pair_max=0)


def test_close_frame_split_across_reads_waits_for_its_payload():
    data = close(1000, "bye")
    p = open_client()
    for i in range(len(data) - 1):
        give(p, data[i : i + 1])
        assert p.next_event() is None and p.state == OPEN
    give(p, data[-1:])
    assert p.next_event() == closed_by_peer(1000, "bye")


def test_closing_handshake_started_by_the_client():
    p = open_client()
    frame = p.close(1000, "bye")
    assert split_frames(frame) == [(True, 8, b"\x03\xe8bye")]
    assert (p.state, p.close_code, p.close_reason) == (CLOSING, 1000, "bye")
    assert p.data_to_send() == b""
    # Still CLOSING: messages are delivered, pings are reported but not answered.
    evs = feed(p, text("late") + ping(b"p"), [1] * 9)
    assert evs == [events.TextMessage("late"), events.Ping(b"p")]
    assert p.state == CLOSING and p.data_to_send() == b""
    assert feed(p, close(1000, "ok"), [1, 5]) == [closed_by_peer(1000, "ok")]
    assert (p.state, p.close_code, p.close_reason) == (CLOSED, 1000, "ok")
    assert p.data_to_send() == b""  # no second close frame
    give(p, b"")
    assert p.next_event() is None


def test_client_close_answered_with_another_code_reports_the_peers_code():
    p = open_client()
    p.close(1001)
    assert feed(p, close(1011, "oops"), [4, 10]) == [closed_by_peer(1011, "oops")]
    assert p.close_code == 1011


def test_bad_frame_while_closing_fails_without_sending_a_second_close():
    p = open_client()
    p.close(1000)
    assert feed(p, close(999), [2, 2]) == [fail(1002)]
    assert p.state == CLOSED and p.data_to_send() == b""


def test_nothing_can_be_sent_after_the_close():
    p = open_client()
    feed(p, close(1000), [4])
    assert p.state == CLOSED
    for data in ("x", b"x"):
        raises(LocalProtocolError, p.send, data)
    raises(LocalProtocolError, p.ping, b"x")
    raises(LocalProtocolError, p.close)


def test_eof_without_close_is_1006_and_sends_nothing():
    check(b"", [fail(1006)], [], eof=True)
    check(text("hi"), [events.TextMessage("hi"), fail(1006)], [], eof=True)
    p = open_client()
    give(p, b"")
    ev = p.next_event()
    assert ev == events.CloseConnection(1006, ev[2], False)
    assert (p.state, p.close_code) == (CLOSED, 1006)
    assert p.next_event() is None


def test_eof_in_the_middle_of_a_frame_is_1006():
    for data in (h("81"), text("Hello")[:4], text("x" * 200)[:3], text("frag", fin=False)):
        check(data, [fail(1006)], [], eof=True)


def test_eof_after_the_close_is_nothing_more():
    check(close(1000), [closed_by_peer(1000)], [sent_close(1000)], eof=True)


def test_eof_while_closing_is_1006():
    p = open_client()
    p.close(1000)
    give(p, text("x"))
    give(p, None)
    assert drain(p) == [events.TextMessage("x"), fail(1006)]
    assert p.state == CLOSED


def test_failure_stops_processing_and_sends_one_close():
    data = text("a") + h("83 00") + text("b") + ping() + close(1000)
    for plan in ([len(data)], splits(len(data), 1)):
        p = open_client()
        assert feed(p, data, plan) == [events.TextMessage("a"), fail(1002)]
        assert frames_sent(p) == [sent_close(1002)]
        give(p, b"")
        assert p.next_event() is None and p.data_to_send() == b""


def test_bytes_after_the_close_are_dropped_not_buffered():
    # A socket loop may keep reading until the peer's FIN: what a peer sends meanwhile must
    # not pile up in the device's heap.
    for opener in (close(1000), h("83 00")):
        p = open_client()
        feed(p, opener, [len(opener)])
        assert p.state == CLOSED
        free = len(p.recv_buffer())
        for _ in range(50):
            give(p, b"x" * 1000)
            buf = p.recv_buffer()
            buf[0:100] = b"y" * 100
            p.received(100)
            assert p.next_event() is None
        assert len(p.recv_buffer()) == free
        p.received(0)
        assert p.next_event() is None
