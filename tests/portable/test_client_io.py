"""The asyncio connection over an explicit fake socket: one write per frame, reads reused."""

import asyncio

from ws import client
from ws.client import ConnectionClosed, LocalProtocolError, WebSocket
from ws.protocol import ClientProtocol
from wsutil import accept_response, fixed_random, split_frames


class FakeSocket:
    """Records every write (taking at most `take` bytes a call); serves scripted input chunks."""

    def __init__(self, chunks, take=None):
        self.chunks = list(chunks)
        self.writes = []  # what each write() call took
        self.take = take
        self.waits = 0  # how often the client waited for the socket to take more
        self.closed = False
        self.read_buffers = []

    def readinto(self, buf):
        self.read_buffers.append(len(buf))
        if not self.chunks:
            return 0
        data = self.chunks.pop(0)
        if isinstance(data, str):  # "ACCEPT": answer the handshake request the client wrote
            data = accept_response(self.writes[0])
        buf[0 : len(data)] = data
        return len(data)

    def write(self, data):
        n = len(data) if self.take is None else min(self.take, len(data))
        self.writes.append(bytes(data[:n]))
        return n

    def close(self):
        self.closed = True


async def _fake_read(s, buf):
    return s.readinto(buf)


async def _fake_writable(s):
    s.waits += 1
    await asyncio.sleep(0)  # as the poller would: other tasks run meanwhile


def _run(coro):
    """Run coro with ws.client waiting on the fake socket instead of the scheduler's poller."""
    saved = client._read, client._writable
    client._read, client._writable = _fake_read, _fake_writable
    try:
        return asyncio.run(coro)
    finally:
        client._read, client._writable = saved


def _open(chunks, take=None, **kw):
    p = ClientProtocol("h", 80, "/", random_bytes=fixed_random, **kw)
    s = FakeSocket(["ACCEPT"] + list(chunks), take)
    s.writes.append(p.data_to_send())  # what connect() sends first
    ws = WebSocket(s, p)
    p.received(s.readinto(p.recv_buffer()))
    assert p.next_event()[0] == 101
    assert s.writes[0].startswith(b"GET / HTTP/1.1\r\n")
    del s.writes[:]
    return ws, s


def test_each_frame_is_exactly_one_write():
    ws, s = _open([], fragment_size=100)

    async def go():
        await ws.send("x" * 10)
        await ws.send(b"y" * 300)  # three fragments, written as one buffer
        await ws.ping(b"hi")

    _run(go())
    assert len(s.writes) == 3
    assert split_frames(s.writes[0]) == [(True, 1, b"x" * 10)]
    assert split_frames(s.writes[1]) == [
        (False, 2, b"y" * 100),
        (False, 0, b"y" * 100),
        (True, 0, b"y" * 100),
    ]
    assert split_frames(s.writes[2]) == [(True, 9, b"hi")]
    assert s.waits == 0


def test_a_frame_the_socket_takes_in_pieces_arrives_whole_and_in_order():
    ws, s = _open([], take=7)

    async def go():
        await asyncio.gather(ws.send("a" * 20), ws.send(b"b" * 30), ws.ping(b"p"))

    _run(go())
    assert split_frames(b"".join(s.writes)) == [(True, 1, b"a" * 20), (True, 2, b"b" * 30), (True, 9, b"p")]
    assert max(len(w) for w in s.writes) <= 7 and s.waits > 0


def test_ping_from_server_is_answered_before_the_message_is_returned():
    ws, s = _open([b"\x89\x02ab\x81\x03abc"])
    got = _run(ws.recv())
    assert got == "abc"
    assert split_frames(s.writes[-1]) == [(True, 10, b"ab")]


def test_messages_split_across_reads_are_reassembled():
    ws, s = _open([b"\x81", b"\x05he", b"llo", b"\x82\x00"])

    async def go():
        return [await ws.recv(), await ws.recv()]

    assert _run(go()) == ["hello", b""]


def test_end_of_stream_is_1006_and_send_after_close_raises():
    ws, s = _open([])

    async def go():
        try:
            await ws.recv()
        except ConnectionClosed as e:
            return e

    e = _run(go())
    assert e.code == 1006 and not e.clean
    assert s.closed and not ws.open

    async def send():
        await ws.send("late")

    try:
        _run(send())
        raise AssertionError("send after close did not raise")
    except ConnectionClosed as e2:
        assert e2.code == 1006


def _keepalive_after(chunks):
    # A connection with a keepalive task (a ping a minute) whose peer ends it with chunks:
    # whether that task is over by the time recv() has raised, and what the client holds.
    ws, s = _open(chunks)

    async def go():
        keep = ws.coro = asyncio.create_task(ws._keep_alive(60, 60))
        await asyncio.sleep(0)  # it sleeps until its first ping
        try:
            await ws.recv()
        except ConnectionClosed:
            pass
        for _ in range(3):
            await asyncio.sleep(0)
        return keep.done()

    return _run(go()), ws.coro


def test_the_keepalive_task_ends_with_the_connection():
    # Asleep until its next ping it would hold the closed connection (its buffers) that long:
    # a board reconnecting meanwhile would need room for two.
    assert _keepalive_after([]) == (True, None)  # the end of the stream
    assert _keepalive_after([b"\x88\x02\x03\xe9"]) == (True, None)  # the server's close frame


def test_a_new_connection_takes_the_buffers_of_the_one_that_ended():
    # A board that reconnects needs no new blocks of heap for them.
    ws, s = _open([])
    rx, tx = ws._p.buf, ws._p.out_buf
    try:
        _run(ws.recv())  # the end of the stream
    except ConnectionClosed:
        pass
    ws2, s2 = _open([b"\x81\x02hi"])
    assert ws2._p.buf is rx and ws2._p.out_buf is tx
    ws._lost(ConnectionClosed(1006, "again"))  # the first connection ends once more
    ws3, s3 = _open([])
    assert ws3._p.buf is not rx and ws3._p.out_buf is not tx  # not handed out twice
    assert _run(ws2.recv()) == "hi"

    async def late():
        await ws.recv()

    try:
        _run(late())  # the first one parses nothing any more
        raise AssertionError("recv after the end did not raise")
    except ConnectionClosed as e:
        assert e.code == 1006
    ws2._lost(ConnectionClosed(1006, "gone"))
    ws4, s4 = _open([], rx_buffer_size=512)  # another size: a buffer of its own
    assert ws4._p.buf is not rx and len(ws4._p.buf) == 512
    ws5, s5 = _open([])
    assert ws5._p.buf is not rx  # the spare of the other size was let go, not kept for later


def test_close_sends_close_frame_and_waits_for_the_peer():
    ws, s = _open([b"\x88\x02\x03\xe8"])
    _run(ws.close(1000, "done"))
    assert split_frames(s.writes[-1]) == [(True, 8, b"\x03\xe8done")]
    assert s.closed and not ws.open


def test_close_with_an_invalid_code_is_the_callers_error():
    ws, s = _open([])

    async def go():
        await ws.close(1005)

    try:
        _run(go())
        raise AssertionError("close(1005) was accepted")
    except LocalProtocolError as e:
        assert "1005" in str(e)


def test_reads_go_into_the_protocols_buffer():
    ws, s = _open([b"\x81\x01a"], rx_buffer_size=512)
    _run(ws.recv())
    assert max(s.read_buffers) <= 512
