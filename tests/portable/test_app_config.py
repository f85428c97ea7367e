"""config.json and board.json (app.config): every rule with its message, board files, load, set."""

import json
import os

from app import config
from app.errors import AppError
from wsutil import raises


def _root():
    here = __file__ if __file__[0] == "/" else os.getcwd() + "/" + __file__
    for _ in range(3):
        here = here[: here.rfind("/")]
    return here


ROOT = _root()
BOARDS = ("esp32-devkitc", "esp32-s3-devkitc", "esp32-c3-devkitm", "sim")


def board(name="esp32-devkitc"):
    with open(ROOT + "/boards/%s.json" % name) as f:
        return json.load(f)


def base(**changes):
    """A minimal valid config, with top-level keys replaced."""
    cfg = {
        "device_id": "sim-0001",
        "token": "s3cret-token",
        "server": "ws://127.0.0.1:8080/device",
        "wifi": [{"ssid": "greenhouse", "password": "tomatoes42"}],
    }
    cfg.update(changes)
    return cfg


def errors_of(cfg, name="esp32-devkitc"):
    return config.check(cfg, board(name))[1]


def warnings_of(cfg, name="esp32-devkitc"):
    return config.check(cfg, board(name))[2]


def relay(pin, **kw):
    r = {"name": "r%d" % pin, "pin": pin}
    r.update(kw)
    return r


def sensor(kind, **kw):
    s = {"name": kw.pop("name", kind), "kind": kind}
    s.update(kw)
    return s


def docs_example():
    with open(ROOT + "/docs/config.md") as f:
        text = f.read()
    start = text.index("```json\n", text.index("## A full example")) + 8
    return json.loads(text[start : text.index("```", start)])


# ---- the documented example and the board files


def test_the_documented_example_is_valid_on_the_simulators_board_and_the_devkitc():
    cfg = docs_example()
    assert config.check(cfg, board("sim"))[1:] == ([], [])
    assert config.check(cfg, board("esp32-devkitc"))[1:] == ([], [])


def test_the_documented_example_is_wired_as_the_greenhouse_scenario_and_sim_json_say():
    with open(ROOT + "/scenarios/greenhouse.json") as f:
        world = json.load(f)["world"]
    scenario = {}
    for item in world["sensors"] + world["loads"]:
        if "pin" in item:
            scenario[item["name"]] = item["pin"]
    wiring = board("sim")["wiring"]
    cfg = docs_example()
    for item in cfg["relays"] + cfg["sensors"]:
        if "pin" in item:
            assert scenario[item["name"]] == item["pin"], item
            assert str(item["pin"]) in wiring, item
    for pin in scenario.values():
        assert str(pin) in wiring and pin in board("sim")["gpios"]
    # the BME280 sits on I2C bus 0, whose default pins sim.json wires
    i2c0 = board("sim")["i2c"][0]
    assert "BME280" in wiring[str(i2c0["scl"])] and "BME280" in wiring[str(i2c0["sda"])]


def test_every_board_file_loads_and_is_consistent():
    for name in BOARDS:
        b = board(name)
        assert config.check_board(b) == [], name
        for key in ("name", "chip", "firmware_offset", "flash_size", "vfs_offset", "led", "led_active_low"):
            assert key in b, (name, key)  # host tools read these
        gpios = b["gpios"]
        reserved = [int(p) for p in b["reserved"]]
        for key in ("flash_pins", "input_only", "strapping", "adc1", "adc2", "good_outputs"):
            assert all(p in gpios for p in b[key]), (name, key)
        assert b["led"] in gpios and b["led"] not in b["flash_pins"]
        assert all(p in gpios for p in reserved), name
        assert not [p for p in b["adc1"] if p in b["adc2"]], name
        assert b["vfs_offset"] < b["flash_size"] and b["flash_size"] % (1 << 20) == 0
        assert b["firmware_offset"] == (0x1000 if b["chip"] == "ESP32" else 0)
        # the suggested output pins and the default I2C pins pass every rule, without a warning
        relays = [relay(p) for p in b["good_outputs"]]
        assert config.check(base(relays=relays), b)[1:] == ([], []), name
        for bus in range(len(b["i2c"])):
            cfg = base(sensors=[sensor("bme280", bus=bus)])
            assert config.check(cfg, b)[1] == [], (name, bus)


