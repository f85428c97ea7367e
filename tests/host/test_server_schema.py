"""host_tools/protocol.py: each kind of bad message or command gets a ProtocolError that names the
field, what it should be and what it was."""

import pytest

from host_tools.protocol import ProtocolError, check_command, check_message, check_reading

HELLO = {"type": "hello", "v": 1, "device": "d1", "seq": 1}


def error_of(fn, *args, **kw):
    with pytest.raises(ProtocolError) as e:
        fn(*args, **kw)
    return str(e.value)


@pytest.mark.parametrize(
    "msg, words",
    [
        ([1, 2], ["JSON object", "[1, 2]"]),
        ({"v": 1}, ["type must be one of", "null"]),
        ({"type": "bogus"}, ["type must be one of", "hello", '"bogus"']),
        (dict(HELLO, seq="7"), ["hello.seq", "integer", '"7"']),
        (dict(HELLO, seq=0), ["hello.seq", "from 1"]),
        ({"type": "hello", "v": 1, "seq": 1}, ["hello", "missing field 'device'"]),
        (dict(HELLO, device=""), ["hello.device", "1 to 64 characters", "got 0"]),
        (dict(HELLO, relays=[{"name": "r", "on": "yes"}]), ["hello.relays[0].on", "true or false"]),
        ({"type": "telemetry", "readings": {}}, ["telemetry.readings", "a list"]),
        ({"type": "telemetry", "readings": [{"ts": 1}]}, ["telemetry.readings[0]", "missing field 'seq'"]),
        ({"type": "telemetry", "dropped": -1, "readings": []}, ["telemetry.dropped", "from 0"]),
        ({"type": "result", "id": "c1", "ok": False}, ["result", "'error'", "needed when ok is false"]),
        ({"type": "result", "id": 5, "ok": True}, ["result.id", "string", "or null"]),
        ({"type": "event", "kind": "door"}, ["event.kind", "relay, sensor", '"door"']),
        (
            {
                "type": "event",
                "kind": "relay",
                "relay": "h",
                "on": True,
                "cause": "boot",
                "ts": 1.5,
                "clock": "utc",
            },
            ["event.ts", "integer"],
        ),  # fmt: skip
        ({"type": "welcome", "v": 1}, ["'welcome' is sent by the server, not by the board"]),
    ],
)
def test_a_bad_board_message_is_refused_with_the_field_named(msg, words):
    text = error_of(check_message, msg, "board")
    for w in words:
        assert w in text, (w, text)


def test_telemetry_readings_are_checked_one_by_one_when_asked():
    msg = {
        "type": "telemetry",
        "readings": [{"seq": 5, "ts": 1, "clock": "utc", "sensor": "a", "values": "x"}],
    }
    check_message(msg, "board", readings=False)  # the envelope is fine: only seq is checked
    assert "telemetry.readings[0].values" in error_of(check_message, msg, "board")


@pytest.mark.parametrize(
    "reading, words",
    [
        ({"seq": 1, "ts": 1, "clock": "utc", "sensor": "a"}, ["either 'values' or 'error'"]),
        (
            {"seq": 1, "ts": 1, "clock": "local", "sensor": "a", "values": []},
            ["reading.clock", "utc, uptime"],
        ),
        (
            {"seq": 1, "ts": 1, "clock": "utc", "sensor": "a", "values": [["t", float("nan"), "C"]]},
            ["reading.values[0][1]", "finite number"],
        ),  # fmt: skip
        (
            {"seq": 1, "ts": 1, "clock": "utc", "sensor": "a", "values": [["t", 1]]},
            ["reading.values[0]", "got 2 items"],
        ),
    ],
)
def test_a_bad_reading_is_refused_with_the_field_named(reading, words):
    text = error_of(check_reading, reading)
    for w in words:
        assert w in text, (w, text)


def test_commands_are_checked_against_the_method_table():
    assert check_command("relay.set", {"relay": "heater", "on": True}) == {"relay": "heater", "on": True}
    assert check_command("status", None) == {}
    assert 'unknown method "relay.flip"; methods: relay.set' in error_of(check_command, "relay.flip", {})
    assert "relay.set: missing field 'on'" in error_of(check_command, "relay.set", {"relay": "heater"})
    assert "relay.set.on: expected true or false, got 1" in error_of(
        check_command, "relay.set", {"relay": "h", "on": 1}
    )
    assert "relay.pulse.ms: expected an integer from 1 to 3600000" in error_of(
        check_command, "relay.pulse", {"relay": "h", "ms": 0}
    )
    assert 'status takes no params; "relay" is not one of them' in error_of(
        check_command, "status", {"relay": "h"}
    )
    assert "log.level.level: expected one of debug" in error_of(check_command, "log.level", {"level": "loud"})
    assert "params: expected an object" in error_of(check_command, "status", [1])


def test_unknown_fields_are_ignored():
    check_message(dict(HELLO, future_field={"x": 1}), "board")
