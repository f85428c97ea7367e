"""Our client as an Autobahn TestSuite testee; runs unchanged on MicroPython and CPython.

usage: autobahn_testee.py URL AGENT [MAX_MESSAGE_SIZE]
Asks /getCaseCount, runs /runCase?case=I&agent=AGENT for every case echoing each message
as received, then /updateReports?agent=AGENT. Prints one line per case.
"""

import asyncio
import sys

from ws.client import ConnectionClosed, WebSocketError, connect

_SAFE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~"


def quote(text):
    """Percent-encode text for a query string (MicroPython has no urllib)."""
    out = []
    for ch in text:
        if ch in _SAFE:
            out.append(ch)
        else:
            for b in ch.encode():
                out.append("%%%02X" % b)
    return "".join(out)


async def _until_closed(ws):
    try:
        while True:
            await ws.recv()
    except ConnectionClosed:
        pass


async def case_count(base):
    ws = await connect(base + "/getCaseCount")
    text = await ws.recv()
    await _until_closed(ws)
    try:
        return int(text)
    except ValueError:
        raise WebSocketError("getCaseCount answered %r, not a number" % (text,))


async def run_case(base, case, agent, max_size):
    """Echo every message of one case; the close code the case ended with."""
    url = "%s/runCase?case=%d&agent=%s" % (base, case, quote(agent))
    try:
        ws = await connect(url, max_message_size=max_size, fragment_size=max_size)
    except WebSocketError as e:
        return "connect failed: %s" % (e,)
    try:
        while True:
            msg = await ws.recv()
            await ws.send(msg)
    except ConnectionClosed as e:
        return e.code


async def update_reports(base, agent):
    ws = await connect("%s/updateReports?agent=%s" % (base, quote(agent)))
    await _until_closed(ws)


async def main(base, agent, max_size):
    base = base.rstrip("/")
    n = await case_count(base)
    print("testee %s: %d cases" % (agent, n))
    for case in range(1, n + 1):
        code = await run_case(base, case, agent, max_size)
        print("case %d/%d: closed %s" % (case, n, code))
    await update_reports(base, agent)
    print("testee %s: reports updated" % agent)


if __name__ == "__main__":
    size = int(sys.argv[3]) if len(sys.argv) > 3 else 16 * 1024 * 1024
    asyncio.run(main(sys.argv[1], sys.argv[2], size))