def test_board_files_hold_each_chips_pin_facts():
    def span(a, b):
        return list(range(a, b + 1))

    esp32, s3, c3 = board("esp32-devkitc"), board("esp32-s3-devkitc"), board("esp32-c3-devkitm")
    assert esp32["flash_pins"] == span(6, 11) and board("sim")["flash_pins"] == span(6, 11)
    assert s3["flash_pins"] == span(26, 32) and c3["flash_pins"] == span(12, 17)
    assert esp32["input_only"] == [34, 35, 36, 39] and board("sim")["input_only"] == span(34, 39)
    assert s3["input_only"] == [] and c3["input_only"] == []
    assert esp32["strapping"] == [0, 2, 5, 12, 15]
    assert s3["strapping"] == [0, 3, 45, 46] and c3["strapping"] == [2, 8, 9]
    assert esp32["adc2"] == [0, 2, 4, 12, 13, 14, 15, 25, 26, 27]
    assert s3["adc1"] == span(1, 10) and s3["adc2"] == span(11, 20)
    assert c3["adc1"] == span(0, 4) and c3["adc2"] == [5]
    assert esp32["i2c"][0] == {"scl": 18, "sda": 19} and s3["i2c"][0] == c3["i2c"][0] == {"scl": 9, "sda": 8}


def test_the_chip_is_named_in_pin_messages():
    assert errors_of(base(relays=[relay(26)]), "esp32-s3-devkitc") == [
        "relays[0].pin: GPIO 26 is wired to the flash chip on the ESP32-S3 (using it crashes the board); "
        "use an output-capable pin such as 15, 16, 17, 18 or 21"
    ]
    assert errors_of(base(relays=[relay(12)]), "esp32-c3-devkitm")[0].startswith(
        "relays[0].pin: GPIO 12 is wired to the flash chip on the ESP32-C3"
    )
    w = warnings_of(base(relays=[relay(9)]), "esp32-c3-devkitm")
    assert w[0].startswith("relays[0].pin: GPIO 9 is a strapping pin of the ESP32-C3")


def test_bad_board_files_get_clear_errors():
    assert config.check_board([]) == [
        "board.json: must be a JSON object {...}, not []; copy one from boards/"
    ]
    bad = {
        "name": "",
        "gpios": [],
        "flash_pins": "6-11",
        "i2c": [{"scl": 18}],
        "reserved": {"1": 2},
        "led": "2",
    }
    assert config.check_board(bad) == [
        'board.json: name: must be a non-empty string such as "ESP32"',
        'board.json: chip: must be a non-empty string such as "ESP32"',
        "board.json: gpios: must be a list of GPIO numbers such as [25, 26]",
        "board.json: flash_pins: must be a list of GPIO numbers such as [25, 26]",
        'board.json: i2c: must be a list of default pins per bus such as [{"scl": 18, "sda": 19}]',
        'board.json: reserved: must map GPIO numbers to what uses them, such as {"1": "UART0 TX"}',
        "board.json: led: must be the LED's GPIO number",
    ]


# ---- top level


def test_defaults_are_filled_in_and_the_input_is_left_alone():
    cfg = base(relays=[{"name": "pump", "pin": 27}], sensors=[{"name": "air", "kind": "dht22", "pin": 4}])
    before = json.dumps(cfg)
    out, errors, warnings = config.check(cfg, board())
    assert (errors, warnings) == ([], [])
    assert json.dumps(cfg) == before
    assert out["intervals"] == {
        "telemetry": 10,
        "lease": 60,
        "link_loss_grace": 10,
        "keepalive": 20,
        "reconnect_max": 60,
    }
    assert (out["outbox"], out["log_level"]) == (200, "info")
    assert out["relays"] == [
        {
            "name": "pump",
            "pin": 27,
            "active_low": False,
            "boot": "off",
            "max_on_s": 0,
            "dead_time_ms": 100,
            "on_link_loss": "off",
        }
    ]
    assert out["sensors"] == [{"name": "air", "kind": "dht22", "pin": 4, "interval": 10, "filters": []}]
    out = config.check(base(), board())[0]
    assert (out["relays"], out["sensors"]) == ([], [])


def test_a_config_that_is_not_an_object_is_an_error():
    assert config.check([1], board())[1] == [
        "config.json: must be a JSON object {...}, not a list; see docs/config.md"
    ]


def test_required_keys_are_named_with_what_to_put_there():
    assert errors_of({}) == [
        "device_id: missing; set it to a non-empty string",
        "token: missing; set it to a non-empty string",
        "server: missing; set it to a WebSocket URL starting with ws:// or wss://, such as "
        '"wss://example.com/device"',
        "wifi: missing; set it to a list [...]",
    ]


