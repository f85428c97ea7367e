"""Limits and bad input: oversized and malformed messages close only that device's connection,
connections per address are capped, silent devices turn stale and are closed."""

import asyncio

from test_server_kit import FakeBoard, Running, refused, run


async def two_boards(s):
    bad, good = FakeBoard("bad", s.add("bad")), FakeBoard("good", s.add("good"))
    await bad.connect(s.device_url)
    await good.connect(s.device_url)
    return bad, good


async def still_serves(s, good):
    """The other board goes on as if nothing happened: its readings are acked and stored."""
    good.reading()
    await good.send_outbox()
    assert s.db.readings("good")[-1]["seq"] == good.seq - 1


def test_an_oversized_message_is_closed_with_1009_and_others_go_on(tmp_path):
    async def main():
        async with Running(tmp_path, max_message_size=4096) as s:
            bad, good = await two_boards(s)
            await bad.send('{"type": "event", "pad": "%s"}' % ("x" * 5000))
            code, reason = await bad.closed()
            assert code == 1009
            await still_serves(s, good)

    run(main())


def test_malformed_messages_close_only_that_connection_with_1008_and_a_reason(tmp_path):
    cases = [
        ("{not json", "not JSON (Expecting property name enclosed in double quotes at character 1)"),
        ("[1, 2]", "a message is a JSON object, got [1, 2]"),
        ('{"type": "ack", "seq": 1}', "'ack' is sent by the server, not by the board"),
        (
            '{"type": "hello", "v": 1, "device": "bad", "seq": 1}',
            "hello was already received on this connection",
        ),
        (
            '{"type": "telemetry", "readings": [{"seq": "1"}]}',
            "telemetry.readings[0].seq: expected an integer",
        ),
        (
            '{"type": "result", "id": "c-1", "ok": true, "events": [{"kind": "relay", "relay": "x"}]}',
            "result.events[0]: missing field 'on'",
        ),
        (b"\x00\x01", "binary frames are not used in protocol version 1"),
    ]

    async def main():
        async with Running(tmp_path) as s:
            bad, good = await two_boards(s)
            for text, reason in cases:
                await bad.send(text)
                code, why = await bad.closed()
                assert code == 1008 and why.startswith(reason), (text, why)
                await still_serves(s, good)
                await bad.connect(s.device_url)  # and the bad one may come back
            errors = [e["data"]["message"] for e in s.db.events("bad") if e["kind"] == "error"]
            assert len(errors) == len(cases)

    run(main())


def test_connections_per_address_are_capped_with_429(tmp_path):
    async def main():
        async with Running(tmp_path, max_connections_per_address=2) as s:
            a, b = await two_boards(s)
            c = FakeBoard("c", s.add("c"))
            status, headers, body = await refused(s.device_url, {"Authorization": "Bearer " + c.token})
            assert status == 429 and headers["Retry-After"] == "10"
            assert "too many connections from 127.0.0.1" in body["error"]["message"]
            await a.close()
            await s.wait_for(lambda: s.server.limits.open.get("127.0.0.1") == 1, what="release")
            await c.connect(s.device_url)

    run(main())


def test_a_silent_device_turns_stale_then_is_closed_and_offline(tmp_path):
    async def main():
        async with Running(tmp_path, lease_ms=300) as s:
            board = FakeBoard("d1", s.add("d1"))
            ws, _ = await s.live()
            await board.connect(s.device_url)
            board.ws.transport.pause_reading()  # hears nothing, answers no ping: as good as gone
            states = []
            while "offline" not in states:
                m = await ws.receive_json(timeout=5)
                if m["type"] == "device":
                    states.append(m["device"]["state"])
            assert states[-3:] == ["online", "stale", "offline"] or states[-2:] == ["stale", "offline"], (
                states
            )
            events = [e["data"] for e in s.db.events("d1") if e["kind"] == "link"]
            assert [e["state"] for e in events] == ["online", "stale", "offline"]
            assert events[-1]["code"] == 1001
            await ws.close()
            board.ws.transport.abort()  # it never read the close frame

    run(main())


def test_pings_keep_a_quiet_but_living_device_online(tmp_path):
    async def main():
        async with Running(tmp_path, lease_ms=300) as s:
            board = FakeBoard("d1", s.add("d1"))
            await board.connect(s.device_url)  # its client library answers the server's pings
            await asyncio.sleep(1.5)  # 5 leases without a message
            dev = (await s.api("GET", "/api/devices/d1"))[1]["device"]
            assert dev["state"] == "online" and dev["last_seen"] > dev["connected_since"]
            assert [e["data"]["state"] for e in s.db.events("d1")] == ["online"]  # never stale

    run(main())
