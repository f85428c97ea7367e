"""`make testee` against a small stand-in for the Autobahn fuzzingserver, on both runtimes."""

import asyncio
import os
import subprocess
import threading
from urllib.parse import parse_qs, urlparse

import pytest
from websockets.asyncio.server import serve

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# What each case sends; the testee must echo every message exactly as received.
CASES = {
    1: [("text", "Hello, wörld")],
    2: [("bytes", bytes(range(256)) * 4)],
    3: [("fragments", ["frag", "men", "ted"]), ("ping", b"p"), ("text", "")],
}


class FuzzingServerStandIn:
    def __init__(self):
        self.echoed = {}
        self.reports = []
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        self.server = asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(10)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _start(self):
        return await serve(self._handler, "127.0.0.1", 0, compression=None)

    async def _handler(self, ws):
        u = urlparse(ws.request.path)
        q = parse_qs(u.query)
        if u.path == "/getCaseCount":
            await ws.send(str(len(CASES)))
        elif u.path == "/runCase":
            case = int(q["case"][0])
            got = self.echoed.setdefault(case, [])
            for kind, data in CASES[case]:
                if kind == "ping":
                    await (await ws.ping(data))
                    continue
                await ws.send(data)
                got.append(await asyncio.wait_for(ws.recv(), 10))
            got.append(q["agent"][0])
        elif u.path == "/updateReports":
            self.reports.append(q["agent"][0])
        await ws.close()

    def stop(self):
        self.server.close()
        self.loop.call_soon_threadsafe(self.loop.stop)


@pytest.fixture
def fuzzingserver():
    s = FuzzingServerStandIn()
    yield s
    s.stop()


@pytest.mark.parametrize("runtime", ["cpython", "micropython"])
def test_make_testee_echoes_every_case_and_updates_reports(fuzzingserver, runtime):
    agent = "esp32 ws/" + runtime
    out = subprocess.run(
        [
            "make",
            "-s",
            "testee",
            "URL=ws://127.0.0.1:%d" % fuzzingserver.port,
            "AGENT=%s" % agent,
            "RUNTIME=" + runtime,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert fuzzingserver.echoed == {
        1: ["Hello, wörld", agent],
        2: [bytes(range(256)) * 4, agent],
        3: ["fragmented", "", agent],
    }
    assert fuzzingserver.reports == [agent]
    assert "3 cases" in out.stdout and "case 3/3: closed 1000" in out.stdout


def test_testee_refuses_a_non_websocket_url():
    from host_tools.testee import main

    with pytest.raises(SystemExit):
        main(["--url", "http://127.0.0.1:9001"])
