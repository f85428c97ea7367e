"""Telemetry: hello/welcome and versions, readings stored once by (device, seq) and acked only once
committed, batched writes, dropped counts, bad readings, restarts with nothing lost, retention."""

import asyncio
import os

from websockets.asyncio.client import connect

from host_tools.server.store import Store
from test_server_kit import FakeBoard, Running, run


def stored_seqs(store, dev):
    return [r["seq"] for r in store.readings(dev, after=0, limit=100_000)]


def test_a_version_the_server_does_not_speak_is_closed_with_4002(tmp_path):
    async def main():
        async with Running(tmp_path) as s:
            board = FakeBoard("d1", s.add("d1"))
            try:
                await board.connect(s.device_url, v=2)
            except Exception:
                pass
            code, reason = await board.closed()
            assert code == 4002 and reason == "protocol version 2 not supported; this server speaks 1"

    run(main())


def test_the_first_message_must_be_a_hello_within_the_timeout(tmp_path):
    async def main():
        async with Running(tmp_path, hello_timeout_s=0.3) as s:
            token = s.add("d1")
            board = FakeBoard("d1", token)
            await board.connect(s.device_url)
            await board.close()
            auth = {"Authorization": "Bearer " + token}
            board.ws = await connect(s.device_url, additional_headers=auth, proxy=None)
            await board.send({"type": "telemetry", "readings": []})
            assert await board.closed() == (1008, "the first message must be hello, got telemetry")
            board.ws = await connect(s.device_url, additional_headers=auth, proxy=None)
            assert await board.closed() == (1008, "no hello within 0.3 s of the upgrade")

    run(main())


def test_an_ack_comes_only_after_the_readings_are_committed(tmp_path):
    async def main():
        async with Running(tmp_path) as s:
            board = FakeBoard("d1", s.add("d1"))
            await board.connect(s.device_url)
            for v in range(3):
                board.reading(20.0 + v)
            await board.send_outbox(wait_ack=False)
            ack = await board.recv("ack")
            # the instant the ack is here, another connection to the database sees every reading
            assert ack == {"type": "ack", "seq": 3}
            assert stored_seqs(s.db, "d1") == [1, 2, 3]
            assert s.db.readings("d1")[0]["values"] == [["temperature", 20.0, "C"]]

    run(main())


def test_no_ack_when_the_commit_fails_and_the_board_keeps_its_readings(tmp_path):
    class BrokenStore(Store):
        def add_telemetry(self, batch, now, want_new=True):
            raise OSError("disk full")

    async def main():
        async with Running(tmp_path) as s:
            s.server.store.add_telemetry = BrokenStore.add_telemetry.__get__(s.server.store)
            board = FakeBoard("d1", s.add("d1"))
            await board.connect(s.device_url)
            board.reading()
            await board.send_outbox(wait_ack=False)
            code, reason = await board.closed()
            assert code == 1011 and "could not store telemetry (OSError)" in reason
            assert not any(m["type"] == "ack" for m in board.inbox) and len(board.outbox) == 1
            assert stored_seqs(s.db, "d1") == []

    run(main())


def test_readings_sent_again_after_a_reconnect_are_stored_once(tmp_path):
    async def main():
        async with Running(tmp_path) as s:
            board = FakeBoard("d1", s.add("d1"))
            await board.connect(s.device_url)
            for _ in range(5):
                board.reading()
            await board.send_outbox()
            for _ in range(30):  # sent, then the link drops before any ack is read
                board.reading()
            unacked = list(board.outbox)
            await board.send_outbox(wait_ack=False)
            await board.ws.close()
            await asyncio.sleep(0.2)
            welcome = await board.connect(s.device_url)
            assert welcome["acked"] == 35  # what is stored is forgotten at once: nothing sent twice
            board.outbox = unacked  # a board that missed the welcome's acked sends them all again
            await board.send_outbox()
            assert stored_seqs(s.db, "d1") == list(range(1, 36))
            st, body = await s.api("GET", "/api/devices/d1")
            assert body["device"]["last_seq"] == 35
            readings = (await s.api("GET", "/api/devices/d1/readings?after=30"))[1]["readings"]
            assert [r["seq"] for r in readings] == [31, 32, 33, 34, 35]

    run(main())


def test_gaps_are_normal_and_the_ack_is_the_highest_seq_of_the_batch(tmp_path):
    async def main():
        async with Running(tmp_path) as s:
            board = FakeBoard("d1", s.add("d1"), seq=1001)
            await board.connect(s.device_url)
            board.reading()
            board.seq = 2001  # a reboot skipped a block of numbers
            board.reading()
            await board.send_outbox()
            assert board.inbox[-1] == {"type": "ack", "seq": 2001}
            assert stored_seqs(s.db, "d1") == [1001, 2001]

    run(main())


def test_dropped_counts_are_added_up_and_a_batch_without_readings_gets_no_ack(tmp_path):
    async def main():
        async with Running(tmp_path) as s:
            board = FakeBoard("d1", s.add("d1"))
            await board.connect(s.device_url)
            await board.send({"type": "telemetry", "dropped": 4, "readings": []})
            board.reading()
            await board.send_outbox(dropped=3)
            assert [m["type"] for m in board.inbox] == ["welcome", "ack"]
            st, body = await s.api("GET", "/api/devices/d1")
            assert body["device"]["dropped"] == 7

    run(main())


