"""Smallest-heap probe, compiled to .mpy with the firmware: COUNT echoes of SIZE bytes, then OK.

Usage: micropython -X heapsize=NNk -m heap_probe PORT COUNT SIZE DRIVER(client|core|import)
COUNT 0 only connects and closes; DRIVER import only imports ws.client.
Exits non-zero (MemoryError) when the heap is too small. Kept tiny: its own code is on the heap.
"""

import sys


def main():
    port = int(sys.argv[1])
    count = int(sys.argv[2])
    msg = "x" * int(sys.argv[3])
    if sys.argv[4] == "import":  # the code alone
        import ws.client  # noqa: F401
    elif sys.argv[4] == "core":
        from core_sync import CoreSync

        c = CoreSync(port)
        for _ in range(count):
            if c.roundtrip(msg) != msg:
                raise ValueError("echo mismatch")
        c.close()
    else:
        import asyncio

        from ws.client import connect

        async def run():
            ws = await connect("ws://127.0.0.1:%d/" % port)
            for _ in range(count):
                await ws.send(msg)
                if await ws.recv() != msg:
                    raise ValueError("echo mismatch")
            await ws.close()

        asyncio.run(run())
    print("OK")


main()
