"""Commands: queued -> sent -> accepted -> done | failed | expired, each step timed; a command waits for
an offline device until its deadline; one sent but unanswered is sent again on reconnect with the
same id; nothing is done without the device's result."""

import asyncio

from test_server_kit import FakeBoard, Running, run


async def send(s, dev, method, params=None, **extra):
    body = dict({"method": method, "params": params or {}}, **extra)
    return await s.api("POST", "/api/devices/%s/commands" % dev, body)


def test_the_whole_life_of_a_command_with_a_timestamp_for_each_step(tmp_path):
    async def main():
        async with Running(tmp_path) as s:
            board = FakeBoard("d1", s.add("d1"))
            await board.connect(s.device_url)
            st, body = await send(s, "d1", "relay.set", {"relay": "heater", "on": True}, timeout=10)
            assert st == 201 and body["command"]["state"] == "sent"
            cmd = await board.recv("command")
            assert cmd["id"] == body["command"]["id"] and cmd["method"] == "relay.set"
            assert cmd["params"] == {"relay": "heater", "on": True}
            assert cmd["deadline"] == body["command"]["deadline"]
            assert 9_000 <= cmd["deadline"] - body["command"]["at"]["queued"] <= 10_000
            assert (await s.command_state(cmd["id"]))["state"] == "sent"  # never done without a result
            await board.send({"type": "accepted", "id": cmd["id"]})
            await s.wait_for(lambda: s.db.command(cmd["id"])["state"] == "accepted", what="accepted")
            await board.send(
                {"type": "result", "id": cmd["id"], "ok": True, "result": {"relay": "heater", "on": True}}
            )
            await s.wait_for(lambda: s.db.command(cmd["id"])["state"] == "done", what="done")
            c = await s.command_state(cmd["id"])
            assert (
                c["result"] == {"relay": "heater", "on": True} and c["error"] is None and c["attempts"] == 1
            )
            at = c["at"]
            assert at["queued"] <= at["sent"] <= at["accepted"] <= at["done"]
            dev = (await s.api("GET", "/api/devices/d1"))[1]["device"]
            assert {"name": "heater", "on": True} in dev["relays"]  # the result updates the relay state
            listed = (await s.api("GET", "/api/devices/d1/commands"))[1]["commands"]
            assert [x["id"] for x in listed] == [cmd["id"]]

    run(main())


def test_the_relay_events_a_result_carries_are_recorded_as_events(tmp_path):
    async def main():
        async with Running(tmp_path) as s:
            board = FakeBoard("d1", s.add("d1"))
            await board.connect(s.device_url)
            await send(s, "d1", "relay.set", {"relay": "pump", "on": True})
            cmd = await board.recv("command")
            ev = {
                "kind": "relay",
                "relay": "pump",
                "on": True,
                "cause": "command",
                "ts": 5,
                "clock": "uptime",
            }
            other = dict(ev, relay="heater", on=False, cause="interlock")
            await board.send(
                {
                    "type": "result",
                    "id": cmd["id"],
                    "ok": True,
                    "result": {"relay": "pump", "on": True},
                    "events": [other, ev],
                }
            )
            await s.wait_for(lambda: s.db.command(cmd["id"])["state"] == "done", what="done")
            relay_events = [e for e in s.db.events("d1") if e["kind"] == "relay"]
            got = sorted((e["data"]["relay"], e["data"]["on"], e["data"]["cause"]) for e in relay_events)
            assert got == [("heater", False, "interlock"), ("pump", True, "command")]
            dev = (await s.api("GET", "/api/devices/d1"))[1]["device"]
            assert {"name": "pump", "on": True} in dev["relays"]
            assert {"name": "heater", "on": False} in dev["relays"]

    run(main())


def test_an_error_result_fails_the_command_and_the_boards_expired_expires_it(tmp_path):
    async def main():
        async with Running(tmp_path) as s:
            board = FakeBoard("d1", s.add("d1"))
            await board.connect(s.device_url)
            await send(s, "d1", "relay.set", {"relay": "boiler", "on": True})
            await board.answer(await board.recv("command"), ok=False)
            await send(s, "d1", "status")
            late = await board.recv("command")
            await board.answer(
                late, ok=False, error={"code": "expired", "message": "the deadline passed 5 ms ago"}
            )
            await s.wait_for(lambda: s.db.command(late["id"])["state"] == "expired", what="expired")
            first = s.db.commands("d1")[1]
            assert first["state"] == "failed" and first["error"]["code"] == "unknown_relay"
            assert "failed" in first["at"] and "done" not in first["at"]

    run(main())


def test_a_command_for_an_offline_device_waits_and_is_sent_when_it_connects(tmp_path):
    async def main():
        async with Running(tmp_path) as s:
            board = FakeBoard("d1", s.add("d1"))
            st, body = await send(s, "d1", "relay.pulse", {"relay": "pump", "ms": 500}, timeout=30)
            assert st == 201 and body["command"]["state"] == "queued"
            await asyncio.sleep(0.2)
            assert (await s.command_state(body["command"]["id"]))["state"] == "queued"
            await board.connect(s.device_url)
            cmd = await board.recv("command")
            assert cmd["id"] == body["command"]["id"]
            assert board.inbox.index(board.welcome) < board.inbox.index(cmd)  # after the welcome
            await board.answer(cmd)
            await s.wait_for(lambda: s.db.command(cmd["id"])["state"] == "done", what="done")

    run(main())