def test_wrong_types_are_named_with_the_value_given():
    assert errors_of(base(device_id=42, relays={}, sensors="air", intervals=[10], outbox=2.5)) == [
        "device_id: must be a non-empty string, not 42",
        "relays: must be a list [...], not {}",
        'sensors: must be a list [...], not "air"',
        "intervals: must be an object {...}, not [10]",
        "outbox: must be an integer > 0, not 2.5",
    ]


def test_secrets_are_never_echoed_in_messages():
    errors = errors_of(base(token=123456, wifi=[{"ssid": "x", "password": 987654321}]))
    assert errors == [
        "token: must be a non-empty string, not the value given (hidden)",
        'wifi[0].password: must be a string ("" for none), not the value given (hidden)',
    ]
    errors = errors_of(base(wifi=[{"ssid": "x", "password": "hunter2"}]))
    assert errors == [
        'wifi[0].password: has 7 characters; WPA2 needs 8 to 63 (or 64 hex digits), or "" for an open network'
    ]
    assert "hunter2" not in errors[0]


def test_server_must_be_a_websocket_url():
    for url in ("http://example.com/device", "ws://", "wss://", "", "example.com:8080"):
        assert errors_of(base(server=url)) == [
            "server: must be a WebSocket URL starting with ws:// or wss://, such as "
            '"wss://example.com/device", not %s' % json.dumps(url)
        ]
    for url in ("ws://10.0.0.2/device", "wss://iot.example.com:8443/device"):
        assert errors_of(base(server=url)) == []


def test_log_level_and_outbox():
    assert errors_of(base(log_level="loud")) == [
        'log_level: must be one of "debug", "info", "warning" or "error", not "loud"'
    ]
    for level in config.LOG_LEVELS:
        assert errors_of(base(log_level=level)) == []
    assert errors_of(base(outbox=0)) == ["outbox: must be an integer > 0, not 0"]
    assert errors_of(base(outbox=True)) == ["outbox: must be an integer > 0, not true"]
    assert warnings_of(base(outbox=5000)) == [
        "outbox: 5000 readings may not fit in the board's heap; 200 to 1000 is safe"
    ]


def test_unknown_keys_are_warned_and_kept():
    out, errors, warnings = config.check(base(loglevel="debug"), board())
    assert errors == [] and out["loglevel"] == "debug"
    assert warnings == [
        "loglevel: unknown key, ignored; check its spelling (known: device_id, token, server, wifi, board, "
        "relays, sensors, intervals, outbox, log_level)"
    ]
    w = warnings_of(base(relays=[relay(26, active_lo=True)]))
    assert w[0].startswith("relays[0].active_lo: unknown key, ignored; check its spelling (known: name, pin,")


# ---- Wi-Fi


def test_wifi_is_a_non_empty_list_of_networks_in_priority_order():
    assert errors_of(base(wifi=[])) == [
        'wifi: empty; list the networks to join in priority order: [{"ssid": "...", "password": "..."}]'
    ]
    assert errors_of(base(wifi={"ssid": "x"})) == ['wifi: must be a list [...], not {"ssid": "x"}']
    assert errors_of(base(wifi=["greenhouse"])) == ['wifi[0]: must be an object {...}, not "greenhouse"']
    assert errors_of(base(wifi=[{"password": "tomatoes42"}])) == [
        "wifi[0].ssid: missing; set it to a non-empty string"
    ]
    assert errors_of(base(wifi=[{"ssid": "x" * 33, "password": ""}])) == [
        "wifi[0].ssid: longer than 32 bytes; Wi-Fi network names have at most 32"
    ]
    nets = [{"ssid": "cafe", "password": ""}, {"ssid": "home", "password": "a" * 64}]
    out, errors, warnings = config.check(base(wifi=nets), board())
    assert (errors, warnings) == ([], []) and out["wifi"] == nets  # order kept
    w = warnings_of(base(wifi=[{"ssid": "a", "password": ""}, {"ssid": "a", "password": ""}]))
    assert w == ['wifi[1].ssid: "a" is already listed as wifi[0]; remove one']


# ---- pins


def test_a_relay_on_an_input_only_pin_is_an_error_naming_good_pins():
    cfg = base(relays=[relay(4), relay(35)])
    assert errors_of(cfg) == [
        "relays[1].pin: GPIO 35 is input-only on the ESP32; "
        "use an output-capable pin such as 25, 26, 27, 32 or 33"
    ]


def test_suggested_pins_leave_out_those_already_in_use():
    cfg = base(relays=[relay(25), relay(26), relay(36)])
    assert errors_of(cfg)[0].endswith("use an output-capable pin such as 27, 32 or 33")


