"""The device application end to end: the real firmware on a simulated board, on both runtimes,
against a scripted protocol server on loopback (tests/host/protoserver.py).

Each test boots one board with a world (Wi-Fi, sensors, loads) and a config, then checks what a
user of the server would see: hello and capabilities, telemetry with acks, commands and their
results, events, and what survives server restarts, Wi-Fi drops and power loss.
"""

import json
import time

import pytest

from protoserver import ProtoServer
from simdevice import SimDevice, config, world

RUNTIMES = ["cpython", "micropython"]
TOKEN = "s3cret-token"
HEATER = {"name": "heater", "pin": 26, "active_low": True, "boot": "restore", "on_link_loss": "off"}
PUMP = {"name": "pump", "pin": 27, "active_low": True, "on_link_loss": "hold"}
FAN = {"name": "fan", "pin": 33, "on_link_loss": "on"}
OPEN = {"name": "open", "pin": 16, "interlock": "valve", "dead_time_ms": 300}
SHUT = {"name": "shut", "pin": 17, "interlock": "valve", "dead_time_ms": 300}
AIR = {"name": "air", "kind": "dht22", "pin": 4, "interval": 0.5}
CHIP = {"name": "chip", "kind": "chip_temperature", "interval": 1, "filters": [{"round": 1}]}
WORLD_SENSORS = [{"kind": "dht22", "name": "air", "pin": 4}, {"kind": "chip_temperature", "name": "chip"}]
LOADS = [
    {"kind": "heater", "name": "heater", "pin": 26, "active_low": True},
    {"kind": "pump", "name": "pump", "pin": 27, "active_low": True},
    {"kind": "fan", "name": "fan", "pin": 33},
]


@pytest.fixture
def server():
    s = ProtoServer({"dev-1": TOKEN}).start()
    yield s
    s.stop()


def board(tmp_path, runtime, server, relays=(HEATER, PUMP, FAN), sensors=(AIR, CHIP), token=TOKEN, **more):
    cfg = config("dev-1", token, server.url, relays=relays, sensors=sensors, **more)
    return SimDevice(tmp_path, runtime, cfg, world(WORLD_SENSORS, LOADS))


@pytest.fixture
def running():
    started = []
    yield started
    for d in started:
        d.stop()
        print("---- console of %s (last lines)\n%s" % (d.dir.name, "\n".join(d.lines[-60:])))


def boot(running, dev):
    running.append(dev.start())
    return dev


