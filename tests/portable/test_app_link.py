"""The message layer (firmware/app/link.py): outbox, acks, sequence numbers, clock, commands."""

import json

from app.errors import AppError
from app.link import Link, accepted, result
from wsutil import raises

WELCOME = '{"type": "welcome", "v": 1, "time": 1764016000000, "acked": 0}'


def online(link, now=1000):
    link.connected()
    act, _ = link.received(WELCOME, now)
    assert act == "welcome"
    return link


def sent(link):
    out = []
    while True:
        t = link.telemetry()
        if t is None:
            return out
        out.append(json.loads(t))


def test_nothing_is_sent_before_the_welcome():
    link = Link(1)
    link.connected()
    link.reading(5, "air", [["temperature", 21.5, "C"]])
    assert link.telemetry() is None
    link.received(WELCOME, 10)
    (msg,) = sent(link)
    assert msg["type"] == "telemetry"
    assert msg["readings"][0]["values"] == [["temperature", 21.5, "C"]]


def test_readings_get_increasing_sequence_numbers_and_utc_times_once_the_clock_is_set():
    link = Link(41)
    link.reading(500, "air", [["temperature", 20.0, "C"]])  # before the welcome: uptime
    online(link, now=1000)  # UTC 1764016000000 at uptime 1000
    link.reading(3000, "soil", [["soil_moisture", 40.0, "%"]])
    (msg,) = sent(link)
    r = msg["readings"]
    assert [x["seq"] for x in r] == [41, 42]
    assert r[0]["ts"] == 1764016000000 - 500 and r[0]["clock"] == "utc"
    assert r[1]["ts"] == 1764016002000
    assert link.seq == 43


def test_without_a_clock_readings_are_marked_uptime():
    link = Link(1)
    link.connected()
    link.received('{"type": "welcome", "v": 1}', 10)  # a server that gives no time
    link.reading(1234, "air", [["temperature", 20.0, "C"]])
    (msg,) = sent(link)
    assert msg["readings"][0]["ts"] == 1234 and msg["readings"][0]["clock"] == "uptime"


def test_catching_up_is_batched_and_everything_unacked_is_sent_again_after_a_reconnect():
    link = online(Link(1))
    for i in range(45):
        link.reading(i, "air", [["temperature", float(i), "C"]])
    batches = sent(link)
    assert [len(b["readings"]) for b in batches] == [10, 10, 10, 10, 5]  # about 1 KiB each
    assert link.received('{"type": "ack", "seq": 30}', 2000) == ("ack", 30)
    assert link.unacked() == 15
    assert sent(link) == []  # nothing new on this connection
    online(link)  # reconnected
    again = sent(link)
    assert [r["seq"] for b in again for r in b["readings"]] == list(range(31, 46))


def test_a_telemetry_message_holds_about_a_kilobyte_of_readings_at_most():
    # Long readings: fewer of them to a message, so no message needs a large block of heap.
    link = online(Link(1))
    for i in range(30):
        link.reading(i, "greenhouse-north-air", [["temperature", 20.5, "C"], ["humidity", 55.25, "%"]])
    texts = []
    while True:
        t = link.telemetry()
        if t is None:
            break
        texts.append(t)
    seqs = [r["seq"] for t in texts for r in json.loads(t)["readings"]]
    assert seqs == list(range(1, 31))  # each once, in order
    assert len(texts) > 2 and max(len(t) for t in texts) < 1024 + 200


def test_the_welcome_acks_what_the_server_already_stored():
    link = Link(1)
    for i in range(5):
        link.reading(i, "air", [["temperature", 1.0, "C"]])
    link.connected()
    link.received('{"type": "welcome", "v": 1, "time": 1764016000000, "acked": 3}', 10)
    (msg,) = sent(link)
    assert [r["seq"] for r in msg["readings"]] == [4, 5]


def test_a_full_outbox_drops_the_oldest_and_reports_how_many():
    link = Link(1, outbox=3)
    for i in range(5):
        link.reading(i, "air", [["temperature", float(i), "C"]])
    online(link)
    (msg,) = sent(link)
    assert msg["dropped"] == 2
    assert [r["seq"] for r in msg["readings"]] == [3, 4, 5]
    assert link.dropped_total == 2
    link.reading(9, "air", [["temperature", 9.0, "C"]])  # still full of unacked readings
    assert sent(link)[0]["dropped"] == 1
    link.ack(6)
    link.reading(10, "air", [["temperature", 10.0, "C"]])
    assert sent(link)[0]["dropped"] == 0


