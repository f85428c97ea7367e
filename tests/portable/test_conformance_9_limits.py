"""Autobahn TestSuite section 9 (limits and performance), client side, scaled to a device: messages
up to max_message_size arrive whole however they are framed and chopped, larger ones fail with
1009 as soon as a frame header announces the excess, and many messages stream through a small buffer."""

from conftools import (
    MICROPYTHON,
    binary,
    check,
    check_fails,
    cont,
    edge_splits,
    fail,
    fails_at,
    feed,
    feed_readinto,
    fragments,
    frames_sent,
    ping,
    roomy,
    sent_close,
    sent_pong,
    splits,
    text,
)
from ws.protocol import ClientProtocol
from wsutil import OP_BINARY, OP_TEXT, events, open_client, server_frame

_MAX = 2048  # a small limit keeps the byte-by-byte runs quick on MicroPython


def _payload(n):
    return bytes((i * 7) & 255 for i in range(n))


def test_default_limits_are_public_class_attributes():
    assert ClientProtocol.max_message_size == 16384
    assert ClientProtocol.fragment_size == 4096
    p = open_client(max_message_size=100)
    assert p.max_message_size == 100 and ClientProtocol.max_message_size == 16384


def test_9_1_text_message_of_exactly_the_limit_is_delivered():
    s = "x" * _MAX
    check(text(s), [events.TextMessage(s)], max_message_size=_MAX)


def test_9_1_text_message_one_byte_over_fails_with_1009_on_its_header():
    frame = text("x" * (_MAX + 1))
    check_fails(frame, 1009, max_message_size=_MAX)
    fails_at(frame, 1009, 3, max_message_size=_MAX)  # 16-bit length: a 4-byte header


def test_9_2_binary_message_of_exactly_the_limit_is_delivered():
    data = _payload(_MAX)
    check(binary(data), [events.BytesMessage(data)], max_message_size=_MAX)


def test_9_2_binary_message_over_the_limit_fails_with_1009():
    check_fails(binary(_payload(_MAX + 1)), 1009, max_message_size=_MAX)
    fails_at(server_frame(OP_BINARY, b"", length=1 << 40), 1009, 9, max_message_size=_MAX)


def test_9_3_fragmented_text_up_to_the_limit_in_any_fragment_size():
    s = "ab€" * (_MAX // 5)  # 2045 bytes, a 3-byte code point split at many fragment edges
    b = s.encode()
    check(fragments(OP_TEXT, b, 64), [events.TextMessage(s)], max_message_size=_MAX)
    for size in (1, 256, 1024, 2048):
        data = fragments(OP_TEXT, b, size)
        for chop in (len(data), 61):
            p = open_client(max_message_size=_MAX)
            assert feed(p, data, splits(len(data), chop)) == [events.TextMessage(s)], (size, chop)


def test_9_4_fragmented_binary_up_to_the_limit_in_any_fragment_size():
    data = _payload(_MAX)
    check(fragments(OP_BINARY, data, 64), [events.BytesMessage(data)], max_message_size=_MAX)
    for size in (1, 256, 1024, 2048):
        frames = fragments(OP_BINARY, data, size)
        for chop in (len(frames), 61):
            p = open_client(max_message_size=_MAX)
            assert feed(p, frames, splits(len(frames), chop)) == [events.BytesMessage(data)], (size, chop)


def test_fragments_whose_total_exceeds_the_limit_fail_on_the_crossing_header():
    first = binary(_payload(_MAX - 10), fin=False)
    data = first + cont(_payload(10), fin=False) + cont(b"!")
    check_fails(data, 1009, max_message_size=_MAX)
    fails_at(data, 1009, len(first) + 12 + 1, max_message_size=_MAX)
    data = text("y" * 3000, fin=False) + cont("y" * 3000)  # neither frame alone is too big
    check_fails(data, 1009, max_message_size=_MAX)


def test_control_frames_do_not_count_towards_the_message_size():
    data = binary(_payload(_MAX - 1), fin=False) + ping(b"p" * 125) + cont(b"z")
    want = [events.Ping(b"p" * 125), events.BytesMessage(_payload(_MAX - 1) + b"z")]
    check(data, want, [sent_pong(b"p" * 125)], max_message_size=_MAX)


def test_9_5_text_message_in_chops_of_every_size():
    s = "chop €" * 500
    frame = text(s)
    for chop in (1, 64, 128, 256, 512, 1024, 2048, 4096):
        p = open_client()
        assert feed(p, frame, splits(len(frame), chop)) == [events.TextMessage(s)], chop


def test_9_6_binary_message_in_chops_of_every_size():
    data = _payload(4000)
    frame = binary(data)
    for chop in (1, 64, 128, 256, 512, 1024, 2048, 4096):
        p = open_client()
        assert feed(p, frame, splits(len(frame), chop)) == [events.BytesMessage(data)], chop


def _many(n):
    frames = []
    want = []
    for i in range(n):
        size = (i * 37) % 40
        if i & 1:
            data = _payload(size)
            frames.append(binary(data))
            want.append(events.BytesMessage(data))
        else:
            s = "m%d" % i + "·" * (size // 2)
            frames.append(text(s))
            want.append(events.TextMessage(s))
    return b"".join(frames), want


def test_9_7_and_9_8_a_thousand_messages_in_one_read_and_chopped():
    roomy()
    data, want = _many(1000)
    for plan in ([len(data)], splits(len(data), 1000), edge_splits(len(data), 500, 4096)):
        p = open_client()
        assert feed(p, data, plan) == want
        assert p.data_to_send() == b""


def test_messages_stream_through_a_small_receive_buffer_without_growing_it():
    data, want = _many(100 if MICROPYTHON else 300)
    big = _payload(_MAX)
    data += binary(big)
    want.append(events.BytesMessage(big))
    for chunk in (1, 100, 256, 10000):
        p = open_client(rx_buffer_size=256, max_message_size=_MAX)
        assert feed_readinto(p, data, chunk) == want, chunk
        assert len(p.recv_buffer()) == 256


def test_64_bit_length_with_the_top_bit_set_fails_with_1002():
    frame = b"\x82\x7f\x80" + b"\x00" * 7
    check_fails(frame, 1002)
    fails_at(frame, 1002, 9)


def test_largest_legal_64_bit_length_fails_with_1009_not_an_allocation():
    frame = b"\x82\x7f\x7f" + b"\xff" * 7
    check_fails(frame, 1009)


def test_after_a_1009_nothing_else_is_delivered():
    data = binary(_payload(_MAX + 1)) + text("after")
    for plan in ([len(data)], splits(len(data), 1)):
        p = open_client(max_message_size=_MAX)
        assert feed(p, data, plan) == [fail(1009)]
        assert frames_sent(p) == [sent_close(1009)]