def test_pins_that_do_not_exist_or_belong_to_the_flash_or_the_console_are_errors():
    assert errors_of(base(relays=[relay(24)])) == [
        "relays[0].pin: GPIO 24 does not exist on the ESP32; "
        "use an output-capable pin such as 25, 26, 27, 32 or 33"
    ]
    assert errors_of(base(relays=[relay(6)])) == [
        "relays[0].pin: GPIO 6 is wired to the flash chip on the ESP32 (using it crashes the board); "
        "use an output-capable pin such as 25, 26, 27, 32 or 33"
    ]
    assert errors_of(base(relays=[relay(1)])) == [
        "relays[0].pin: GPIO 1 is UART0 TX (the serial console) on the ESP32; "
        "use an output-capable pin such as 25, 26, 27, 32 or 33"
    ]
    assert errors_of(base(sensors=[sensor("dht22", pin=9)]))[0].startswith(
        "sensors[0].pin: GPIO 9 is wired to the flash chip on the ESP32"
    )


def test_pins_must_be_integers():
    for bad in ("26", 26.0, True, None, [26]):
        errors = errors_of(base(relays=[{"name": "r", "pin": bad}]))
        assert errors == ["relays[0].pin: must be a GPIO number such as 26, not %s" % json.dumps(bad)], bad


def test_dht_1wire_and_i2c_need_pins_that_can_drive_the_line():
    assert errors_of(base(sensors=[sensor("dht11", pin=34)])) == [
        "sensors[0].pin: GPIO 34 is input-only on the ESP32; "
        "use an output-capable pin such as 25, 26, 27, 32 or 33"
    ]
    assert errors_of(base(sensors=[sensor("ds18b20", pin=39)]))[0].startswith(
        "sensors[0].pin: GPIO 39 is input-only on the ESP32"
    )
    assert errors_of(base(sensors=[sensor("bme280", sda=36, scl=22)]))[0].startswith(
        "sensors[0].sda: GPIO 36 is input-only on the ESP32"
    )


def test_analog_sensors_belong_on_adc1_since_adc2_is_taken_by_wifi():
    assert errors_of(base(sensors=[sensor("analog", pin=26)])) == [
        "sensors[0].pin: GPIO 26 is on ADC2 of the ESP32, which cannot be read while Wi-Fi is on; "
        "use an ADC1 pin such as 32, 33, 34, 35 or 36"
    ]
    assert errors_of(base(sensors=[sensor("analog", pin=18)])) == [
        "sensors[0].pin: GPIO 18 has no ADC on the ESP32; use an ADC1 pin such as 32, 33, 34, 35 or 36"
    ]
    assert errors_of(base(sensors=[sensor("analog", pin=34)])) == []  # input-only is fine for analog
    assert errors_of(base(sensors=[sensor("analog", pin=5)]), "esp32-c3-devkitm")[0].startswith(
        "sensors[0].pin: GPIO 5 is on ADC2 of the ESP32-C3"
    )


def test_a_relay_on_a_strapping_pin_is_a_warning_only():
    for pin in (0, 2, 5, 12, 15):
        out, errors, warnings = config.check(base(relays=[relay(pin)]), board())
        assert errors == []
        assert warnings[0] == (
            "relays[0].pin: GPIO %d is a strapping pin of the ESP32: the relay may click at power-up; "
            "prefer 25, 26, 27, 32 or 33" % pin
        )
    assert warnings_of(base(sensors=[sensor("dht22", pin=5)])) == []  # sensors do not click


def test_a_device_on_the_leds_pin_is_a_warning():
    assert warnings_of(base(relays=[relay(23)]), "esp32-c3-devkitm") == []
    assert (
        "relays[0].pin: GPIO 2 also drives the board's LED; the LED will follow this device"
        in warnings_of(base(relays=[relay(2)]))
    )


def test_each_pin_serves_one_device_except_shared_buses():
    cfg = base(relays=[relay(26)], sensors=[sensor("dht22", pin=26)])
    assert errors_of(cfg) == [
        "sensors[0].pin: GPIO 26 is already used by relays[0].pin; give each device its own pin"
    ]
    cfg = base(relays=[relay(4, name="a"), relay(4, name="b")])
    assert errors_of(cfg) == [
        "relays[1].pin: GPIO 4 is already used by relays[0].pin; give each device its own pin"
    ]
    # several DS18B20 on one 1-Wire pin, several BME280 on one I2C bus
    cfg = base(
        sensors=[
            sensor("ds18b20", name="a", pin=13),
            sensor("ds18b20", name="b", pin=13),
            sensor("bme280", name="c"),
            sensor("bme280", name="d", address=0x77),
        ]
    )
    assert errors_of(cfg) == []
    cfg = base(sensors=[sensor("ds18b20", name="a", pin=13), sensor("dht22", name="b", pin=13)])
    assert errors_of(cfg) == [
        "sensors[1].pin: GPIO 13 is already used by sensors[0].pin; give each device its own pin"
    ]
    cfg = base(relays=[relay(19)], sensors=[sensor("bme280")])  # the bus's default SDA is taken
    assert errors_of(cfg) == [
        "sensors[0].sda: GPIO 19 is already used by relays[0].pin; give each device its own pin"
    ]