def test_sequence_numbers_are_reserved_on_flash_before_use():
    saved = []
    link = Link(7, saved.append)
    link.reading(0, "a", [["x", 1, "u"]])
    assert saved == [1007]  # persisted before number 7 went out
    for _ in range(999):
        link.reading(0, "a", [["x", 1, "u"]])
    assert saved == [1007]
    link.reading(0, "a", [["x", 1, "u"]])  # number 1007 needs the next block
    assert saved == [1007, 2007]
    # After a power loss the board starts at the saved value: no number is ever reused.
    assert Link(saved[-1]).reading(0, "a", [["x", 1, "u"]]) == 2007


def test_a_failed_reading_carries_its_error():
    link = online(Link(1))
    link.reading(5, "bench", error={"code": "sensor_crc", "message": "bench: CRC error"})
    (msg,) = sent(link)
    r = msg["readings"][0]
    assert r["error"] == {"code": "sensor_crc", "message": "bench: CRC error"}
    assert "values" not in r


def test_hello_and_events():
    link = Link(12)
    h = json.loads(link.hello({"device": "d1", "relays": []}, 777))
    assert h["type"] == "hello" and h["v"] == 1 and h["seq"] == 12 and h["uptime"] == 777
    online(link, now=1000)
    e = json.loads(link.event(1500, {"kind": "relay", "relay": "pump", "on": True, "cause": "command"}))
    assert e == {
        "type": "event",
        "kind": "relay",
        "relay": "pump",
        "on": True,
        "cause": "command",
        "ts": 1764016000500,
        "clock": "utc",
    }
    # relay_event writes the same message directly, and without its type inside a result
    assert json.loads(link.relay_event(1500, "pump", True, "command")) == e
    assert json.loads(link.relay_event(1500, 'the "big" pump', False, "max_on", True)) == {
        "kind": "relay",
        "relay": 'the "big" pump',
        "on": False,
        "cause": "max_on",
        "ts": 1764016000500,
        "clock": "utc",
    }
    link.utc = None  # before the clock is set: uptime
    assert json.loads(link.relay_event(1500, "pump", True, "command"))["clock"] == "uptime"


def test_commands_are_parsed_and_a_repeated_id_gets_the_remembered_result():
    link = online(Link(1))
    cmd = '{"type": "command", "id": "c1", "method": "relay.set", "params": {"relay": "pump", "on": true}}'
    assert link.received(cmd, 2000) == ("command", ("c1", "relay.set", {"relay": "pump", "on": True}))
    text = link.done("c1", {"relay": "pump", "on": True})
    assert link.received(cmd, 2100) == ("reply", text)
    assert json.loads(text) == {
        "type": "result",
        "id": "c1",
        "ok": True,
        "result": {"relay": "pump", "on": True},
    }
    assert json.loads(accepted("c1")) == {"type": "accepted", "id": "c1"}


def test_the_latest_results_are_remembered_in_a_ring_of_bytes():
    # The reference server's ids ("c-" and 16 hex digits) and results of varied sizes up to
    # 120 bytes in the ring: the last 16 are always there, each exactly as it was sent, and
    # any id the ring still finds gives its own newest result, never a piece of another.
    link = Link(1)
    sent = {}
    order = []  # a MicroPython dict keeps no order
    x = 12345
    for i in range(300):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF  # the same sizes on both runtimes
        cid = "c-%016x" % (x * 7919 + i)
        text = link.done(cid, {"relay": "heater", "on": bool(i & 1), "pad": "x" * (x % 32)})
        assert len(text) - len('{"type": "result", "id": ') + 1 <= 120
        sent[cid] = text
        order.append(cid)
        for old in order[-16:]:
            assert link.remembered(old) == sent[old]
        for old in order[:-16:7]:
            got = link.remembered(old)
            assert got is None or got == sent[old]
    assert link.remembered(order[0]) is None  # long gone


def test_a_result_given_again_for_an_id_replaces_the_one_remembered():
    link = Link(1, remember=120)
    link.done("a", {"n": 1})
    link.done("b", {"n": 2})
    link.done("a", {"n": 3})  # cuts into the first "a", then "b" is the older
    assert json.loads(link.remembered("a"))["result"] == {"n": 3}
    assert json.loads(link.remembered("b"))["result"] == {"n": 2}


