"""Where the heap goes: gc.mem_alloc() after importing each module, after connect, after echoes.

Usage: micropython -m heap_live PORT MODULE,MODULE,... TRANSIENT,TRANSIENT,...
(compiled to .mpy like heap_probe). The first modules stay (what a ws:// client keeps); each
transient module (what connect() loads and drops again) is imported and dropped on its own.
"""

import gc
import json
import sys


def _used():
    gc.collect()
    return gc.mem_alloc()


def main():
    port = int(sys.argv[1])
    out = [["start", _used()]]
    for name in sys.argv[2].split(","):
        __import__(name)
        out.append([name, _used()])
    base = out[-1][1]
    for name in sys.argv[3].split(","):
        # Loaded and dropped while connecting: how much each takes for that time. The names it
        # interns stay, as they do after a real connect.
        __import__(name)
        out.append(["while connecting: " + name, _used() - base])
        del sys.modules[name]
        delattr(sys.modules["ws"], name[3:])
    import asyncio

    from ws.client import connect

    msg = "x" * 1024

    async def run():
        before = set(sys.modules)
        ws = await connect("ws://127.0.0.1:%d/" % port)
        # Modules imported on first use (asyncio loads some lazily) count here.
        late = sorted(m for m in sys.modules if m not in before)
        out.append(["connected" + (" (imports %s)" % ", ".join(late) if late else ""), _used()])
        for _ in range(1000):
            await ws.send(msg)
            await ws.recv()
        out.append(["after 1000 echoes", _used()])
        await ws.close()

    asyncio.run(run())
    print(json.dumps(out))


main()
