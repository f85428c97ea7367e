"""Frames on the wire (RFC 6455 5.2-5.7): the RFC's byte vectors, length encodings, masking,
fragmentation of outgoing messages, close payloads, and what may be sent in which state."""

from conftools import MICROPYTHON, binary, check, cont, feed, h, ping, roomy, sent_pong, text
from ws.mask import mask16, mask16_portable
from ws.protocol import ClientProtocol, LocalProtocolError, check_close_code
from wsutil import (
    CLOSED,
    CLOSING,
    CONNECTING,
    FIXED_MASK,
    OPEN,
    events,
    fixed_random,
    open_client,
    raises,
    split_frames,
    unmask,
)

# ---- RFC 6455 5.7 examples ---------------------------------------------------------------


def test_rfc_5_7_unmasked_text_hello_from_the_server():
    frame = h("81 05 48 65 6c 6c 6f")
    assert text("Hello") == frame
    check(frame, [events.TextMessage("Hello")])


def test_rfc_5_7_masked_text_hello_from_the_client():
    p = open_client()
    assert bytes(p.send("Hello")) == h("81 85 37 fa 21 3d 7f 9f 4d 51 58")


def test_rfc_5_7_fragmented_unmasked_text():
    data = h("01 03 48 65 6c") + h("80 02 6c 6f")
    check(data, [events.TextMessage("Hello")])


def test_rfc_5_7_unmasked_ping_is_answered_with_the_masked_pong_of_the_example():
    p = open_client()
    assert feed(p, h("89 05 48 65 6c 6c 6f"), [7]) == [events.Ping(b"Hello")]
    assert p.data_to_send() == h("8a 85 37 fa 21 3d 7f 9f 4d 51 58")


def test_rfc_5_7_binary_256_bytes_in_one_unmasked_frame():
    data = bytes(range(256))
    frame = h("82 7e 01 00") + data
    assert binary(data) == frame
    check(frame, [events.BytesMessage(data)], pair_max=0)


def test_rfc_5_7_binary_64_kib_in_one_unmasked_frame():
    data = b"\xa5" * 65536
    frame = h("82 7f 00 00 00 00 00 01 00 00") + data
    assert binary(data) == frame
    check(frame, [events.BytesMessage(data)], max_message_size=65536)


def test_rfc_5_7_binary_256_and_64_kib_from_the_client():
    roomy()
    p = open_client(fragment_size=1 << 20)
    frame = bytes(p.send(bytes(256)))
    assert frame[:8] == h("82 fe 01 00 37 fa 21 3d")
    assert frame[8:12] == FIXED_MASK  # zeros masked are the key itself
    frame = bytes(p.send(bytes(65536)))
    assert frame[:14] == h("82 ff 00 00 00 00 00 01 00 00 37 fa 21 3d")
    assert len(frame) == 14 + 65536


# ---- length encodings (5.2) --------------------------------------------------------------


def _sent_header(n):
    p = open_client(fragment_size=1 << 20)
    return bytes(p.send(bytes(i & 255 for i in range(n)) if n < 300 else b"\x5a" * n))


def test_outgoing_lengths_use_the_shortest_encoding_at_every_boundary():
    roomy()
    cases = (
        (0, h("82 80")),
        (1, h("82 81")),
        (125, h("82 fd")),
        (126, h("82 fe 00 7e")),
        (127, h("82 fe 00 7f")),
        (65535, h("82 fe ff ff")),
        (65536, h("82 ff 00 00 00 00 00 01 00 00")),
        (65537, h("82 ff 00 00 00 00 00 01 00 01")),
    )
    for n, head in cases:
        frame = _sent_header(n)
        assert frame[: len(head)] == head, n
        assert frame[len(head) : len(head) + 4] == FIXED_MASK
        assert len(frame) == len(head) + 4 + n
        fin, op, payload = unmask(frame)
        assert (fin, op, len(payload)) == (True, 2, n)


def test_outgoing_payload_round_trips_through_the_mask():
    roomy()
    p = open_client(fragment_size=1 << 20)
    for n in (0, 1, 3, 4, 5, 125, 126, 1000, 65536):
        data = bytes((i * 13 + 5) & 255 for i in range(n))
        assert split_frames(p.send(data)) == [(True, 2, data)], n


def test_incoming_lengths_at_every_boundary():
    for n in (0, 125, 126, 127, 65535, 65536):
        roomy()
        data = b"\x42" * n
        p = open_client(max_message_size=70000)
        frame = binary(data)
        assert feed(p, frame, [len(frame)]) == [events.BytesMessage(data)], n
        if not n:
            continue
        # The header alone, byte by byte, produces no event.
        p = open_client(max_message_size=70000)
        head = len(frame) - n
        assert feed(p, frame[:head], [1] * head) == []