def test_a_result_cut_by_a_newer_one_is_forgotten_whole():
    link = Link(1, remember=100)
    link.done("a", {"n": "a"})  # 39 bytes of the ring: 0-39
    link.done("b", {"n": "b"})  # 39-78
    link.done("c", {"n": "c"})  # no room at the end: it starts over, in place of "a"
    assert link.remembered("a") is None
    assert json.loads(link.remembered("b"))["result"] == {"n": "b"}
    assert json.loads(link.remembered("c"))["result"] == {"n": "c"}
    link.done("d", {"n": 1})  # 37 bytes from 39: the first part of "b"
    assert link.remembered("b") is None
    assert json.loads(link.remembered("d"))["result"] == {"n": 1}  # ends where it ends, not in "b"
    assert json.loads(link.remembered("c"))["result"] == {"n": "c"}
    link.done("e", {"n": "c" * 10})  # 48: starts over again, over "c" and into "d"
    assert link.remembered("c") is None and link.remembered("d") is None
    assert json.loads(link.remembered("e"))["result"] == {"n": "c" * 10}


def test_ids_whose_hashes_share_the_byte_the_board_indexes_get_their_own_results():
    seen = {}
    pair = None
    for i in range(1000):  # two ids with the same low byte of hash(): some come by quickly
        cid = "c-%d" % i
        tag = hash(cid) & 255
        if tag in seen:
            pair = (seen[tag], cid)
            break
        seen[tag] = cid
    link = Link(1)
    link.done(pair[0], {"n": 0})
    assert link.remembered(pair[1]) is None  # its tag is there, its id is not
    link.done(pair[1], {"n": 1})
    assert json.loads(link.remembered(pair[0]))["result"] == {"n": 0}
    assert json.loads(link.remembered(pair[1]))["result"] == {"n": 1}


def test_at_most_32_results_are_remembered_however_small():
    link = Link(1)
    for i in range(40):
        link.done("c%d" % i, {})  # 26 bytes each: 40 fit in the ring, not in the slots
    assert [i for i in range(40) if link.remembered("c%d" % i)] == list(range(8, 40))


def test_results_with_text_beyond_ascii_are_remembered_whole():
    link = Link(1, remember=200)
    ev = link.relay_event(2000, "Lüfter", True, "command", inside=True)
    sent = json.loads(link.done("c1", {"relay": "Lüfter", "on": True}, events=[ev]))
    assert sent["events"][0]["relay"] == "Lüfter"
    link.done("c2", error=("unknown_relay", "no relay 'Küche'"))
    assert json.loads(link.remembered("c1")) == {
        "type": "result",
        "id": "c1",
        "ok": True,
        "result": {"relay": "Lüfter", "on": True},
    }
    assert json.loads(link.remembered("c2"))["error"]["message"] == "no relay 'Küche'"


def test_a_result_larger_than_the_ring_is_sent_but_not_remembered():
    link = Link(1, remember=100)
    link.done("a", {"n": 1})
    big = link.done("big", {"text": "y" * 200})
    assert json.loads(big)["result"] == {"text": "y" * 200}
    assert link.remembered("big") is None  # a repeat runs again: only config.get gets that large
    assert json.loads(link.remembered("a"))["result"] == {"n": 1}


def test_the_events_a_command_caused_go_with_its_result_but_not_with_a_repeat():
    link = online(Link(1))
    ev = link.relay_event(2000, "pump", True, "command", inside=True)
    text = link.done("c1", {"relay": "pump", "on": True}, events=[ev, ev.replace("pump", "fan")])
    sent = json.loads(text)
    assert sent["result"] == {"relay": "pump", "on": True}
    assert [(e["relay"], e["on"], e["cause"], e["kind"]) for e in sent["events"]] == [
        ("pump", True, "command", "relay"),
        ("fan", True, "command", "relay"),
    ]
    assert "type" not in sent["events"][0]  # an event inside a result has no type of its own
    again = json.loads(link.remembered("c1"))
    assert again == {"type": "result", "id": "c1", "ok": True, "result": {"relay": "pump", "on": True}}
    failed = json.loads(link.done("c2", error=("superseded", 'a "later" one won'), events=[ev]))
    assert failed["error"] == {"code": "superseded", "message": 'a "later" one won'}
    assert failed["events"][0]["relay"] == "pump" and "events" not in json.loads(link.remembered("c2"))