def contiguous(seqs):
    return sorted(seqs) == list(range(min(seqs), max(seqs) + 1))


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_hello_telemetry_and_acks(tmp_path, runtime, server, running):
    dev = boot(running, board(tmp_path, runtime, server))
    hello = server.wait_online()
    assert hello["device"] == "dev-1" and hello["v"] == 1 and hello["reset"] == "power_on"
    assert hello["safe_mode"] is False and hello["fw"] and len(hello["config"]) == 16
    assert {s["name"]: s["quantities"] for s in hello["sensors"]} == {
        "air": [["temperature", "C"], ["humidity", "%"]],
        "chip": [["temperature", "C"]],
    }
    assert [(r["name"], r["on"]) for r in hello["relays"]] == [
        ("heater", False),
        ("pump", False),
        ("fan", False),
    ]
    server.wait(lambda: len(server.readings) >= 6, what="six readings")
    r = server.readings[min(server.readings)]
    assert r["clock"] == "utc" and abs(r["ts"] - time.time() * 1000) < 60000
    assert {v[0] for x in server.readings.values() if x["sensor"] == "air" for v in x["values"]} == {
        "temperature",
        "humidity",
    }
    # Acked readings leave the outbox: the status command shows it (nearly) empty.
    res = server.call("status")
    assert res["ok"] and res["result"]["outbox"] <= 3 and res["result"]["link"] == "online"
    assert "dev-1" in dev.wait_for(r"INFO app: dev-1 on")


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_nothing_lost_or_stored_twice_across_a_server_restart_and_a_wifi_drop(
    tmp_path, runtime, server, running
):
    dev = boot(running, board(tmp_path, runtime, server))
    server.wait_online()
    server.wait(lambda: len(server.readings) >= 4, what="readings")
    # The server goes away for a while: readings pile up in the outbox and come later.
    server.stop()
    at = dev.mark()
    dev.wait_for(r"WARN link: (connection closed|connection lost|cannot connect)", after=at)
    time.sleep(2)
    server.start()
    server.wait(lambda: len(server.hellos) >= 2, what="the board's second hello")
    # The Wi-Fi goes away (the access point drops) and comes back.
    n = len(server.readings)
    dev.ctl("wifi drop")
    dev.wait_for(r"WARN wifi: Wi-Fi lost|WARN link", after=at)
    time.sleep(2)
    dev.ctl("wifi restore")
    server.wait(lambda: len(server.hellos) >= 3, timeout=40, what="the board's third hello")
    server.wait(lambda: len(server.readings) >= n + 8, what="readings after the drop")
    seqs = list(server.readings)
    assert contiguous(seqs), "a reading was lost: %s" % sorted(seqs)
    assert len(server.received_seqs) >= len(seqs)  # resent ones are stored once


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_every_command_method_is_answered(tmp_path, runtime, server, running):
    boot(running, board(tmp_path, runtime, server))
    server.wait_online()
    r = server.call("relay.set", {"relay": "heater", "on": True})
    assert r["ok"] and r["result"] == {"relay": "heater", "on": True}
    assert not server.of_type("accepted", id=r["id"])  # answered at once: the result says it all
    (event,) = r["events"]  # the change it made travels in its result, not in a frame of its own
    assert {k: event[k] for k in ("kind", "relay", "on", "cause")} == {
        "kind": "relay",
        "relay": "heater",
        "on": True,
        "cause": "command",
    }
    assert type(event["ts"]) is int and event["clock"] == "utc" and "type" not in event
    assert server.call("relay.toggle", {"relay": "heater"})["result"] == {"relay": "heater", "on": False}
    p = server.call("relay.pulse", {"relay": "pump", "ms": 400})
    assert p["result"] == {"relay": "pump", "on": True, "ms": 400}
    server.wait(
        lambda: server.of_type("event", relay="pump", on=False, cause="pulse_end"), what="the pulse end"
    )
    g = server.call("relay.get", {"relay": "pump"})["result"]
    assert g["relay"] == "pump" and g["on"] is False
    assert [x["name"] for x in server.call("relay.get")["result"]["relays"]] == ["heater", "pump", "fan"]
    s = server.call("sensors.read", {"sensor": "air"})["result"]["readings"]
    assert s[0]["sensor"] == "air" and [v[0] for v in s[0]["values"]] == ["temperature", "humidity"]
    st = server.call("status")["result"]
    for key in (
        "heap_free",
        "heap_min",
        "uptime",
        "reset",
        "wifi",
        "link",
        "reconnects",
        "outbox",
        "dropped",
        "warnings",
        "last_warning",
    ):
        assert key in st, key
    assert st["wifi"]["connected"] is True and st["wifi"]["rssi"] == -55
    c = server.call("config.get")["result"]
    assert c["config"]["token"] == "***" and c["config"]["wifi"][0]["password"] == "***"
    h = server.call("config.set", {"changes": {"intervals.telemetry": 30, "relays.pump.max_on_s": 60}})
    assert h["ok"] and h["result"]["hash"] != c["hash"], h
    c2 = server.call("config.get")["result"]  # config.json as written, with its hash
    assert c2["config"]["intervals"]["telemetry"] == 30 and c2["hash"] == h["result"]["hash"]
    assert [r["max_on_s"] for r in c2["config"]["relays"] if r["name"] == "pump"] == [60]
    assert c2["config"]["token"] == "***" and c2["config"]["device_id"] == "dev-1"
    assert server.call("log.level", {"level": "debug"})["result"] == {"level": "debug"}
    r = server.call("reboot")
    assert r["result"] == {"rebooting": True}
    hello = server.wait(
        lambda: len(server.hellos) >= 2 and server.hellos[-1], what="the hello after the reboot"
    )
    assert hello["reset"] == "hard"
    assert hello["config"] == h["result"]["hash"]  # it boots with what config.set wrote


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_a_repeated_id_runs_once_and_an_expired_command_is_refused(tmp_path, runtime, server, running):
    boot(running, board(tmp_path, runtime, server))
    server.wait_online()
    first = server.call("relay.toggle", {"relay": "fan"}, cid="same")
    assert first["result"] == {"relay": "fan", "on": True}
    server.command("relay.toggle", {"relay": "fan"}, cid="same")
    server.wait(lambda: len(server.of_type("result", id="same")) == 2, what="the repeated result")
    again = server.of_type("result", id="same")[1]
    # the remembered result (the fan was not toggled off), without the event it reported first
    assert [e["relay"] for e in first["events"]] == ["fan"] and "events" not in again
    assert again == {k: v for k, v in first.items() if k != "events"}
    assert server.call("relay.get", {"relay": "fan"})["result"]["on"] is True
    assert len(server.of_type("event", relay="fan")) == 1
    past = int(time.time() * 1000) - 5000
    r = server.call("relay.set", {"relay": "fan", "on": False}, deadline=past)
    assert r["ok"] is False and r["error"]["code"] == "expired"
    assert server.call("relay.get", {"relay": "fan"})["result"]["on"] is True


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_bad_input_gets_errors_and_the_link_stays_up(tmp_path, runtime, server, running):
    boot(running, board(tmp_path, runtime, server))
    server.wait_online()
    server.send_text("{this is not json")
    bad = server.wait(
        lambda: [m for m in server.of_type("result") if m["id"] is None], what="the bad_json result"
    )
    assert bad[0]["error"]["code"] == "bad_json"
    cases = [
        ("warp.drive", {}, "unknown_method"),
        ("relay.set", {"relay": "boiler", "on": True}, "unknown_relay"),
        ("relay.set", {"relay": "heater", "on": "yes"}, "bad_params"),
        ("relay.pulse", {"relay": "pump", "ms": -5}, "bad_params"),
        ("sensors.read", {"sensor": "nope"}, "unknown_sensor"),
        ("config.set", {"changes": {"token": "x"}}, "bad_params"),
        ("log.level", {"level": "loud"}, "bad_params"),
    ]
    for method, params, code in cases:
        r = server.call(method, params)
        assert r["ok"] is False and r["error"]["code"] == code, (method, r)
        assert r["error"]["message"]
    assert server.connections == 1  # never reconnected
    assert server.call("relay.set", {"relay": "heater", "on": True})["ok"]


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_an_interlock_holds_under_simultaneous_commands(tmp_path, runtime, server, running):
    boot(running, board(tmp_path, runtime, server, relays=(OPEN, SHUT)))
    server.wait_online()
    a = server.command("relay.set", {"relay": "open", "on": True})
    b = server.command("relay.set", {"relay": "shut", "on": True})
    ra, rb = server.result(a), server.result(b)
    assert server.of_type("accepted", id=b)  # it waited for the dead time: accepted came first
    # The later command wins; the earlier one is superseded or already switched off again.
    assert rb["ok"] and rb["result"] == {"relay": "shut", "on": True}
    assert ra["ok"] is False and ra["error"]["code"] == "superseded" or ra["result"]["on"] is True
    on = set()
    for e in server.of_type("event", kind="relay"):
        (on.add if e["on"] else on.discard)(e["relay"])
        assert len(on) <= 1, server.of_type("event")
    states = {x["name"]: x["on"] for x in server.call("relay.get")["result"]["relays"]}
    assert states == {"open": False, "shut": True}


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_relays_follow_on_link_loss_when_the_server_goes_silent(tmp_path, runtime, server, running):
    dev = boot(running, board(tmp_path, runtime, server))
    server.wait_online()
    for name in ("heater", "pump"):
        assert server.call("relay.set", {"relay": name, "on": True})["ok"]
    at = dev.mark()
    server.stop()
    # lease 5 s, grace 1 s: heater off, pump holds, fan on; nothing reboots.
    dev.wait_for(r"INFO relays: heater off \(failsafe\)", timeout=30, after=at)
    dev.wait_for(r"INFO relays: fan on \(failsafe\)", timeout=5, after=at)
    assert "pump off" not in dev.output()[len("\n".join(dev.lines[:at])) :]
    assert "rst:" not in "\n".join(dev.lines[at:])
    server.start()
    hello = server.wait(lambda: len(server.hellos) >= 2 and server.hellos[-1], timeout=40, what="a new hello")
    assert {r["name"]: r["on"] for r in hello["relays"]} == {"heater": False, "pump": True, "fan": True}


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_relay_state_is_restored_after_power_loss(tmp_path, runtime, server, running):
    dev = boot(running, board(tmp_path, runtime, server))
    server.wait_online()
    assert server.call("relay.set", {"relay": "heater", "on": True})["ok"]  # boot: restore
    assert server.call("relay.set", {"relay": "pump", "on": True})["ok"]  # boot: off
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:  # saved within the save interval
        p = dev.flash / "state.json"
        if p.exists() and json.loads(p.read_text()).get("heater") is True:
            break
        time.sleep(0.1)
    seq_before = max(server.readings) if server.readings else 0
    dev.power_cut()
    dev.start()
    hello = server.wait(
        lambda: len(server.hellos) >= 2 and server.hellos[-1], timeout=40, what="the second hello"
    )
    assert hello["reset"] == "power_on"
    assert {r["name"]: r["on"] for r in hello["relays"]} == {"heater": True, "pump": False, "fan": False}
    assert hello["seq"] > seq_before  # sequence numbers never repeat across power loss


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_a_bad_config_reaches_safe_mode_with_a_clear_message(tmp_path, runtime, server, running):
    bad = dict(HEATER, pin=6)  # a flash pin
    dev = boot(running, board(tmp_path, runtime, server, relays=(bad,)))
    line = dev.wait_for(r"ERROR config: relays\[0\]\.pin")
    assert "GPIO 6" in line
    dev.wait_for(r"safe mode")
    hello = server.wait_online()
    assert hello["safe_mode"] is True and hello["relays"] == []
    r = server.call("relay.set", {"relay": "heater", "on": True})
    assert r["ok"] is False and r["error"]["code"] == "safe_mode"
    assert server.call("status")["result"]["safe_mode"] is True
    assert "Traceback" not in dev.output()


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_a_bad_token_backs_off_with_a_clear_message(tmp_path, runtime, server, running):
    dev = boot(running, board(tmp_path, runtime, server, token="wrong"))
    line = dev.wait_for(r"ERROR link: the server refused this device \(401")
    assert "token" in line
    dev.wait_for(r"reconnecting in (\d+)\.\d s")
    time.sleep(1.5)
    assert server.refused == [401]  # it does not hammer the server