def test_names_are_unique_per_list():
    cfg = base(relays=[relay(25, name="pump"), relay(26, name="pump")])
    assert errors_of(cfg) == [
        'relays[1].name: "pump" is already the name of relays[0]; give each one its own name'
    ]
    cfg = base(sensors=[sensor("chip_temperature", name="t"), sensor("dht22", name="t", pin=4)])
    assert errors_of(cfg) == [
        'sensors[1].name: "t" is already the name of sensors[0]; give each one its own name'
    ]
    cfg = base(relays=[relay(25, name="pump")], sensors=[sensor("dht22", name="pump", pin=4)])
    assert errors_of(cfg) == []  # relays and sensors are addressed separately


def test_without_a_board_only_the_shapes_are_checked():
    out, errors, warnings = config.check(base(relays=[relay(6)]), {})
    assert (errors, warnings) == ([], [])
    assert config.check(base(relays=[relay(6)]), None)[1] == []


# ---- relays


def test_relay_fields_and_their_messages():
    cases = (
        ({"active_low": "yes"}, 'relays[0].active_low: must be true or false, not "yes"'),
        ({"active_low": 1}, "relays[0].active_low: must be true or false, not 1"),
        ({"boot": "maybe"}, 'relays[0].boot: must be one of "off", "on" or "restore", not "maybe"'),
        ({"max_on_s": -1}, "relays[0].max_on_s: must be a number >= 0, not -1"),
        ({"max_on_s": "1h"}, 'relays[0].max_on_s: must be a number >= 0, not "1h"'),
        ({"interlock": ""}, 'relays[0].interlock: must be a non-empty string, not ""'),
        ({"dead_time_ms": 0.5}, "relays[0].dead_time_ms: must be an integer >= 0, not 0.5"),
        ({"dead_time_ms": -5}, "relays[0].dead_time_ms: must be an integer >= 0, not -5"),
        (
            {"on_link_loss": "release"},
            'relays[0].on_link_loss: must be one of "hold", "off" or "on", not "release"',
        ),
        ({"name": ""}, 'relays[0].name: must be a non-empty string, not ""'),
    )
    for fields, message in cases:
        assert errors_of(base(relays=[relay(26, **fields)])) == [message], fields
    assert errors_of(base(relays=[{"pin": 26}])) == ["relays[0].name: missing; set it to a non-empty string"]
    assert errors_of(base(relays=[{"name": "x"}])) == [
        "relays[0].pin: missing; set it to a GPIO number such as 26"
    ]
    assert errors_of(base(relays=["heater"])) == ['relays[0]: must be an object {...}, not "heater"']
    good = relay(26, active_low=True, boot="restore", max_on_s=1.5, dead_time_ms=0, on_link_loss="hold")
    assert errors_of(base(relays=[good])) == []
    for boot in ("off", "on", "restore"):
        assert errors_of(base(relays=[relay(26, boot=boot)])) == []


def test_an_interlock_group_of_one_relay_is_a_warning():
    cfg = base(
        relays=[relay(25, interlock="valves"), relay(26, interlock="valves"), relay(27, interlock="door")]
    )
    out, errors, warnings = config.check(cfg, board())
    assert errors == []
    assert warnings == [
        'relays[2].interlock: "door" has no other relay; give the relays that must never be on together '
        'the same "interlock"'
    ]
    assert "interlock" not in config.check(base(relays=[relay(25)]), board())[0]["relays"][0]


# ---- sensors


def test_sensor_kinds_and_their_pins():
    assert errors_of(base(sensors=[sensor("dht21", pin=4)])) == [
        'sensors[0].kind: must be one of "chip_temperature", "analog", "dht11", "dht22", "ds18b20" or '
        '"bme280", not "dht21"'
    ]
    assert errors_of(base(sensors=[{"name": "x"}])) == [
        'sensors[0].kind: missing; set it to one of "chip_temperature", "analog", "dht11", "dht22", '
        '"ds18b20" or "bme280"'
    ]
    for kind in ("analog", "dht11", "dht22", "ds18b20"):
        assert errors_of(base(sensors=[sensor(kind)])) == [
            "sensors[0].pin: missing; set it to the GPIO number the %s is wired to" % kind
        ]
    out, errors, warnings = config.check(base(sensors=[sensor("chip_temperature", pin=4)]), board())
    assert errors == [] and warnings == ["sensors[0].pin: ignored; the temperature sensor is inside the chip"]


