"""Autobahn TestSuite section 5 (fragmentation), client side: fragments are reassembled, control
frames may come between them, but a fragmented control frame, a continuation with nothing to
continue, or a new data frame inside a fragmented message fail the connection with 1002."""

from conftools import (
    binary,
    check,
    check_fails,
    cont,
    fails_at,
    feed,
    fragments,
    frames_sent,
    ping,
    pong,
    sent_pong,
    text,
)
from wsutil import OP_BINARY, OP_PING, OP_PONG, OP_TEXT, events, open_client, server_frame


def test_5_1_ping_in_two_fragments_fails():
    data = server_frame(OP_PING, b"fragment1", fin=False) + cont("fragment2")
    check_fails(data, 1002)


def test_5_2_pong_in_two_fragments_fails():
    data = server_frame(OP_PONG, b"fragment1", fin=False) + cont("fragment2")
    check_fails(data, 1002)


def test_fragmented_control_frame_fails_on_its_header_alone():
    fails_at(server_frame(OP_PING, b"fragment1", fin=False), 1002, 1)
    fails_at(server_frame(8, b"\x03\xe8", fin=False), 1002, 1)


def _frame_wise(frames, want_after_each):
    # Autobahn's "frame-wise" chopping: one read per frame; events after each read.
    p = open_client()
    for frame, want in zip(frames, want_after_each):
        assert feed(p, frame, [len(frame)]) == want
    return p


def test_5_3_to_5_5_text_in_two_fragments_at_once_frame_wise_and_octet_wise():
    frames = [text("fragment1", fin=False), cont("fragment2")]
    check(b"".join(frames), [events.TextMessage("fragment1fragment2")])  # also byte by byte
    _frame_wise(frames, [[], [events.TextMessage("fragment1fragment2")]])


def test_5_6_to_5_8_ping_between_fragments_is_answered_and_the_message_completes():
    frames = [text("fragment1", fin=False), ping(b"ping payload"), cont("fragment2")]
    want = [events.Ping(b"ping payload"), events.TextMessage("fragment1fragment2")]
    check(b"".join(frames), want, [sent_pong(b"ping payload")])
    p = _frame_wise(frames, [[], want[:1], want[1:]])
    assert frames_sent(p) == [sent_pong(b"ping payload")]


def test_5_9_final_continuation_with_nothing_to_continue_fails():
    data = cont("non-continuation payload") + text("Hello, world!")
    check_fails(data, 1002)


def test_5_10_and_5_11_stray_continuation_fails_on_its_header_alone():
    data = cont("non-continuation payload") + text("Hello, world!")
    check_fails(data, 1002)
    fails_at(data, 1002, 1)


def test_5_12_to_5_14_non_final_continuation_with_nothing_to_continue_fails():
    data = cont("non-continuation payload", fin=False) + text("Hello, world!")
    check_fails(data, 1002)
    fails_at(data, 1002, 1)


def test_5_15_continuation_after_a_finished_message_fails_after_delivering_it():
    data = text("fragment1", fin=False) + cont("fragment2") + cont("fragment3", fin=False) + text("fragment4")
    check_fails(data, 1002, before=[events.TextMessage("fragment1fragment2")])


def test_5_16_continuation_then_a_fragmented_text_fails_at_once():
    one = cont("fragment1", fin=False) + text("fragment2", fin=False) + cont("fragment3")
    check_fails(one + one, 1002)


def test_5_17_final_continuation_then_a_fragmented_text_fails_at_once():
    one = cont("fragment1") + text("fragment2", fin=False) + cont("fragment3")
    check_fails(one + one, 1002)


def test_5_18_new_text_frame_inside_a_fragmented_message_fails():
    data = text("fragment1", fin=False) + text("fragment2")
    check_fails(data, 1002)
    fails_at(data, 1002, len(text("fragment1")) + 1)


def test_new_binary_frame_inside_a_fragmented_text_fails():
    check_fails(text("a", fin=False) + binary(b"b"), 1002)
    check_fails(binary(b"a", fin=False) + text("b", fin=False) + cont("c"), 1002)


def _5_19_frames():
    return (
        text("fragment1", fin=False)
        + cont("fragment2", fin=False)
        + ping(b"pongme 1!")
        + cont("fragment3", fin=False)
        + cont("fragment4", fin=False)
        + ping(b"pongme 2!")
        + cont("fragment5")
    )


def test_5_19_pings_between_five_fragments():
    want = [
        events.Ping(b"pongme 1!"),
        events.Ping(b"pongme 2!"),
        events.TextMessage("fragment1fragment2fragment3fragment4fragment5"),
    ]
    check(_5_19_frames(), want, [sent_pong(b"pongme 1!"), sent_pong(b"pongme 2!")])


def test_5_20_pings_between_five_fragments_chopped():
    want = [
        events.Ping(b"pongme 1!"),
        events.Ping(b"pongme 2!"),
        events.TextMessage("fragment1fragment2fragment3fragment4fragment5"),
    ]
    check(
        _5_19_frames() + _5_19_frames(), want + want, [sent_pong(b"pongme 1!"), sent_pong(b"pongme 2!")] * 2
    )


def test_binary_message_in_many_fragments():
    data = bytes(range(256))
    for size in (1, 2, 5, 64, 255, 256):
        check(fragments(OP_BINARY, data, size), [events.BytesMessage(data)], pair_max=0)


def test_text_split_inside_code_points_reassembles():
    s = "aé€😀z" * 3
    for size in (1, 2, 3, 5):
        check(fragments(OP_TEXT, s.encode(), size), [events.TextMessage(s)], pair_max=0)


def test_empty_fragments_anywhere():
    data = text("", fin=False) + cont("", fin=False) + cont("ab", fin=False) + cont("", fin=False) + cont("")
    check(data, [events.TextMessage("ab")])
    check(binary(b"", fin=False) + cont(b""), [events.BytesMessage(b"")])


def test_control_frames_in_every_gap_of_a_fragmented_message():
    data = (
        binary(b"1", fin=False)
        + pong(b"a")
        + ping(b"b")
        + cont(b"2", fin=False)
        + ping()
        + cont(b"3")
        + ping(b"after")
    )
    want = [
        events.Pong(b"a"),
        events.Ping(b"b"),
        events.Ping(b""),
        events.BytesMessage(b"123"),
        events.Ping(b"after"),
    ]
    check(data, want, [sent_pong(b"b"), sent_pong(b""), sent_pong(b"after")])


def test_a_message_after_a_fragmented_one_starts_afresh():
    data = text("ab", fin=False) + cont("c") + binary(b"d", fin=False) + cont(b"e") + text("f")
    want = [events.TextMessage("abc"), events.BytesMessage(b"de"), events.TextMessage("f")]
    check(data, want)


def test_text_frame_arriving_in_pieces_after_a_fragmented_text_message():
    # Each text is validated from its own first byte, whatever the message before it left behind.
    data = text("", fin=False) + cont("000") + text("\U00010000 é")
    check(data, [events.TextMessage("000"), events.TextMessage("\U00010000 é")])
    data = text("ab", fin=False) + cont("€") + binary(b"\xff", fin=False) + cont(b"\xfe") + text("é€")
    check(data, [events.TextMessage("ab€"), events.BytesMessage(b"\xff\xfe"), events.TextMessage("é€")])
