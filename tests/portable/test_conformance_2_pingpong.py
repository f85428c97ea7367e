"""Autobahn TestSuite section 2 (pings and pongs), client side: a ping is answered by a pong with
the same payload, a pong is only a sign of life, a control frame over 125 bytes fails with 1002."""

from conftools import check, check_fails, feed, h, ping, pong, sent_pong, text
from wsutil import events, open_client, server_frame, split_frames


def test_2_1_ping_without_payload_is_answered_with_an_empty_pong():
    check(ping(), [events.Ping(b"")], [sent_pong(b"")])


def test_2_2_ping_with_text_payload_is_echoed():
    check(ping(b"Hello, world!"), [events.Ping(b"Hello, world!")], [sent_pong(b"Hello, world!")])


def test_2_3_ping_with_binary_payload_is_echoed():
    payload = h("00 ff fe fd fc fb 00 ff")
    check(ping(payload), [events.Ping(payload)], [sent_pong(payload)])


def test_2_4_ping_with_125_byte_payload_is_echoed():
    payload = b"\xfe" * 125
    check(ping(payload), [events.Ping(payload)], [sent_pong(payload)])


def test_2_5_ping_with_126_byte_payload_fails_with_1002():
    check_fails(ping(b"\xfe" * 126), 1002)


def test_2_5_control_frame_over_125_fails_on_its_header_alone():
    # The 16-bit length form is already illegal for a control frame: no need to wait for payload.
    check_fails(server_frame(9, b"", length=126)[:4], 1002)
    check_fails(server_frame(10, b"", length=65536)[:10], 1002)


def test_2_6_ping_with_125_byte_payload_arriving_in_1_byte_chops():
    # check() feeds every case byte by byte too; this one is the case Autobahn chops itself.
    payload = bytes(range(125))
    check(ping(payload), [events.Ping(payload)], [sent_pong(payload)])


def test_2_7_unsolicited_pong_without_payload_is_an_event_and_not_answered():
    check(pong(), [events.Pong(b"")])


def test_2_8_unsolicited_pong_with_payload_is_an_event_and_not_answered():
    check(pong(b"unsolicited pong payload"), [events.Pong(b"unsolicited pong payload")])


def test_2_9_pong_then_ping_answers_only_the_ping():
    data = pong(b"unsolicited pong payload") + ping(b"ping payload")
    check(
        data,
        [events.Pong(b"unsolicited pong payload"), events.Ping(b"ping payload")],
        [sent_pong(b"ping payload")],
    )


def _ten_pings():
    payloads = [("payload-%d" % i).encode() for i in range(10)]
    return payloads, b"".join(ping(p) for p in payloads)


def test_2_10_ten_pings_get_ten_pongs_in_order():
    payloads, data = _ten_pings()
    p = open_client()
    assert feed(p, data, [len(data)]) == [events.Ping(x) for x in payloads]
    assert split_frames(p.data_to_send()) == [sent_pong(x) for x in payloads]


def test_2_11_ten_pings_in_chops_get_ten_pongs_in_order():
    # check() feeds it at once, byte by byte, in 3-byte chops and split in two everywhere.
    payloads, data = _ten_pings()
    check(data, [events.Ping(p) for p in payloads], [sent_pong(p) for p in payloads])


def test_ping_between_messages_keeps_message_order():
    data = text("a") + ping(b"p") + text("b")
    want = [events.TextMessage("a"), events.Ping(b"p"), events.TextMessage("b")]
    check(data, want, [sent_pong(b"p")])
