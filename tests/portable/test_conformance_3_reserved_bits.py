"""Autobahn TestSuite section 3 (reserved bits), client side: no extension was negotiated, so a
frame with RSV1-3 set fails the connection with 1002; what came before is still delivered and
what comes after (a ping) is not answered."""

from conftools import check_fails, close, fails_at, ping, text
from wsutil import OP_BINARY, OP_CLOSE, OP_PING, OP_TEXT, events, server_frame

_HELLO = events.TextMessage("Hello, world!")


def test_3_1_text_with_rsv1_fails_with_1002():
    check_fails(server_frame(OP_TEXT, b"Hello, world!", rsv=1), 1002)


def test_3_2_rsv2_after_a_good_message_fails_and_the_following_ping_is_ignored():
    data = text("Hello, world!") + server_frame(OP_TEXT, b"Hello, world!", rsv=2) + ping(b"Hello, world!")
    check_fails(data, 1002, before=[_HELLO])


def test_3_3_rsv3_frame_wise():
    data = text("Hello, world!") + server_frame(OP_TEXT, b"Hello, world!", rsv=3) + ping(b"Hello, world!")
    check_fails(data, 1002, before=[_HELLO])


def test_3_4_rsv4_octet_wise():
    data = text("Hello, world!") + server_frame(OP_TEXT, b"Hello, world!", rsv=4) + ping(b"Hello, world!")
    check_fails(data, 1002, before=[_HELLO])


def test_3_5_binary_with_rsv5_fails():
    check_fails(server_frame(OP_BINARY, bytes(range(8)), rsv=5), 1002)


def test_3_6_ping_with_rsv6_fails_and_is_not_answered():
    check_fails(server_frame(OP_PING, b"Hello, world!", rsv=6), 1002)


def test_3_7_close_with_rsv7_fails():
    check_fails(server_frame(OP_CLOSE, b"\x03\xe8", rsv=7), 1002)


def test_every_rsv_combination_fails_before_the_payload_arrives():
    for rsv in range(1, 8):
        frame = server_frame(OP_TEXT, b"x" * 20, rsv=rsv)
        fails_at(frame, 1002, 1)  # decided on the two-byte header


def test_rsv_bits_on_a_continuation_frame_fail():
    data = server_frame(OP_TEXT, b"frag", fin=False) + server_frame(0, b"ment", rsv=1)
    check_fails(data, 1002)


def test_close_after_a_failure_is_ignored():
    data = server_frame(OP_TEXT, b"x", rsv=2) + close(1000)
    check_fails(data, 1002)
