"""What the server does to hold thousands of boards (docs/benchmarks.md, "The server at scale"):
a one-pass check of ordinary telemetry that never accepts what the full check refuses, acks sent
by the writer once committed while the connection goes on, reads that do not queue behind
writes, and the highest stored seq read from the readings themselves."""

import asyncio
import math
import threading

from hypothesis import given, settings
from hypothesis import strategies as st

from host_tools.protocol import ProtocolError, check_message, check_reading
from host_tools.server.device import plain_telemetry
from host_tools.server.store import Store
from test_server_kit import FakeBoard, Running, run

GOOD = {
    "seq": 7,
    "ts": 1764016000000,
    "clock": "utc",
    "sensor": "air",
    "values": [["temperature", 21.5, "C"]],
}


def full_check(msg):
    try:
        check_message(msg, "board", readings=False)
        for i, r in enumerate(msg["readings"]):
            check_reading(r, "telemetry.readings[%d]" % i)
        return True
    except ProtocolError:
        return False


def telemetry(*readings, **extra):
    return dict({"type": "telemetry", "readings": list(readings)}, **extra)


def test_ordinary_telemetry_takes_the_one_pass_check():
    assert plain_telemetry(telemetry(GOOD))
    assert plain_telemetry(telemetry(GOOD, dict(GOOD, seq=8, clock="uptime"), dropped=3))
    assert plain_telemetry(telemetry())  # an empty message is valid too


def test_anything_unusual_goes_the_long_way_where_its_fault_is_named():
    unusual = [
        telemetry(dict(GOOD, note="x")),  # a field the store would not keep
        telemetry(
            {k: v for k, v in GOOD.items() if k != "values"} | {"error": {"code": "e", "message": "m"}}
        ),
        telemetry(dict(GOOD, values=[["t", True, "C"]])),  # true is not a number
        telemetry(dict(GOOD, values=[["t", math.inf, "C"]])),
        telemetry(dict(GOOD, values=[["t", 2**60, "C"]])),
        telemetry(dict(GOOD, values=[["t", 1, "C" * 17]])),
        telemetry(dict(GOOD, seq=0)),
        telemetry(dict(GOOD, clock="local")),
        telemetry(GOOD, dropped=-1),
        telemetry(*[dict(GOOD, seq=i + 1) for i in range(101)]),
        {"type": "telemetry", "readings": "none"},
        {"type": "hello", "readings": []},
        [GOOD],
    ]
    for msg in unusual:
        assert not plain_telemetry(msg), msg
    # the long way accepts the first two and the big integer, and refuses the rest
    assert [i for i, m in enumerate(unusual) if full_check(m)] == [0, 1, 4]


_value = st.one_of(
    st.integers(-(2**54), 2**54),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    st.text(max_size=3),
)
_reading = st.fixed_dictionaries(
    {
        "seq": st.one_of(st.integers(-1, 2**54), st.booleans(), st.text(max_size=2)),
        "ts": st.one_of(st.integers(-1, 2**54), st.floats()),
        "clock": st.sampled_from(["utc", "uptime", "UTC", 3]),
        "sensor": st.text(max_size=70),
        "values": st.lists(st.lists(st.one_of(st.text(max_size=20), _value), max_size=4), max_size=3),
    },
    optional={"error": st.just({"code": "e", "message": "m"}), "x": st.just(1)},
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_reading, max_size=3), st.one_of(st.none(), st.integers(-2, 2**54), st.floats()))
def test_the_one_pass_check_never_accepts_what_the_full_check_refuses(readings, dropped):
    msg = telemetry(*readings) if dropped is None else telemetry(*readings, dropped=dropped)
    if plain_telemetry(msg):
        assert full_check(msg), msg


class SlowStore(Store):
    """Telemetry commits wait until `go` is set, as under a heavy load."""

    go = threading.Event()

    def add_telemetry(self, batch, now, want_new=True):
        assert SlowStore.go.wait(10)
        return Store.add_telemetry(self, batch, now, want_new)


def test_api_reads_do_not_wait_for_a_commit_and_acks_come_in_order_once_committed(tmp_path):
    async def main():
        async with Running(tmp_path) as s:
            board = FakeBoard("d1", s.add("d1"))
            await board.connect(s.device_url)
            st_, body = await s.api("POST", "/api/devices/d1/commands", {"method": "status"})
            cmd = await board.recv("command")
            await board.answer(cmd)
            await s.wait_for(lambda: s.db.command(cmd["id"])["state"] == "done", what="done")
            SlowStore.go.clear()
            s.server.store.add_telemetry = SlowStore.add_telemetry.__get__(s.server.store)
            for _ in range(2):  # two messages while the first commit is held up
                board.reading()
                await board.send({"type": "telemetry", "readings": board.outbox[-1:]})
            await asyncio.sleep(0.2)
            # the API reads on a connection of its own: no waiting behind the writer
            st_, got = await asyncio.wait_for(s.api("GET", "/api/commands/" + cmd["id"]), 2)
            assert got["command"]["state"] == "done"
            st_, dev = await asyncio.wait_for(s.api("GET", "/api/devices/d1"), 2)
            assert st_ == 200 and dev["device"]["last_seq"] == 0
            assert not any(m["type"] == "ack" for m in board.inbox) and len(board.outbox) == 2
            SlowStore.go.set()
            assert await board.recv("ack") == {"type": "ack", "seq": 1}
            assert await board.recv("ack") == {"type": "ack", "seq": 2}
            assert not board.outbox

    try:
        run(main())
    finally:
        SlowStore.go.set()


def test_the_highest_stored_seq_comes_from_the_readings_and_outlives_them(tmp_path):
    s = Store(str(tmp_path / "server.db"), b"k" * 32)
    s.add_device("d1")
    assert s.device("d1")["last_seq"] == 0
    assert s.add_telemetry([("d1", [dict(GOOD, seq=5), dict(GOOD, seq=9)], 2)], 1000, False) == [None]
    assert s.device("d1")["last_seq"] == 9 and s.devices()[0]["last_seq"] == 9
    assert s.device("d1")["dropped"] == 2
    assert s.add_telemetry([("d1", [dict(GOOD, seq=9)], 0)], 2000) == [[]]  # a duplicate is not new
    s.prune(5000)  # retention takes the readings, not the number
    assert s.readings("d1") == [] and s.device("d1")["last_seq"] == 9
    s.touch([("d1", 4242)])
    assert s.device("d1")["last_seen"] == 4242
    s.close()


def test_readings_of_a_device_removed_meanwhile_are_not_stored(tmp_path):
    s = Store(str(tmp_path / "server.db"), b"k" * 32)
    s.add_device("d1")
    s.add_device("d2")
    s.remove_device("d2")
    for want_new in (False, True):
        s.add_telemetry([("d1", [GOOD], 0), ("d2", [GOOD], 0)], 1000, want_new)
        assert [r["seq"] for r in s.readings("d1")] == [7] and s.readings("d2") == []
    s.close()


def test_many_boards_each_get_their_own_ack_once_committed(tmp_path):
    async def main():
        async with Running(tmp_path, batch_ms=20, batch_max=3) as s:
            boards = [FakeBoard("d%d" % i, s.add("d%d" % i)) for i in range(10)]
            for i, b in enumerate(boards):
                await b.connect(s.device_url)
                for _ in range(i % 3 + 1):
                    b.reading()
            await asyncio.gather(*(b.send_outbox() for b in boards))
            for b in boards:
                assert b.acked == b.seq - 1 and not b.outbox
                assert [m for m in b.inbox if m["type"] == "ack"] == [{"type": "ack", "seq": b.seq - 1}]

    run(main())
