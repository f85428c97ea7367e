"""The floor: pre-masked frames over a plain blocking socket, the handshake done by hand once.

Whatever a WebSocket client adds on top of this (framing, masking, parsing, asyncio) is its cost.
Runs on MicroPython and CPython.
"""

import socket
import sys

_KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # the sample nonce of RFC 6455 1.3
_MASK = b"\x37\xfa\x21\x3d"


def open_socket(port):
    """A blocking TCP socket to 127.0.0.1:port with TCP_NODELAY."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.connect(socket.getaddrinfo("127.0.0.1", port)[0][-1])
    s.setsockopt(6, 1, 1)  # IPPROTO_TCP, TCP_NODELAY (MicroPython's socket lacks the names)
    return s


def masked_frame(payload, opcode=1):
    """A complete client frame (FIN, masked with a fixed key) holding payload."""
    n = len(payload)
    if n < 126:
        head = bytes((0x80 | opcode, 0x80 | n))
    else:
        head = bytes((0x80 | opcode, 0xFE, n >> 8, n & 255))
    body = bytearray(payload)
    for i in range(n):
        body[i] ^= _MASK[i & 3]
    return head + _MASK + bytes(body)


class Floor:
    """Round trips of one pre-built frame; roundtrip() allocates nothing on MicroPython."""

    def __init__(self, port, payload):
        s = open_socket(port)
        self.sock = s
        request = (
            "GET / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % (port, _KEY)
        )
        s.send(request.encode())
        head = b""
        while not head.endswith(b"\r\n\r\n"):
            c = s.recv(1)
            if not c:
                raise OSError("the server closed during the handshake")
            head += c
        if not head.startswith(b"HTTP/1.1 101"):
            raise OSError("handshake refused: %r" % head[:40])
        n = len(payload)
        self.frame = masked_frame(payload)
        self.expect = (2 if n < 126 else 4) + n  # the server's echo frame, unmasked
        self.rx = bytearray(self.expect)
        self.rxmv = memoryview(self.rx)
        # Bound once: MicroPython sockets have write/readinto, CPython's sendall/recv_into.
        self._write = getattr(s, "write", None) or s.sendall
        self._readinto = getattr(s, "readinto", None) or s.recv_into

    def roundtrip(self):
        """Send the frame, read the whole echo frame back."""
        self._write(self.frame)
        got = self._readinto(self.rx)
        while got < self.expect:
            if not got:
                raise OSError("the server closed the connection")
            n = self._readinto(self.rxmv[got:])
            if not n:
                raise OSError("the server closed the connection")
            got += n
        if self.rx[0] != 0x81:
            raise OSError("unexpected frame 0x%02x from the echo server" % self.rx[0])

    def close(self):
        self.sock.close()


def _wait_readable(sock):
    # MicroPython: wait on the scheduler's poller directly, as ws.client does. Looked up when
    # used, not imported at the top: the blocking floor and the core driver (core_sync) must
    # not load asyncio; and late, as new_event_loop() replaces the queue.
    yield sys.modules["asyncio.core"]._io_queue.queue_read(sock)


class AsyncFloor(Floor):
    """The floor over asyncio: the same pre-built frame on a non-blocking socket.

    What it adds to Floor is the least any asyncio client must pay (a trip through the scheduler).
    """

    def __init__(self, port, payload):
        super().__init__(port, payload)  # the handshake, blocking
        self.sock.setblocking(False)

    async def roundtrip(self):
        if not hasattr(self.sock, "readinto"):  # CPython: the event loop's socket methods
            return await self._roundtrip_cpython()
        s = self.sock
        s.write(self.frame)  # a small frame fits the empty socket buffer at once
        got = 0
        while got < self.expect:
            n = s.readinto(self.rxmv[got:]) if got else s.readinto(self.rx)
            if n is None:  # nothing there yet
                await _wait_readable(s)
            elif not n:
                raise OSError("the server closed the connection")
            else:
                got += n

    async def _roundtrip_cpython(self):
        import asyncio

        loop = asyncio.get_running_loop()
        await loop.sock_sendall(self.sock, self.frame)
        got = 0
        while got < self.expect:
            n = await loop.sock_recv_into(self.sock, self.rxmv[got:])
            if not n:
                raise OSError("the server closed the connection")
            got += n
