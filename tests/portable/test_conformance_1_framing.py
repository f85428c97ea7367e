"""Autobahn TestSuite section 1 (framing), client side: text and binary messages of every length
encoding, whole and chopped. Each case is fed at once, byte by byte and split in two."""

from conftools import binary, check, edge_splits, feed, feed_readinto, roomy, text
from wsutil import events, open_client

_BIG = 70000  # the default 16 KiB limit would refuse the 64 KiB cases


def _text_case(n):
    data = "*" * n
    check(text(data), [events.TextMessage(data)], max_message_size=_BIG)


def _binary_case(n):
    data = b"\xfe" * n
    check(binary(data), [events.BytesMessage(data)], max_message_size=_BIG)


def test_1_1_1_empty_text_message():
    _text_case(0)


def test_1_1_2_text_125_bytes_has_a_7_bit_length():
    assert text("*" * 125)[1] == 125
    _text_case(125)


def test_1_1_3_text_126_bytes_has_a_16_bit_length():
    assert text("*" * 126)[1:4] == b"\x7e\x00\x7e"
    _text_case(126)


def test_1_1_4_text_127_bytes():
    _text_case(127)


def test_1_1_5_text_128_bytes():
    _text_case(128)


def test_1_1_6_text_65535_bytes_is_the_largest_16_bit_length():
    assert text("*" * 65535)[1:4] == b"\x7e\xff\xff"
    _text_case(65535)


def test_1_1_7_text_65536_bytes_has_a_64_bit_length():
    assert text("*" * 65536)[1:10] == b"\x7f\x00\x00\x00\x00\x00\x01\x00\x00"
    _text_case(65536)


def test_1_1_8_text_65536_bytes_in_chops_of_997():
    roomy()
    data = "*" * 65536
    frame = text(data)
    p = open_client(max_message_size=_BIG)
    assert feed(p, frame, [997] * (len(frame) // 997 + 1)) == [events.TextMessage(data)]


def test_1_2_1_empty_binary_message():
    _binary_case(0)


def test_1_2_2_binary_125_bytes():
    _binary_case(125)


def test_1_2_3_binary_126_bytes():
    _binary_case(126)


def test_1_2_4_binary_127_bytes():
    _binary_case(127)


def test_1_2_5_binary_128_bytes():
    _binary_case(128)


def test_1_2_6_binary_65535_bytes():
    _binary_case(65535)


def test_1_2_7_binary_65536_bytes():
    _binary_case(65536)


def test_1_2_8_binary_65536_bytes_in_chops_of_997():
    roomy()
    data = b"\xfe" * 65536
    frame = binary(data)
    p = open_client(max_message_size=_BIG)
    assert feed(p, frame, [997] * (len(frame) // 997 + 1)) == [events.BytesMessage(data)]


def test_messages_back_to_back_in_one_read_come_out_in_order():
    frames = text("one") + binary(b"\x00\x01") + text("") + text("x" * 300) + binary(b"")
    want = [
        events.TextMessage("one"),
        events.BytesMessage(b"\x00\x01"),
        events.TextMessage(""),
        events.TextMessage("x" * 300),
        events.BytesMessage(b""),
    ]
    check(frames, want)


def test_frames_through_recv_buffer_and_received_stream_through_a_small_buffer():
    # The socket loop's path: readinto the core's buffer; frames larger than it stream through.
    data = b"".join(bytes((i & 255,)) for i in range(3000))
    frames = binary(data) + text("é" * 700) + binary(b"tail")
    want = [events.BytesMessage(data), events.TextMessage("é" * 700), events.BytesMessage(b"tail")]
    for chunk in (1, 7, 256, 1024, 100000):
        p = open_client(rx_buffer_size=256)
        assert feed_readinto(p, frames, chunk) == want, chunk


def test_a_64k_message_fed_byte_by_byte_at_its_edges():
    roomy()
    data = "€" * 21846  # 65538 bytes: a 64-bit length, multi-byte characters split everywhere
    frame = text(data)
    p = open_client(max_message_size=_BIG)
    assert feed(p, frame, edge_splits(len(frame), 400, 4099)) == [events.TextMessage(data)]