def test_sensor_interval_filters_and_analog_settings():
    assert errors_of(base(sensors=[sensor("chip_temperature", interval=0)])) == [
        "sensors[0].interval: must be a number > 0, not 0"
    ]
    assert errors_of(base(sensors=[sensor("chip_temperature", filters={"median": 3})])) == [
        'sensors[0].filters: must be a list [...], not {"median": 3}'
    ]
    assert errors_of(base(sensors=[sensor("analog", pin=34, atten=3)])) == [
        "sensors[0].atten: must be one of 0, 2.5, 6 or 11, not 3"
    ]
    for cal in ([[2200, 0]], [[2200, 0], [2200, 100]], [[2200, 0], ["900", 100]], "linear"):
        assert errors_of(base(sensors=[sensor("analog", pin=34, calibration=cal)])) == [
            "sensors[0].calibration: must be two [millivolts, value] points such as [[2200, 0], [900, 100]], "
            "not %s" % json.dumps(cal)
        ], cal
    good = sensor("analog", pin=34, atten=2.5, calibration=[[100, 0.5], [900, 100]], quantity="q", unit="u")
    assert errors_of(base(sensors=[good])) == []
    assert errors_of(base(sensors=[sensor("ds18b20", pin=13, roms=["28ff"])])) == [
        'sensors[0].roms: must be an object {...}, not ["28ff"]'
    ]


def test_bme280_takes_the_boards_i2c_pins_and_checks_bus_and_address():
    out = config.check(base(sensors=[sensor("bme280")]), board())[0]
    assert out["sensors"][0] == {
        "name": "bme280",
        "kind": "bme280",
        "interval": 10,
        "filters": [],
        "bus": 0,
        "address": 0x76,
        "scl": 18,
        "sda": 19,
    }
    out = config.check(base(sensors=[sensor("bme280", bus=1)]), board())[0]
    assert (out["sensors"][0]["scl"], out["sensors"][0]["sda"]) == (25, 26)
    out = config.check(base(sensors=[sensor("bme280")]), board("esp32-s3-devkitc"))[0]
    assert (out["sensors"][0]["scl"], out["sensors"][0]["sda"]) == (9, 8)
    out = config.check(base(sensors=[sensor("bme280", sda=21, scl=22)]), board())[0]
    assert (out["sensors"][0]["scl"], out["sensors"][0]["sda"]) == (22, 21)
    assert errors_of(base(sensors=[sensor("bme280", bus=1)]), "esp32-c3-devkitm") == [
        "sensors[0].bus: the ESP32-C3 has no I2C bus 1; use 0"
    ]
    assert errors_of(base(sensors=[sensor("bme280", bus=2)])) == [
        "sensors[0].bus: the ESP32 has no I2C bus 2; use 0 or 1"
    ]
    assert errors_of(base(sensors=[sensor("bme280", address=0x40)])) == [
        "sensors[0].address: must be one of 118 or 119, not 64"
    ]
    assert errors_of(base(sensors=[sensor("bme280", sda=21, scl=21)])) == [
        "sensors[0].scl: the same GPIO as sda; wire SCL and SDA to two pins"
    ]
    cfg = base(sensors=[sensor("bme280", name="a"), sensor("bme280", name="b")])
    assert errors_of(cfg) == [
        "sensors[1].address: 118 is already used on I2C bus 0 by sensors[0]; set one sensor's address to 119 "
        "(its SDO pin)"
    ]


# ---- intervals


def test_intervals_are_positive_seconds_with_defaults():
    out, errors, warnings = config.check(base(intervals={"telemetry": 2.5, "keepalive": 30}), board())
    assert errors == [] and warnings == []
    assert out["intervals"] == {
        "telemetry": 2.5,
        "lease": 60,
        "link_loss_grace": 10,
        "keepalive": 30,
        "reconnect_max": 60,
    }
    assert errors_of(base(intervals={"lease": 0, "telemetry": "10s"})) == [
        'intervals.telemetry: must be a number > 0, not "10s"',
        "intervals.lease: must be a number > 0, not 0",
    ]
    assert warnings_of(base(intervals={"telemetri": 5})) == [
        "intervals.telemetri: unknown key, ignored; check its spelling (known: telemetry, lease, "
        "link_loss_grace, keepalive, reconnect_max)"
    ]


