"""A diagnostic driver: the sans-I/O core (ws.protocol) over a blocking socket, no asyncio.

Comparing it with the floor isolates the cost of the core; comparing the asyncio client with it
isolates the cost of the asyncio layer. Runs on MicroPython and CPython.
"""

import os
import select
import sys

from floor import open_socket

from ws.protocol import ClientProtocol


class CoreSync:
    """Round trips of one message through ClientProtocol, reading into its receive buffer."""

    def __init__(self, port, **options):
        s = open_socket(port)
        self.sock = s
        self._write = getattr(s, "write", None) or s.sendall
        if hasattr(s, "recv_into"):  # CPython: a blocking recv_into returns what has arrived
            self._read = s.recv_into
        else:  # MicroPython: a blocking readinto waits to fill the whole buffer, so poll first
            s.setblocking(False)
            poller = select.poll()
            poller.register(s, select.POLLIN)
            self._poll = poller.ipoll  # ipoll allocates no result list
            self._readinto = s.readinto
            self._read = self._read_ready
        self.proto = ClientProtocol("127.0.0.1", port, "/", random_bytes=os.urandom, **options)
        self._write(self.proto.data_to_send())
        if self._next() is None:
            raise OSError("handshake failed")
        # As ws.client does: the handshake's code leaves the heap once the connection is open.
        if sys.modules.pop("ws.handshake", None):
            delattr(sys.modules["ws"], "handshake")

    def _next(self):
        p = self.proto
        while True:
            ev = p.next_event()
            if ev is not None:
                return ev
            n = self._read(p.recv_buffer())
            p.received(n)
            if not n:
                return p.next_event()

    def _read_ready(self, buf):
        while True:
            n = self._readinto(buf)
            if n is not None:
                return n
            self._poll(-1)

    def roundtrip(self, message):
        """Send message (str or bytes) and return what came back."""
        p = self.proto
        self._write(p.send(message))
        return self._next()

    def close(self):
        try:
            self._write(self.proto.close())
        finally:
            self.sock.close()
