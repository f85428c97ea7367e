"""The browser WebSocket /api/live: a snapshot, then readings, device states, command progress and
events as they happen; the dashboard's files at /."""

import aiohttp

from test_server_kit import OPERATOR, FakeBoard, Running, next_live, run


def test_live_updates_follow_a_board_from_connect_to_command_result(tmp_path):
    async def main():
        async with Running(tmp_path) as s:
            board = FakeBoard("d1", s.add("d1"))
            ws, first = await s.live()
            assert first == {
                "type": "devices",
                "devices": [dict(first["devices"][0], id="d1", state="offline")],
            }
            await board.connect(s.device_url)
            m = await next_live(ws, "device", lambda m: m["device"]["state"] == "online")
            assert m["device"]["id"] == "d1" and m["device"]["fw"] == "test"
            board.reading(23.5)
            await board.send_outbox()
            m = await next_live(ws, "readings")
            assert m["device"] == "d1" and [r["seq"] for r in m["readings"]] == [1]
            assert (
                m["readings"][0]["values"] == [["temperature", 23.5, "C"]] and "received" in m["readings"][0]
            )
            pump_on = {"method": "relay.set", "params": {"relay": "pump", "on": True}}
            st, body = await s.api("POST", "/api/devices/d1/commands", pump_on)
            cid = body["command"]["id"]
            states = []
            cmd = await board.recv("command")
            await board.answer(cmd, result={"relay": "pump", "on": True})
            while "done" not in states:
                m = await next_live(ws, "command", lambda m: m["command"]["id"] == cid)
                states.append(m["command"]["state"])
            assert states == ["queued", "sent", "accepted", "done"]
            m = await next_live(ws, "device", lambda m: {"name": "pump", "on": True} in m["device"]["relays"])
            event = {"type": "event", "kind": "relay", "relay": "pump", "on": False, "cause": "max_on"}
            await board.send(dict(event, ts=5, clock="uptime"))
            m = await next_live(ws, "event", lambda m: m["event"]["kind"] == "relay")
            assert m["event"]["data"]["cause"] == "max_on" and m["event"]["device"] == "d1"
            m = await next_live(ws, "device")
            assert {"name": "pump", "on": False} in m["device"]["relays"]
            await board.close()
            m = await next_live(ws, "device", lambda m: m["device"]["state"] == "offline")
            await ws.close()

    run(main())


def test_a_live_connection_can_follow_one_device_only(tmp_path):
    async def main():
        async with Running(tmp_path) as s:
            one, two = FakeBoard("d1", s.add("d1")), FakeBoard("d2", s.add("d2"))
            ws, first = await s.live("device=d2")
            assert [d["id"] for d in first["devices"]] == ["d2"]
            await one.connect(s.device_url)
            await two.connect(s.device_url)
            one.reading()
            await one.send_outbox()
            two.reading()
            await two.send_outbox()
            m = await next_live(ws, "readings")
            assert m["device"] == "d2"
            await ws.close()

    run(main())


def test_live_needs_the_operator_token_in_the_query_or_the_cookie(tmp_path):
    async def main():
        async with Running(tmp_path) as s:
            async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as anon:
                try:
                    await anon.ws_connect(s.url + "/api/live?token=wrong")
                    raise AssertionError("accepted a wrong token")
                except aiohttp.WSServerHandshakeError as e:
                    assert e.status == 401
                async with anon.post(s.url + "/api/login", json={"token": OPERATOR}) as r:
                    assert r.status == 200
                ws = await anon.ws_connect(s.url + "/api/live")
                assert (await ws.receive_json(timeout=5))["type"] == "devices"
                await ws.close()

    run(main())


def test_the_dashboard_files_are_served_at_the_root(tmp_path):
    static = tmp_path / "static"
    static.mkdir()
    (static / "index.html").write_text("<h1>dashboard</h1>")
    (static / "app.js").write_text("console.log(1)")

    async def main():
        async with Running(tmp_path, static_dir=str(static)) as s, aiohttp.ClientSession() as anon:
            for path, text in (("/", "<h1>dashboard</h1>"), ("/app.js", "console.log(1)")):
                async with anon.get(s.url + path) as r:
                    assert r.status == 200 and await r.text() == text
            async with anon.get(s.url + "/../data/server.key") as r:
                assert r.status == 404
            st, body = await s.api("GET", "/api/health", session=anon)
            assert st == 200  # /api still answers, static files do not hide it

    run(main())


def test_a_browser_that_leaves_before_the_snapshot_costs_no_traceback(tmp_path, caplog):
    # The upgrade is sent on a raw socket that closes at once: the server's snapshot then meets
    # a closed connection, which is the browser's business, not an error of the server's.
    import asyncio
    import base64
    import logging
    import os

    async def main():
        async with Running(tmp_path) as s:
            for i in range(20):
                s.add("d%d" % i)
            for _ in range(5):
                r, w = await asyncio.open_connection("127.0.0.1", s.port)
                key = base64.b64encode(os.urandom(16)).decode()
                request = (
                    "GET /api/live?token=%s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                    "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n"
                ) % (OPERATOR, key)
                w.write(request.encode())
                await w.drain()
                w.transport.abort()  # gone before the 101 and the snapshot
            await asyncio.sleep(0.5)
            ws, first = await s.live()  # the server still serves the next browser
            assert len(first["devices"]) == 20
            await ws.close()

    with caplog.at_level(logging.DEBUG):
        run(main())
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert errors == [], [r.getMessage() for r in errors]
