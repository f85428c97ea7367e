"""The asyncio connection over an explicit fake transport: one write per frame, reads reused."""

import asyncio

from ws.client import WebSocket
from ws.errors import ConnectionClosed, LocalProtocolError
from ws.protocol import ClientProtocol
from wsutil import accept_response, fixed_random, split_frames


class FakeTransport:
    """Records every write; serves scripted input chunks to readinto."""

    eof_after_close = True

    def __init__(self, chunks):
        self.chunks = list(chunks)
        self.writes = []
        self.closed = False
        self.read_buffers = []

    async def readinto(self, buf):
        self.read_buffers.append(len(buf))
        if not self.chunks:
            return 0
        data = self.chunks.pop(0)
        if isinstance(data, str):  # "ACCEPT": answer the handshake request the client wrote
            data = accept_response(self.writes[0])
        buf[0 : len(data)] = data
        return len(data)

    def write(self, data):
        self.writes.append(bytes(data))

    async def drain(self):
        pass

    def close(self):
        self.closed = True


def _open(chunks, **kw):
    p = ClientProtocol("h", 80, "/", random_bytes=fixed_random, **kw)
    t = FakeTransport(["ACCEPT"] + list(chunks))
    ws = WebSocket(t, p)
    asyncio.run(ws._handshake())
    assert t.writes[0].startswith(b"GET / HTTP/1.1\r\n")
    del t.writes[:]
    return ws, t


def test_each_frame_is_exactly_one_write():
    ws, t = _open([], fragment_size=100)

    async def go():
        await ws.send("x" * 10)
        await ws.send(b"y" * 300)  # three fragments, written as one buffer
        await ws.ping(b"hi")

    asyncio.run(go())
    assert len(t.writes) == 3
    assert split_frames(t.writes[0]) == [(True, 1, b"x" * 10)]
    assert split_frames(t.writes[1]) == [
        (False, 2, b"y" * 100),
        (False, 0, b"y" * 100),
        (True, 0, b"y" * 100),
    ]
    assert split_frames(t.writes[2]) == [(True, 9, b"hi")]


def test_ping_from_server_is_answered_before_the_message_is_returned():
    ws, t = _open([b"\x89\x02ab\x81\x03abc"])
    got = asyncio.run(ws.recv())
    assert got == "abc"
    assert split_frames(t.writes[-1]) == [(True, 10, b"ab")]


def test_messages_split_across_reads_are_reassembled():
    ws, t = _open([b"\x81", b"\x05he", b"llo", b"\x82\x00"])

    async def go():
        return [await ws.recv(), await ws.recv()]

    assert asyncio.run(go()) == ["hello", b""]


def test_end_of_stream_is_1006_and_send_after_close_raises():
    ws, t = _open([])

    async def go():
        try:
            await ws.recv()
        except ConnectionClosed as e:
            return e

    e = asyncio.run(go())
    assert e.code == 1006 and not e.clean
    assert t.closed

    async def send():
        await ws.send("late")

    try:
        asyncio.run(send())
        raise AssertionError("send after close did not raise")
    except ConnectionClosed as e2:
        assert e2.code == 1006


def test_close_sends_close_frame_and_waits_for_the_peer():
    ws, t = _open([b"\x88\x02\x03\xe8"])
    asyncio.run(ws.close(1000, "done"))
    assert split_frames(t.writes[-1]) == [(True, 8, b"\x03\xe8done")]
    assert t.closed and not ws.open


def test_close_with_an_invalid_code_is_the_callers_error():
    ws, t = _open([])

    async def go():
        await ws.close(1005)

    try:
        asyncio.run(go())
        raise AssertionError("close(1005) was accepted")
    except LocalProtocolError as e:
        assert "1005" in str(e)


def test_reads_go_into_the_protocols_buffer():
    ws, t = _open([b"\x81\x01a"], rx_buffer_size=512)
    asyncio.run(ws.recv())
    assert max(t.read_buffers) <= 512