# ---- load() from the flash folder


class Folder:
    """A scratch folder made the current one (the board's flash root) until done()."""

    def __init__(self, files):
        self.back = os.getcwd()
        self.path = "/tmp/app-config-%s" % "".join("%02x" % b for b in os.urandom(6))
        os.mkdir(self.path)
        for name in files:
            with open(self.path + "/" + name, "wb") as f:
                data = files[name]
                f.write(data if isinstance(data, bytes) else json.dumps(data).encode())
        os.chdir(self.path)

    def done(self):
        os.chdir(self.back)
        for name in os.listdir(self.path):
            os.remove(self.path + "/" + name)
        os.rmdir(self.path)


def load_with(files):
    folder = Folder(files)
    try:
        return config.load()
    finally:
        folder.done()


def test_load_reads_both_files_and_fills_defaults():
    cfg, b, errors, warnings, digest = load_with({"config.json": docs_example(), "board.json": board("sim")})
    assert (errors, warnings) == ([], [])
    assert b == board("sim")
    assert cfg["device_id"] == "sim-0001" and cfg["relays"][2]["active_low"] is False
    assert len(digest) == 16 and int(digest, 16) >= 0


def test_the_hash_is_the_start_of_the_sha256_of_the_files_bytes():
    # sha256(b"{}") = 44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a
    assert load_with({"config.json": b"{}", "board.json": board()})[4] == "44136fa355b3678a"
    a = load_with({"config.json": base(), "board.json": board()})[4]
    b = load_with({"config.json": base(log_level="debug"), "board.json": board()})[4]
    assert a != b
    assert load_with({"config.json": b"not json", "board.json": board()})[4] is not None
    assert load_with({"board.json": board()})[4] is None
    folder = Folder({"config.json": b"{}"})
    try:
        assert config.file_hash("config.json") == "44136fa355b3678a"
        assert config.file_hash() == "44136fa355b3678a" and config.file_hash("nothing.json") is None
    finally:
        folder.done()


def test_load_reports_missing_files_without_raising():
    cfg, b, errors, warnings, digest = load_with({})
    assert (cfg, b, digest) == ({}, {}, None)  # callers can .get() without a check
    assert errors == [
        "board.json: missing; copy the board's file from boards/ (e.g. boards/esp32-devkitc.json)",
        "config.json: missing; write one as docs/config.md shows and copy it to the board",
    ]
    cfg, b, errors, warnings, digest = load_with({"config.json": base(relays=[relay(6)])})
    assert cfg["device_id"] == "sim-0001" and b == {}
    assert errors == [
        "board.json: missing; copy the board's file from boards/ (e.g. boards/esp32-devkitc.json)"
    ]


def test_load_reports_bad_json_and_bad_shapes_without_raising():
    cfg, b, errors, warnings, digest = load_with({"config.json": b'{"device_id": ', "board.json": board()})
    assert cfg == {} and b == board()
    assert len(errors) == 1 and errors[0].startswith("config.json: not valid JSON (")
    assert errors[0].endswith("); fix its syntax")
    cfg, b, errors, warnings, digest = load_with({"config.json": b"\xff\xfe{}", "board.json": board()})
    assert cfg == {} and errors[0].startswith("config.json: not valid JSON (")
    cfg, b, errors, warnings, digest = load_with({"config.json": [base()], "board.json": board()})
    assert cfg == {}
    assert errors == ["config.json: must be a JSON object {...}, not a list; see docs/config.md"]
    assert "s3cret" not in errors[0]
    cfg, b, errors, warnings, digest = load_with(
        {"config.json": base(), "board.json": {"name": "x", "gpios": "all"}}
    )
    assert b == {} and cfg["device_id"] == "sim-0001"
    assert errors == [
        'board.json: chip: must be a non-empty string such as "ESP32"',
        "board.json: gpios: must be a list of GPIO numbers such as [25, 26]",
    ]
    cfg, b, errors, warnings, digest = load_with({"config.json": base(), "board.json": b"{oops"})
    assert b == {} and errors[0].startswith("board.json: not valid JSON (")


def test_load_checks_against_the_boards_rules():
    cfg, b, errors, warnings, digest = load_with(
        {"config.json": base(relays=[relay(35)]), "board.json": board("esp32-devkitc")}
    )
    assert errors == [
        "relays[0].pin: GPIO 35 is input-only on the ESP32; "
        "use an output-capable pin such as 25, 26, 27, 32 or 33"
    ]


# ---- redaction


