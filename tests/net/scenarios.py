"""Client scenarios that run unchanged on CPython and on MicroPython against a loopback server.

Each scenario is `async def NAME(url, arg)` returning a JSON-able result; the host tests
compare the results of both runtimes with what the server saw.
"""

import asyncio

from ws.client import (
    ConnectFailed,
    ConnectionClosed,
    HandshakeError,
    InvalidURL,
    TLSError,
    WebSocketTimeout,
    connect,
)


def _err(e):
    d = {"error": type(e).__name__, "message": str(e)}
    for name in ("status", "code", "reason", "retry_after", "location", "what"):
        if hasattr(e, name):
            d[name] = getattr(e, name)
    return d


async def echo(url, arg):
    """Send text and binary messages of several sizes; return what came back."""
    ws = await connect(
        url, fragment_size=arg.get("fragment_size"), max_message_size=arg.get("max_message_size")
    )
    out = []
    for size in arg["sizes"]:
        text = ("é" + "x" * size)[:size] if size else ""
        await ws.send(text)
        got = await ws.recv()
        out.append(["text", size, got == text])
        data = bytes((i * 7) & 255 for i in range(size))
        await ws.send(data)
        got = await ws.recv()
        out.append(["bytes", size, got == data])
    await ws.close()
    return {"results": out, "closed": ws.open is False}


async def headers(url, arg):
    """Connect with extra headers and subprotocols; return what the server echoed."""
    ws = await connect(
        url,
        headers=arg.get("headers"),
        subprotocols=arg.get("subprotocols"),
        origin=arg.get("origin"),
    )
    got = await ws.recv()
    sub = ws.subprotocol
    await ws.close()
    return {"server_saw": got, "subprotocol": sub}


async def expect_error(url, arg):
    """Connect (and optionally recv); return the typed error raised."""
    try:
        kw = arg.get("connect", {})
        ws = await connect(url, **kw)
        if arg.get("send"):
            await ws.send(arg["send"])
        while True:
            await ws.recv()
    except (ConnectionClosed, HandshakeError, InvalidURL, TLSError, WebSocketTimeout, ConnectFailed) as e:
        return _err(e)
    return {"error": None}


async def server_close(url, arg):
    """Receive until the server closes; return the messages and the close code."""
    ws = await connect(url)
    msgs = []
    try:
        while True:
            msgs.append(await ws.recv())
    except ConnectionClosed as e:
        return {"messages": msgs, "code": e.code, "reason": e.reason, "clean": e.clean}


async def client_close(url, arg):
    """Close with a code and reason; return the close code the client ends with."""
    ws = await connect(url)
    await ws.close(arg.get("code", 1000), arg.get("reason", ""))
    try:
        await ws.recv()
    except ConnectionClosed as e:
        return {"code": e.code, "reason": e.reason}
    return {"code": None}


async def keepalive(url, arg):
    """Idle with keepalive on; report how the connection ended (or that it stayed up)."""
    ws = await connect(url, ping_interval=arg["interval"], ping_timeout=arg["timeout"])
    try:
        msg = await asyncio.wait_for(ws.recv(), arg["wait"])
        await ws.close()
        return {"message": msg}
    except ConnectionClosed as e:
        return {"closed": e.code, "reason": e.reason}
    except asyncio.TimeoutError:
        up = ws.open
        await ws.close()
        return {"still_open": up}


async def tls_echo(url, arg):
    """wss:// with a CA (PEM or DER) and/or a pin; echo one message."""
    kw = {}
    if "cadata_file" in arg:
        with open(arg["cadata_file"], "rb") as f:
            kw["cadata"] = f.read()
    for name in ("fingerprint", "server_hostname", "insecure"):
        if name in arg:
            kw[name] = arg[name]
    try:
        ws = await connect(url, **kw)
        await ws.send("over tls")
        got = await ws.recv()
        await ws.close()
        return {"echo": got}
    except (TLSError, ConnectFailed, HandshakeError, ConnectionClosed) as e:
        return _err(e)


async def concurrent_send(url, arg):
    """Several tasks send at once; every frame must arrive whole."""
    ws = await connect(url)
    n = arg["n"]

    async def sender(k):
        for i in range(n):
            await ws.send("%d:%d:" % (k, i) + "y" * arg["size"])

    tasks = [asyncio.create_task(sender(k)) for k in range(3)]
    got = []
    for _ in range(3 * n):
        got.append(await ws.recv())
    for t in tasks:
        await t
    await ws.close()
    ok = all(m.endswith("y" * arg["size"]) for m in got)
    return {"count": len(got), "whole": ok}


async def run(name, url, arg):
    return await globals()[name](url, arg)


async def timed_echo(url, arg):
    """One echo after connecting; how long it took in ms."""
    from compat import ticks_diff, ticks_ms

    ws = await connect(url)
    t0 = ticks_ms()
    await ws.send("ping through the link")
    got = await ws.recv()
    ms = ticks_diff(ticks_ms(), t0)
    await ws.close()
    return {"echo": got, "ms": ms}