def test_a_queued_command_expires_at_its_deadline_and_is_never_sent(tmp_path):
    async def main():
        async with Running(tmp_path) as s:
            board = FakeBoard("d1", s.add("d1"))
            st, body = await send(s, "d1", "reboot", timeout=0.2)
            cid = body["command"]["id"]
            await s.wait_for(lambda: s.db.command(cid)["state"] == "expired", what="expiry")
            c = await s.command_state(cid)
            assert (
                c["error"]["code"] == "expired"
                and c["at"]["expired"] >= c["deadline"]
                and "sent" not in c["at"]
            )
            await board.connect(s.device_url)
            await asyncio.sleep(0.2)
            assert not any(m["type"] == "command" for m in board.inbox)

    run(main())


def test_a_sent_command_without_result_expires_after_the_grace_period(tmp_path):
    async def main():
        async with Running(tmp_path, result_grace_ms=300) as s:
            board = FakeBoard("d1", s.add("d1"))
            await board.connect(s.device_url)
            st, body = await send(s, "d1", "status", timeout=0.2)
            cmd = await board.recv("command")
            await board.send({"type": "accepted", "id": cmd["id"]})
            await s.wait_for(lambda: s.db.command(cmd["id"])["state"] == "expired", what="expiry")
            c = s.db.command(cmd["id"])
            assert c["at"]["expired"] >= c["deadline"] + 300 and c["at"]["accepted"]
            # a result that comes later still is the device's word that it acted: it is recorded
            await board.answer(cmd)
            await s.wait_for(lambda: s.db.command(cmd["id"])["state"] == "done", what="late result")
            assert "expired" in s.db.command(cmd["id"])["at"]

    run(main())


def test_a_device_going_offline_mid_command_gets_it_again_with_the_same_id(tmp_path):
    async def main():
        async with Running(tmp_path) as s:
            board = FakeBoard("d1", s.add("d1"))
            await board.connect(s.device_url)
            await send(s, "d1", "relay.toggle", {"relay": "heater"})
            await send(s, "d1", "relay.toggle", {"relay": "pump"})
            first = await board.recv("command")
            second = await board.recv("command")
            await board.answer(first)  # executes the first, answers it, then the link drops
            await board.send({"type": "accepted", "id": second["id"]})
            await s.wait_for(lambda: s.db.command(second["id"])["state"] == "accepted", what="accepted")
            await board.ws.close()
            await s.wait_for(lambda: "d1" not in s.server.links, what="offline")
            assert s.db.command(first["id"])["state"] == "done"
            assert s.db.command(second["id"])["state"] == "accepted"
            await board.connect(s.device_url)
            again = await board.recv("command")
            assert again["id"] == second["id"]  # only the unanswered one, with its id
            await board.answer(again)
            await s.wait_for(lambda: s.db.command(second["id"])["state"] == "done", what="done")
            assert board.executed == [first["id"], second["id"]]  # each executed once
            assert s.db.command(second["id"])["attempts"] == 2
            await asyncio.sleep(0.1)
            assert [m["id"] for m in board.inbox if m["type"] == "command"] == [
                first["id"],
                second["id"],
                second["id"],
            ]

    run(main())


def test_a_repeated_result_and_a_result_for_an_unknown_id_change_nothing(tmp_path):
    async def main():
        async with Running(tmp_path) as s:
            board = FakeBoard("d1", s.add("d1"))
            other = FakeBoard("d2", s.add("d2"))
            await board.connect(s.device_url)
            await other.connect(s.device_url)
            await send(s, "d2", "status")
            theirs = await other.recv("command")
            await board.send({"type": "result", "id": theirs["id"], "ok": True, "result": {}})  # not d1's
            await board.send({"type": "result", "id": "c-nonexistent", "ok": True, "result": {}})
            await board.send(
                {"type": "result", "id": None, "ok": False, "error": {"code": "bad_json", "message": "x"}}
            )
            events = await s.wait_for(
                lambda: (
                    [e for e in s.db.events("d1") if e["kind"] == "error"]
                    if len(s.db.events("d1")) >= 4
                    else None
                )
            )
            assert len(events) == 3 and "unknown command 'c-nonexistent'" in events[1]["data"]["message"]
            assert s.db.command(theirs["id"])["state"] == "sent"
            assert "d1" in s.server.links  # the connection stays open

    run(main())


def test_bad_command_requests_are_refused_with_a_clear_error(tmp_path):
    async def main():
        async with Running(tmp_path) as s:
            s.add("d1")
            st, body = await send(s, "d1", "relay.flip")
            assert st == 400 and 'unknown method "relay.flip"' in body["error"]["message"]
            st, body = await send(s, "d1", "relay.set", {"relay": "heater"})
            assert st == 400 and "relay.set: missing field 'on'" in body["error"]["message"]
            st, body = await send(s, "nobody", "status")
            assert st == 404 and "no device 'nobody'" in body["error"]["message"]
            st, body = await send(s, "d1", "status", timeout=-1)
            assert st == 400 and "timeout" in body["error"]["message"]
            st, body = await s.api("POST", "/api/devices/d1/commands", [1, 2])
            assert st == 400 and "JSON object" in body["error"]["message"]
            st, body = await s.api("GET", "/api/commands/c-none")
            assert st == 404
            st, body = await s.api("GET", "/api/devices/d1/readings?limit=lots")
            assert st == 400 and "limit: expected an integer" in body["error"]["message"]
            assert s.db.commands("d1") == []

    run(main())