def test_a_board_with_64_kib_of_heap_rides_out_server_restarts(tmp_path, server, running, monkeypatch):
    # MicroPython, the code in a ROMFS image (flash), 64 KiB for the application: the issue's
    # heap. A reconnect needs room the running board does not (dialling and the handshake load
    # their code), in a heap that has had commands, readings and reconnects fragment it.
    # The bench's sensor intervals (2 and 5 s): with readings every 0.5 s the catch-up after a
    # restart needs more room, and 64 KiB fails now and then (once in four CI runs).
    monkeypatch.setenv("SIM_TEST_HEAP", "64k")
    monkeypatch.setenv("SIM_TEST_ROMFS", "1")
    sensors = (dict(AIR, interval=2), dict(CHIP, interval=5))
    dev = boot(running, board(tmp_path, "micropython", server, sensors=sensors))
    server.wait_online()
    for i in range(100):
        assert server.call("relay.set", {"relay": "pump", "on": bool(i & 1)})["ok"]
    for restart in range(2):
        at = dev.mark()
        server.stop()
        dev.wait_for(r"WARN link: (connection closed|connection lost)", after=at)
        server.start()
        server.wait(lambda n=restart + 2: len(server.hellos) >= n, what="the board's hello after the restart")
        for _ in range(25):
            assert server.call("relay.toggle", {"relay": "fan"})["ok"]
        assert server.call("sensors.read")["ok"]
        st = server.call("status")["result"]
        assert st["reconnects"] >= restart + 1
    out = dev.output()
    assert "MemoryError" not in out and "task failed" not in out
    assert out.count("rst:") == 1  # no reset