def test_redacted_hides_the_token_and_wifi_passwords_only():
    cfg = docs_example()
    before = json.dumps(cfg)
    r = config.redacted(cfg)
    assert r["token"] == "***"
    assert r["wifi"] == [
        {"ssid": "greenhouse", "password": "***"},
        {"ssid": "farm-office", "password": "***"},
    ]
    assert r["relays"] == cfg["relays"] and r["server"] == cfg["server"]
    assert json.dumps(cfg) == before  # the original keeps its secrets
    text = json.dumps(r)
    assert "tomatoes42" not in text and cfg["token"] not in text
    assert config.redacted({"device_id": "x"}) == {"device_id": "x"}
    assert config.redacted(None) is None


# ---- config.set


def test_apply_set_changes_the_safe_subset_and_leaves_the_input_alone():
    cfg = config.check(docs_example(), board("sim"))[0]
    before = json.dumps(cfg)
    new = config.apply_set(
        cfg,
        board("sim"),
        {
            "intervals.telemetry": 30,
            "log_level": "debug",
            "sensors.air.interval": 5,
            "sensors.air.filters": [{"average": 3}],
            "relays.pump.max_on_s": 900,
            "relays.grow light.on_link_loss": "off",
        },
    )
    assert json.dumps(cfg) == before
    assert new["intervals"]["telemetry"] == 30 and new["intervals"]["lease"] == 60
    assert new["log_level"] == "debug"
    air = [s for s in new["sensors"] if s["name"] == "air"][0]
    assert (air["interval"], air["filters"]) == (5, [{"average": 3}])
    relays = dict((r["name"], r) for r in new["relays"])
    assert relays["pump"]["max_on_s"] == 900 and relays["grow light"]["on_link_loss"] == "off"
    assert relays["heater"] == [r for r in cfg["relays"] if r["name"] == "heater"][0]


def test_apply_set_refuses_everything_else_naming_the_key():
    cfg = config.check(docs_example(), board("sim"))[0]
    for key, value in (
        ("token", "x"),
        ("server", "ws://evil/"),
        ("wifi", []),
        ("outbox", 10),
        ("relays.heater.pin", 25),
        ("relays.heater.active_low", False),
        ("relays.heater", {"max_on_s": 1}),
        ("sensors.air.kind", "dht11"),
        ("sensors.air.pin", 5),
        ("intervals.telemetri", 5),
        ("intervals", {"telemetry": 5}),
        ("intervals.telemetry.x", 5),
    ):
        e = raises(AppError, config.apply_set, cfg, board("sim"), {key: value})
        assert e.code == "bad_params", key
        assert e.message.startswith(
            "%s: cannot be changed at run time; config.set changes only log_level, " % key
        )
        assert e.message.endswith("(edit config.json for the rest)")


def test_apply_set_names_unknown_relays_and_sensors():
    cfg = config.check(docs_example(), board("sim"))[0]
    e = raises(AppError, config.apply_set, cfg, board("sim"), {"relays.boiler.max_on_s": 5})
    assert (e.code, e.message) == ("unknown_relay", 'relays.boiler.max_on_s: no relay is named "boiler"')
    e = raises(AppError, config.apply_set, cfg, board("sim"), {"sensors.roof.interval": 5})
    assert (e.code, e.message) == ("unknown_sensor", 'sensors.roof.interval: no sensor is named "roof"')


def test_apply_set_validates_the_new_values():
    cfg = config.check(docs_example(), board("sim"))[0]
    for changes, message in (
        ({"intervals.telemetry": 0}, "intervals.telemetry: must be a number > 0, not 0"),
        (
            {"log_level": "loud"},
            'log_level: must be one of "debug", "info", "warning" or "error", not "loud"',
        ),
        ({"relays.pump.max_on_s": -1}, "relays[1].max_on_s: must be a number >= 0, not -1"),
        (
            {"relays.fan.on_link_loss": "maybe"},
            'relays[3].on_link_loss: must be one of "hold", "off" or "on", not "maybe"',
        ),
        ({"sensors.air.interval": "5"}, 'sensors[0].interval: must be a number > 0, not "5"'),
        ({"sensors.air.filters": {}}, "sensors[0].filters: must be a list [...], not {}"),
    ):
        e = raises(AppError, config.apply_set, cfg, board("sim"), changes)
        assert (e.code, e.message) == ("bad_params", message)
    for changes in ({}, [("log_level", "info")], None):
        e = raises(AppError, config.apply_set, cfg, board("sim"), changes)
        assert e.code == "bad_params" and e.message.startswith("changes: must be a non-empty object")