def test_a_bad_reading_is_stored_as_failed_and_acked_so_it_cannot_block_the_outbox(tmp_path):
    async def main():
        async with Running(tmp_path) as s:
            board = FakeBoard("d1", s.add("d1"))
            await board.connect(s.device_url)
            good = board.reading()
            bad = dict(board.reading(), values=[["temperature", "hot", "C"]])
            board.outbox[-1] = bad
            await board.send_outbox()
            rows = s.db.readings("d1")
            assert rows[0]["seq"] == good["seq"] and "values" in rows[0]
            assert rows[1]["seq"] == bad["seq"] and rows[1]["error"]["code"] == "bad_message"
            assert (
                "telemetry.readings[1].values[0][1]: expected a finite number" in rows[1]["error"]["message"]
            )
            events = (await s.api("GET", "/api/devices/d1/events"))[1]["events"]
            assert any(e["kind"] == "error" and e["data"]["code"] == "bad_message" for e in events)

    run(main())


def test_readings_arriving_together_are_written_in_one_transaction(tmp_path):
    async def main():
        async with Running(tmp_path, batch_ms=50) as s:
            calls = []
            original = s.server.store.add_telemetry

            def counting(batch, now, want_new=True):
                calls.append(len(batch))
                return original(batch, now, want_new)

            s.server.store.add_telemetry = counting
            boards = [FakeBoard("d%d" % i, s.add("d%d" % i)) for i in range(8)]
            for b in boards:
                await b.connect(s.device_url)
                b.reading()
            await asyncio.gather(*(b.send_outbox() for b in boards))
            assert sum(calls) == 8 and len(calls) < 8, calls
            for b in boards:
                assert stored_seqs(s.db, b.device) == [1]

    run(main())


def test_a_server_restart_loses_nothing_and_the_board_resumes(tmp_path):
    async def main():
        async with Running(tmp_path) as s:
            board = FakeBoard("d1", s.add("d1"))
            await board.connect(s.device_url)
            for _ in range(10):
                board.reading()
            await board.send_outbox()
            for _ in range(5):
                board.reading()  # measured while the server is down
            st, body = await s.api("POST", "/api/devices/d1/commands", {"method": "status"})
            await board.recv("command")
            await s.restart()
            assert (await board.closed())[0] in (1000, 1006)
            st, dev = await s.api("GET", "/api/devices/d1")
            assert dev["device"]["state"] == "offline" and dev["device"]["last_seq"] == 10
            welcome = await board.connect(s.device_url)
            assert welcome["acked"] == 10
            cmd = await board.recv("command")  # sent before the restart, no result yet: sent again
            assert cmd["id"] == body["command"]["id"]
            await board.send_outbox()
            assert stored_seqs(s.db, "d1") == list(range(1, 16))
            await board.answer(cmd)
            await s.wait_for(lambda: s.db.command(cmd["id"])["state"] == "done", what="done")
            assert s.db.command(cmd["id"])["attempts"] == 2

    run(main())


def test_old_data_is_pruned_after_the_retention_period(tmp_path):
    async def main():
        async with Running(tmp_path, retention_days=1, prune_every_s=0.05) as s:
            board = FakeBoard("d1", s.add("d1"))
            old = 1_000_000  # ms after 1970: long past any retention
            reading = {"seq": 1, "ts": 5, "clock": "uptime", "sensor": "a", "values": [["t", 1, "C"]]}
            s.db.add_telemetry([("d1", [reading], 0)], old)
            s.db.add_event("d1", "link", {"state": "online"}, old)
            await s.wait_for(lambda: not stored_seqs(s.db, "d1"), what="pruning")
            await board.connect(s.device_url)
            assert board.welcome["acked"] == 1  # the highest seq outlives the readings themselves
            events = s.db.events("d1")
            assert all(e["time"] != old for e in events)

    run(main())


def test_the_wal_is_checkpointed_by_a_thread_of_its_own_not_by_the_writer(tmp_path):
    # The commit that fills the WAL would otherwise copy it into the database file, with an
    # fsync, while the telemetry and commands queued behind it wait.
    import glob

    def in_database_file(s, text):
        (path,) = [p for p in glob.glob(os.path.join(s.data, "*")) if p.endswith((".db", ".sqlite"))]
        with open(path, "rb") as f:  # the database file itself, not its -wal
            return text.encode() in f.read()

    async def main(checkpoint_s, marker):
        async with Running(tmp_path / marker, checkpoint_s=checkpoint_s) as s:
            board = FakeBoard("d1", s.add("d1"))
            await board.connect(s.device_url)
            board.reading(sensor=marker)
            await board.send_outbox()
            writer = s.server.store.db.execute("PRAGMA wal_autocheckpoint").fetchone()[0]
            for _ in range(40):
                if in_database_file(s, marker):
                    break
                await asyncio.sleep(0.05)
            return writer, in_database_file(s, marker)

    assert run(main(0.1, "checkpointed-marker")) == (0, True)
    assert run(main(0, "left-in-the-wal")) == (10000, False)  # SQLite's way: only a full WAL is copied
