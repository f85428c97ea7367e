"""Autobahn TestSuite section 4 (opcodes), client side: reserved non-control opcodes 3-7 and
reserved control opcodes 11-15 fail the connection with 1002; earlier messages are delivered,
later frames (a ping) are ignored."""

from conftools import check_fails, fails_at, ping, text
from wsutil import OP_TEXT, events, server_frame

_HELLO = events.TextMessage("Hello, world!")
_PAYLOAD = b"reserved opcode payload"


def _alone(opcode, payload=b""):
    check_fails(server_frame(opcode, payload), 1002)


def _between(opcode, payload=b""):
    data = text("Hello, world!") + server_frame(opcode, payload) + ping(b"Hello, world!")
    check_fails(data, 1002, before=[_HELLO])


def test_4_1_1_opcode_3_fails():
    _alone(3)


def test_4_1_2_opcode_4_with_payload_fails():
    _alone(4, _PAYLOAD)


def test_4_1_3_opcode_5_after_a_message_fails_and_the_ping_is_ignored():
    _between(5)


def test_4_1_4_opcode_6_with_payload_after_a_message_fails():
    _between(6, _PAYLOAD)


def test_4_1_5_opcode_7_with_payload_after_a_message_fails():
    _between(7, _PAYLOAD)


def test_4_2_1_opcode_11_fails():
    _alone(11)


def test_4_2_2_opcode_12_with_payload_fails():
    _alone(12, _PAYLOAD)


def test_4_2_3_opcode_13_after_a_message_fails():
    _between(13)


def test_4_2_4_opcode_14_with_payload_after_a_message_fails():
    _between(14, _PAYLOAD)


def test_4_2_5_opcode_15_with_payload_after_a_message_fails():
    _between(15, _PAYLOAD)


def test_every_reserved_opcode_fails_on_the_header_alone():
    for op in (3, 4, 5, 6, 7, 11, 12, 13, 14, 15):
        fails_at(server_frame(op, _PAYLOAD), 1002, 1)
        fails_at(server_frame(op, _PAYLOAD, fin=False), 1002, 1)


def test_reserved_opcode_inside_a_fragmented_message_fails():
    for op in (3, 7, 11, 15):
        data = server_frame(OP_TEXT, b"frag", fin=False) + server_frame(op, b"x") + server_frame(0, b"ment")
        check_fails(data, 1002)
