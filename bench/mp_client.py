"""The measuring script: MicroPython (MICROPYPATH=firmware:.frozen), CPython (PYTHONPATH=firmware).

Usage: mp_client.py rtt PORT SIZE COUNT WARMUP CLIENT(0|1) RX_BUFFER_SIZE(0: no such variant)
       mp_client.py echo PORT SIZE COUNT WARMUP
       mp_client.py growth PORT SIZE COUNT WARMUP DRIVER(client|core)
       mp_client.py mask
Prints one JSON object. Round trips of every variant (floor: raw frames over a blocking socket;
afloor: raw frames over asyncio; core: ws.protocol over a blocking socket; client: ws.client;
client_rx: ws.client with a larger rx_buffer_size) are interleaved message by message, so all
see the same machine noise. echo: ws.client's round trips alone, one message after the other, as
the application bench times its commands (its reference: the client's plain echo).
"""

import asyncio
import gc
import json
import sys

from clock import TICK_NS, elapsed, ticks
from core_sync import CoreSync
from floor import AsyncFloor, Floor

try:
    from micropython import mem_total
except ImportError:  # CPython: allocation figures are MicroPython-only
    mem_total = None

RUNTIME = sys.implementation.name


def make_text(size):
    """size bytes of ASCII text."""
    s = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_"
    return (s * (size // len(s) + 1))[:size]


def _check(got, want):
    if got != want:
        raise ValueError("echo mismatch: %r..." % (got[:20],))


async def rtt(port, size, count, warmup, with_client, rx):
    """Interleaved round trips of every variant; then bytes allocated per round trip."""
    msg = make_text(size)
    payload = msg.encode()
    floor = Floor(port, payload)
    afloor = AsyncFloor(port, payload)
    core = CoreSync(port)
    ws = wsrx = None
    if with_client:
        from ws.client import connect

        url = "ws://127.0.0.1:%d/" % port
        ws = await connect(url)
        if rx:
            wsrx = await connect(url, rx_buffer_size=rx)
    times = {"floor": [0] * count, "afloor": [0] * count, "core": [0] * count}
    if ws is not None:
        times["client"] = [0] * count
    if wsrx is not None:
        times["client_rx"] = [0] * count
    tf, ta, tc = times["floor"], times["afloor"], times["core"]
    tw, tr = times.get("client"), times.get("client_rx")
    bad = 0
    for i in range(-warmup, count):
        t0 = ticks()
        floor.roundtrip()
        t1 = ticks()
        if i >= 0:
            tf[i] = elapsed(t1, t0)
        t0 = ticks()
        await afloor.roundtrip()
        t1 = ticks()
        if i >= 0:
            ta[i] = elapsed(t1, t0)
        t0 = ticks()
        r = core.roundtrip(msg)
        t1 = ticks()
        if i >= 0:
            tc[i] = elapsed(t1, t0)
        if r != msg:
            bad += 1
        if ws is not None:
            t0 = ticks()
            await ws.send(msg)
            r = await ws.recv()
            t1 = ticks()
            if i >= 0:
                tw[i] = elapsed(t1, t0)
            if r != msg:
                bad += 1
        if wsrx is not None:
            t0 = ticks()
            await wsrx.send(msg)
            r = await wsrx.recv()
            t1 = ticks()
            if i >= 0:
                tr[i] = elapsed(t1, t0)
            if r != msg:
                bad += 1
        if i == -1:
            gc.collect()  # warm-up done: start the timed messages on a clean heap
    if bad:
        raise ValueError("%d echoes did not match" % bad)
    out = {"runtime": RUNTIME, "size": size, "count": count, "tick_ns": TICK_NS, "times": times}
    if mem_total:
        out["alloc"] = await allocations(floor, afloor, core, ws, wsrx, msg, count)
    floor.close()
    afloor.close()
    core.close()
    for w in (ws, wsrx):
        if w is not None:
            await w.close()
    return out


async def allocations(floor, afloor, core, ws, wsrx, msg, count):
    """Bytes allocated per round trip (micropython.mem_total deltas), split send/receive."""
    gc.collect()
    m0 = mem_total()
    for _ in range(count):
        floor.roundtrip()
    m1 = mem_total()
    result = {"floor": (m1 - m0) / count}
    m0 = mem_total()
    for _ in range(count):
        await afloor.roundtrip()
    m1 = mem_total()
    result["afloor"] = (m1 - m0) / count
    # The core: building the frame, then reading and parsing the echo.
    send = recv = 0
    p = core.proto
    for _ in range(count):
        m0 = mem_total()
        frame = p.send(msg)
        m1 = mem_total()
        core._write(frame)
        m2 = mem_total()
        core._next()
        m3 = mem_total()
        send += m1 - m0
        recv += m3 - m2
    result["core"] = {"send": send / count, "recv": recv / count}
    for name, w in (("client", ws), ("client_rx", wsrx)):
        if w is not None:
            send = recv = 0
            for _ in range(count):
                m0 = mem_total()
                await w.send(msg)
                m1 = mem_total()
                await w.recv()
                m2 = mem_total()
                send += m1 - m0
                recv += m2 - m1
            result[name] = {"send": send / count, "recv": recv / count}
    return result


async def echo(port, size, count, warmup):
    """ws.client's plain echo: one message in flight, each sent when the previous echo came."""
    from ws.client import connect

    msg = make_text(size)
    ws = await connect("ws://127.0.0.1:%d/" % port)
    times = [0] * count
    for i in range(-warmup, count):
        t0 = ticks()
        await ws.send(msg)
        r = await ws.recv()
        t1 = ticks()
        if i >= 0:
            times[i] = elapsed(t1, t0)
        _check(r, msg)
    await ws.close()
    return {"runtime": RUNTIME, "size": size, "count": count, "tick_ns": TICK_NS, "times": {"client": times}}


async def growth(port, size, count, warmup, driver):
    """gc.mem_alloc() after gc.collect(), at the start, every tenth and at the end."""
    msg = make_text(size)
    if driver == "client":
        from ws.client import connect

        ws = await connect("ws://127.0.0.1:%d/" % port)

        async def rt():
            await ws.send(msg)
            return await ws.recv()

    else:
        core = CoreSync(port)

        async def rt():
            return core.roundtrip(msg)

    for _ in range(warmup):
        _check(await rt(), msg)
    samples = [0] * 11  # preallocated: appending would grow the heap being measured
    step = count // 10
    gc.collect()
    samples[0] = gc.mem_alloc()
    bad = 0
    for i in range(1, count + 1):
        if await rt() != msg:
            bad += 1
        if i % step == 0:
            gc.collect()
            samples[i // step] = gc.mem_alloc()
    if bad:
        raise ValueError("%d echoes did not match" % bad)
    if driver == "client":
        await ws.close()
    else:
        core.close()
    return {"runtime": RUNTIME, "driver": driver, "count": count, "size": size, "mem_alloc": samples}


def mask():
    """Masking throughput (MB/s = bytes per microsecond) of mask16 and mask16_portable."""
    from ws import mask as m

    out = {"runtime": RUNTIME, "viper": m.mask16 is not m.mask16_portable, "results": {}}
    for name in ("mask16", "mask16_portable"):
        fn = getattr(m, name)
        if name == "mask16" and not out["viper"]:
            continue  # the same function as mask16_portable
        per = {}
        for n in (1024, 16384):
            buf = bytearray(16 + n)
            for i in range(16 + n):
                buf[i] = i & 255
            iters = 1
            while True:  # double until one batch takes at least 50 ms
                t0 = ticks()
                for _ in range(iters):
                    fn(buf, n)
                dt = elapsed(ticks(), t0) * TICK_NS
                if dt >= 50_000_000 or iters >= 1 << 22:
                    break
                iters *= 2
            best = dt
            for _ in range(4):  # the best of five batches
                t0 = ticks()
                for _ in range(iters):
                    fn(buf, n)
                dt = elapsed(ticks(), t0) * TICK_NS
                if dt < best:
                    best = dt
            per[str(n)] = n * iters * 1000 / best  # bytes per ns * 1000 = MB/s
        out["results"][name] = per
    return out


def main(argv):
    mode = argv[1]
    if mode == "mask":
        out = mask()
    else:
        port, size, count, warmup = int(argv[2]), int(argv[3]), int(argv[4]), int(argv[5])
        if mode == "rtt":
            out = asyncio.run(rtt(port, size, count, warmup, argv[6] == "1", int(argv[7])))
        elif mode == "echo":
            out = asyncio.run(echo(port, size, count, warmup))
        elif mode == "growth":
            out = asyncio.run(growth(port, size, count, warmup, argv[6]))
        else:
            raise ValueError("unknown mode %r" % mode)
    print(json.dumps(out))


main(sys.argv)
