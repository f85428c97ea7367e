"""A loopback `websockets` echo server for the benchmarks: prints its port, then serves.

Usage: python -m bench.echo_server   (stop it with SIGTERM; the bench does, by PID)
"""

import asyncio
import signal
import sys

from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed


async def _echo(ws):
    # The raw floor and the heap probes that run out of memory just drop the connection.
    try:
        async for message in ws:
            await ws.send(message)
    except ConnectionClosed:
        pass


async def main():
    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set_result, None)
    # No extensions (our client offers none), no keepalive pings (the raw floor reader expects
    # only echo frames), messages up to 1 MiB.
    async with serve(
        _echo,
        "127.0.0.1",
        0,
        compression=None,
        max_size=2**20,
        ping_interval=None,
        max_queue=None,
    ) as server:
        port = server.sockets[0].getsockname()[1]
        sys.stdout.write("%d\n" % port)
        sys.stdout.flush()
        await stop


if __name__ == "__main__":
    asyncio.run(main())
