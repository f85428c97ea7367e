"""A loopback TCP proxy between a simulated board and its server, with faults on demand.

Latency, stalls, abrupt resets, refusals and a black hole, set from tests (LinkProxy), from the
command line, or typed at its prompt:
    python -m simulator.linkproxy --target 127.0.0.1:8765 [--listen-port 0] [--latency MS]
Listens on 127.0.0.1 only; forwards only to the given target.
"""

import argparse
import asyncio
import socket
import struct
import sys


class LinkProxy:
    """Forwards connections from 127.0.0.1:port to target; the fault switches act at once."""

    def __init__(self, target_host, target_port, listen_port=0):
        self.target = (target_host, target_port)
        self.listen_port = listen_port
        self.latency_ms = 0  # added to every chunk, each way
        self.stalled = False  # bytes are held (not lost) until resume()
        self.refusing = False  # new connections are reset at once: "connection refused"
        self.blackhole = False  # new connections are accepted and never answered
        self.connections = set()
        self.accepted = 0
        self.bytes_up = 0  # board -> server
        self.bytes_down = 0
        self._resumed = asyncio.Event()
        self._resumed.set()
        self._server = None

    @property
    def port(self):
        return self._server.sockets[0].getsockname()[1]

    async def start(self):
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.listen_port)
        return self

    async def stop(self):
        self.reset_all()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def set_latency(self, ms):
        if ms < 0:
            raise ValueError("latency must be >= 0 ms, got %r" % ms)
        self.latency_ms = ms

    def stall(self):
        self.stalled = True
        self._resumed.clear()

    def resume(self):
        self.stalled = False
        self._resumed.set()

    def reset_all(self):
        """Abort every open connection with a TCP reset, as a dying router or server would."""
        for pair in list(self.connections):
            for writer in pair:
                _abort(writer)
        self.connections.clear()

    async def _accept(self, reader, writer):
        self.accepted += 1
        if self.refusing:
            _abort(writer)
            return
        if self.blackhole:
            try:
                while await reader.read(65536):
                    pass
            finally:
                writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            _abort(writer)  # the server is down: the board sees its connection reset
            return
        pair = (writer, up_writer)
        self.connections.add(pair)
        try:
            await asyncio.gather(self._pump(reader, up_writer, True), self._pump(up_reader, writer, False))
        finally:
            self.connections.discard(pair)
            for w in pair:
                w.close()

    async def _pump(self, reader, writer, up):
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                if self.latency_ms:
                    await asyncio.sleep(self.latency_ms / 1000)
                await self._resumed.wait()
                if up:
                    self.bytes_up += len(data)
                else:
                    self.bytes_down += len(data)
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            if not writer.is_closing():
                try:
                    writer.write_eof()
                except (OSError, RuntimeError):
                    pass

    def command(self, line):
        """Apply one typed command; returns a line saying what happened (or raises ValueError)."""
        words = line.split()
        if not words:
            return ""
        cmd, args = words[0], words[1:]
        if cmd == "latency" and len(args) == 1:
            try:
                self.set_latency(int(args[0]))
            except ValueError:
                raise ValueError("latency needs a whole number of milliseconds, got %r" % args[0])
            return "latency %d ms" % self.latency_ms
        if cmd in ("refuse", "blackhole") and len(args) == 1 and args[0] in ("on", "off"):
            setattr(self, "refusing" if cmd == "refuse" else "blackhole", args[0] == "on")
            return "%s %s" % (cmd, args[0])
        if cmd == "stall" and not args:
            self.stall()
            return "stalled"
        if cmd == "resume" and not args:
            self.resume()
            return "resumed"
        if cmd == "reset" and not args:
            n = len(self.connections)
            self.reset_all()
            return "reset %d connection(s)" % n
        if cmd == "status" and not args:
            return "connections %d, accepted %d, up %d B, down %d B, latency %d ms%s%s%s" % (
                len(self.connections),
                self.accepted,
                self.bytes_up,
                self.bytes_down,
                self.latency_ms,
                ", stalled" if self.stalled else "",
                ", refusing" if self.refusing else "",
                ", blackhole" if self.blackhole else "",
            )
        raise ValueError("unknown command %r: %s" % (line.strip(), _COMMANDS))


_COMMANDS = "latency MS | stall | resume | reset | refuse on|off | blackhole on|off | status"


def _abort(writer):
    # SO_LINGER with a zero timeout turns close() into a TCP reset.
    sock = writer.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    writer.transport.abort()


def parse_target(text):
    """(host, port) from HOST:PORT; only loopback hosts are allowed."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError("target must be HOST:PORT, got %r" % text)
    host = host.strip("[]")
    if host not in ("127.0.0.1", "localhost", "::1") and not host.startswith("127."):
        raise ValueError(
            "target %r is not a loopback address: the proxy only forwards on this machine" % host
        )
    return host, int(port)


async def _serve(args):
    proxy = await LinkProxy(*parse_target(args.target), listen_port=args.listen_port).start()
    proxy.set_latency(args.latency)
    print("linkproxy: 127.0.0.1:%d -> %s:%d" % ((proxy.port,) + proxy.target), flush=True)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        line = await reader.readline()
        if not line:
            await asyncio.sleep(3600 * 24)  # no stdin: keep forwarding until killed
            continue
        try:
            print(proxy.command(line.decode()), flush=True)
        except ValueError as e:
            print("linkproxy: %s" % e, flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m simulator.linkproxy", description=__doc__.splitlines()[0])
    ap.add_argument("--target", required=True, help="the server, HOST:PORT on loopback")
    ap.add_argument("--listen-port", type=int, default=0, help="port on 127.0.0.1 (0: any free port)")
    ap.add_argument("--latency", type=int, default=0, help="milliseconds added each way")
    args = ap.parse_args(argv)
    try:
        parse_target(args.target)
        if args.latency < 0:
            raise ValueError("--latency must be >= 0")
    except ValueError as e:
        ap.error(str(e))
    try:
        asyncio.run(_serve(args))
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