def test_every_frame_gets_a_fresh_mask_key():
    # Keys are the next 4 bytes of the random stream, drawn 256 bytes at a time.
    keys = [b"\x01\x02\x03\x04", b"\xff\x00\xff\x00", b"\x00\x00\x00\x00", b"\xde\xad\xbe\xef"]
    draws = []

    def rand(n):
        draws.append(n)
        return (b"".join(keys) * (n // 16 + 1))[:n]

    p = ClientProtocol("h", 80, random_bytes=rand)
    p.data_to_send()
    p.state = OPEN  # the handshake is not what this test is about (ws.protocol's state OPEN)
    frames = [bytes(p.send("abcdefg")) for _ in range(4)]
    assert [f[2:6] for f in frames] == keys
    assert [unmask(f) for f in frames] == [(True, 1, b"abcdefg")] * 4
    assert frames[2][6:] == b"abcdefg"  # a zero key leaves the payload as it is
    more = [bytes(p.send("x"))[2:6] for _ in range(64)]
    assert more[60:] == keys  # the stream goes on into a second draw
    assert draws == [16, 256, 256]  # the handshake key, then two draws of keys


def test_text_is_sent_as_utf8():
    p = open_client()
    s = "é€😀 ok"
    assert split_frames(p.send(s)) == [(True, 1, s.encode())]


def test_sent_frame_is_a_view_valid_until_the_next_send():
    p = open_client()
    first = bytes(p.send("one"))
    p.send("two")
    assert unmask(first) == (True, 1, b"one")


# ---- masking (5.3) -----------------------------------------------------------------------


def _pattern(n):
    # Period 251 (a prime): an index error in the masking loop cannot hide behind the key's period 4.
    block = bytes((i * 31 + 7) & 255 for i in range(251))
    return (block * (n // 251 + 1))[:n]


def _reference_mask(key, n):
    # The masked pattern repeats every 4 * 251 bytes: compute one period, then repeat it.
    period = _pattern(1004)
    one = bytes(period[i] ^ key[i & 3] for i in range(1004))
    return (one * (n // 1004 + 1))[:n]


def _mask_check(fn, n, key):
    data = _pattern(n)
    buf = bytearray(16 + n + 9)
    buf[0:12] = b"\xee" * 12
    buf[12:16] = key
    buf[16 : 16 + n] = data
    buf[16 + n :] = b"\xcc" * 9
    fn(buf, n)
    assert buf[:12] == b"\xee" * 12, n  # the header room is untouched
    assert buf[12:16] == key, n
    assert buf[16 : 16 + n] == _reference_mask(key, n), n
    assert buf[16 + n :] == b"\xcc" * 9, n  # nothing past the payload
    fn(buf, n)
    assert buf[16 : 16 + n] == data, n  # masking twice unmasks


def test_mask16_matches_the_definition_for_short_lengths():
    for key in (FIXED_MASK, b"\x00\x00\x00\x00", b"\xff\xff\xff\xff", b"\x01\x80\x7f\xfe"):
        for n in range(41):
            _mask_check(mask16, n, key)
            _mask_check(mask16_portable, n, key)


def test_mask16_matches_the_definition_for_large_lengths():
    roomy()
    for n in (255, 256, 1000, 4095, 4096, 4097, 65537):
        _mask_check(mask16, n, FIXED_MASK)
    # The portable version builds big integers (about 3n bytes); the board uses the viper one.
    for n in (255, 1000, 4097, 16383 if MICROPYTHON else 65537):
        _mask_check(mask16_portable, n, b"\x81\x42\x24\x18")


def test_rfc_mask_example_bytes():
    buf = bytearray(16) + bytearray(b"Hello")
    buf[12:16] = FIXED_MASK
    mask16(buf, 5)
    assert bytes(buf[16:]) == h("7f 9f 4d 51 58")


# ---- the send buffer ---------------------------------------------------------------------


def test_send_buffer_grows_for_large_payloads_and_keeps_working():
    p = open_client(fragment_size=1000)
    small = bytes(p.send(b"hi"))
    big = bytes(p.send(b"\x01" * 300))
    p.index = 0  # the same mask key again
    again = bytes(p.send(b"hi"))
    assert small == again
    assert unmask(big) == (True, 2, b"\x01" * 300)


# ---- fragmentation of outgoing messages ---------------------------------------------------


def test_message_up_to_fragment_size_is_one_frame():
    p = open_client(fragment_size=4)
    assert split_frames(p.send(b"abcd")) == [(True, 2, b"abcd")]
    assert split_frames(p.send(b"")) == [(True, 2, b"")]


def test_message_over_fragment_size_is_split_into_continuations():
    p = open_client(fragment_size=3)
    assert split_frames(p.send(b"abcdefghij")) == [
        (False, 2, b"abc"),
        (False, 0, b"def"),
        (False, 0, b"ghi"),
        (True, 0, b"j"),
    ]
    assert split_frames(p.send(b"abcdef")) == [(False, 2, b"abc"), (True, 0, b"def")]


def test_text_fragments_may_split_a_code_point_and_reassemble():
    p = open_client(fragment_size=2)
    s = "a€b"
    frames = split_frames(p.send(s))
    assert [f[1] for f in frames] == [1, 0, 0]
    assert b"".join(f[2] for f in frames) == s.encode()
    assert [f[0] for f in frames] == [False, False, True]


def test_default_fragment_size_splits_at_4096():
    p = open_client()
    data = bytes(10000)
    frames = split_frames(p.send(data))
    assert [(f[0], f[1], len(f[2])) for f in frames] == [(False, 2, 4096), (False, 0, 4096), (True, 0, 1808)]


def test_fragmented_output_is_what_our_own_parser_reassembles():
    sender = open_client(fragment_size=5)
    s = "fragment me, é and € too"
    wire = b""
    for fin, op, payload in split_frames(sender.send(s)):
        wire += text(payload, fin) if op == 1 else cont(payload, fin)
    check(wire, [events.TextMessage(s)], pair_max=0)


def test_fragment_size_must_be_positive():
    raises(LocalProtocolError, ClientProtocol, "h", 80, random_bytes=fixed_random, fragment_size=0)


# ---- pings -------------------------------------------------------------------------------


def test_send_ping_payload_limits():
    p = open_client()
    assert split_frames(p.ping()) == [(True, 9, b"")]
    assert bytes(p.ping()) == h("89 80 37 fa 21 3d")
    assert split_frames(p.ping(b"x" * 125)) == [(True, 9, b"x" * 125)]
    e = raises(LocalProtocolError, p.ping, b"x" * 126)
    assert "125" in str(e)


def test_pong_echo_of_an_empty_and_a_full_ping():
    check(
        ping(b"") + ping(b"z" * 125),
        [events.Ping(b""), events.Ping(b"z" * 125)],
        [sent_pong(), sent_pong(b"z" * 125)],
    )


# ---- close frames (5.5.1, 7.4) -----------------------------------------------------------


def test_send_close_payloads():
    p = open_client()
    assert bytes(p.close()) == h("88 82 37 fa 21 3d 34 12")  # 1000, masked
    assert split_frames(open_client().close(1001, "bye")) == [(True, 8, b"\x03\xe9bye")]
    assert split_frames(open_client().close(4999, "é")) == [(True, 8, b"\x13\x87\xc3\xa9")]
    p = open_client()
    assert split_frames(p.close(None)) == [(True, 8, b"")]
    assert (p.state, p.close_code) == (CLOSING, 1005)


def test_send_close_reason_fits_in_123_bytes():
    assert split_frames(open_client().close(1000, "r" * 123)) == [(True, 8, b"\x03\xe8" + b"r" * 123)]
    e = raises(LocalProtocolError, open_client().close, 1000, "r" * 124)
    assert "123" in str(e)
    raises(LocalProtocolError, open_client().close, 1000, "é" * 62)  # 124 bytes, 62 chars


def test_send_close_refuses_codes_that_may_not_be_sent():
    for code in (0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535):
        p = open_client()
        raises(LocalProtocolError, p.close, code)
        assert p.state == OPEN  # a refused close changes nothing


def test_check_close_code_ranges():
    valid = [c for c in range(0, 5100) if check_close_code(c)]
    assert valid == [1000, 1001, 1002, 1003] + list(range(1007, 1015)) + list(range(3000, 5000))


def test_close_payload_of_each_kind_of_code():
    assert split_frames(open_client().close(None)) == [(True, 8, b"")]
    assert split_frames(open_client().close(1000)) == [(True, 8, b"\x03\xe8")]
    assert split_frames(open_client().close(3000, "x")) == [(True, 8, b"\x0b\xb8x")]
    raises(LocalProtocolError, open_client().close, 1005)


# ---- sending in the wrong state ----------------------------------------------------------


def _assert_cannot_send(p):
    raises(LocalProtocolError, p.send, "x")
    raises(LocalProtocolError, p.send, b"x")
    raises(LocalProtocolError, p.ping, b"x")
    raises(LocalProtocolError, p.close, 1000)


def test_nothing_can_be_sent_before_the_handshake():
    p = ClientProtocol("h", 80, random_bytes=fixed_random)
    assert p.state == CONNECTING
    _assert_cannot_send(p)
    assert p.state == CONNECTING


def test_only_close_is_refused_twice_after_send_close():
    p = open_client()
    p.close()
    assert p.state == CLOSING
    e = raises(LocalProtocolError, p.send, "x")
    assert "CLOSING" in str(e)
    _assert_cannot_send(p)


def test_nothing_can_be_sent_after_the_peer_closed_or_we_failed():
    p = open_client()
    feed(p, h("88 02 03 e8"), [4])
    assert p.state == CLOSED
    _assert_cannot_send(p)
    p = open_client()
    feed(p, h("83 00"), [2])
    assert p.state == CLOSED
    e = raises(LocalProtocolError, p.send, b"x")
    assert "CLOSED" in str(e)
    _assert_cannot_send(p)


def test_the_board_masks_with_viper_machine_code():
    import sys

    from ws import mask

    if sys.implementation.name == "micropython":
        assert mask.mask16 is not mask.mask16_portable  # compiled on the device at import
    else:
        assert mask.mask16 is mask.mask16_portable  # CPython has no viper emitter
    buf = bytearray(16 + 9)
    buf[12:16] = b"\x01\x02\x03\x04"
    mask.mask16(buf, 9)
    assert bytes(buf[16:]) == b"\x01\x02\x03\x04\x01\x02\x03\x04\x01"