def test_an_expired_command_is_refused():
    link = online(Link(1), now=1000)  # UTC 1764016000000 at uptime 1000
    cmd = '{"type": "command", "id": "c2", "method": "status", "deadline": 1764016001000}'
    assert link.received(cmd, 1500)[0] == "command"
    act, text = link.received(cmd.replace("c2", "c3"), 2500)
    r = json.loads(text)
    assert act == "reply" and r["id"] == "c3" and r["error"]["code"] == "expired"


def test_bad_messages_get_error_results_and_nothing_breaks():
    link = online(Link(1))
    cases = [
        ("{not json", None, "bad_json"),
        ("[1, 2]", None, "bad_json"),
        ('{"type": "command", "method": "status"}', None, "bad_message"),
        ('{"type": "command", "id": "' + "x" * 65 + '", "method": "status"}', None, "bad_message"),
        ('{"type": "command", "id": "c4"}', "c4", "bad_message"),
        ('{"type": "command", "id": "c5", "method": "status", "params": [1]}', "c5", "bad_params"),
        ('{"type": "command", "id": "c6", "method": "status", "deadline": 17640.5}', "c6", "bad_message"),
    ]
    for text, cid, code in cases:
        act, reply = link.received(text, 2000)
        r = json.loads(reply)
        assert act == "reply", text
        assert r["id"] == cid and r["ok"] is False and r["error"]["code"] == code, (text, r)
        assert r["error"]["message"]
    assert link.received('{"type": "something-new"}', 2000) == (None, None)
    assert link.received('{"type": "ack", "seq": "7"}', 2000) == (None, None)


def test_a_wrong_protocol_version_is_an_error():
    link = Link(1)
    link.connected()
    e = raises(AppError, link.received, '{"type": "welcome", "v": 2, "time": 1}', 0)
    assert e.code == "protocol" and "version 2" in e.message
    assert not link.welcomed


def test_result_messages():
    # An ok result is formatted around its value: the id is still JSON-escaped, None is null.
    odd = 'c"9\\ \u00e9'
    assert json.loads(result(odd, {"relay": "pump", "on": False})) == {
        "type": "result",
        "id": odd,
        "ok": True,
        "result": {"relay": "pump", "on": False},
    }
    assert json.loads(result("c8")) == {"type": "result", "id": "c8", "ok": True, "result": None}
    assert json.loads(result("c9", error=("unknown_relay", "no relay 'x'"))) == {
        "type": "result",
        "id": "c9",
        "ok": False,
        "error": {"code": "unknown_relay", "message": "no relay 'x'"},
    }


def test_telemetry_is_due_when_the_oldest_unsent_reading_waited_or_a_batch_is_full():
    link = online(Link(1))
    assert not link.due(5000, 1000)  # nothing to send
    link.reading(4000, "air", [["temperature", 20.0, "C"]])
    assert not link.due(4500, 1000) and link.due(5000, 1000)
    sent(link)
    assert not link.due(9000, 1000)  # everything went
    for i in range(9):
        link.reading(9000, "air", [["temperature", 20.0, "C"]])
    assert not link.due(9000, 1000)
    link.reading(9000, "air", [["temperature", 20.0, "C"]])
    assert link.due(9000, 1000)  # a full batch of 10 goes at once


def test_a_full_outbox_costs_about_200_bytes_a_reading_on_the_board():
    import gc
    import sys

    link = Link(0, None, 200)
    gc.collect()
    before = gc.mem_alloc() if sys.implementation.name == "micropython" else 0
    for i in range(200):
        link.reading(i * 2000, "air", [["temperature", 20.0 + i / 10, "C"], ["humidity", 40.0 + i / 7, "%"]])
    link.reading(400000, "air", error={"code": "crc", "message": "checksum mismatch"})  # drops the oldest
    assert link.unacked() == 200 and link.dropped == 1
    if sys.implementation.name == "micropython":  # the readings are kept as JSON, not as lists
        gc.collect()
        assert (gc.mem_alloc() - before) / 200 < 256
    link.welcomed = True
    msg = json.loads(link.telemetry())
    assert msg["dropped"] == 1 and msg["readings"][0]["seq"] == 1
    assert msg["readings"][0]["values"] == [["temperature", 20.1, "C"], ["humidity", 40.0 + 1 / 7, "%"]]
