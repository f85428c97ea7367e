"""Checks world specs and scenario steps on the host, so that the board's world can trust them.

simulator/fakes/simworld.py runs in the board's heap and reads its JSON without checking it;
every file goes through check_file() (or check_spec/check_steps) first, which answers bad input
with a SpecError naming the place and the reason ("sensor 2 (room): needs an integer pin").
The format is documented in docs/scenarios.md.
"""

import importlib.util
import json
import os
import sys

FAKES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fakes")


def _fake(name):
    # Load a portable fake module by path: putting fakes/ on sys.path would shadow host modules.
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, os.path.join(FAKES, name + ".py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


for _name in ("simboard", "simchip", "simonewire", "i2c_devices"):
    _fake(_name)
simworld = _fake("simworld")

SPEC_KEYS = ("name", "description", "seed", "time", "environment", "quantities", "sensors", "loads")
SPEC_KEYS += ("access_points", "wifi_connect_ms")
TIME_KEYS = ("scale", "start", "date", "ntp", "step_s", "trace_every_s")
COMMON_SENSOR_KEYS = ("kind", "name", "quantity", "noise", "offset", "missing", "crc", "faults")
SENSOR_KEYS = {
    "dht11": ("pin",),
    "dht22": ("pin",),
    "ds18b20": ("pin", "serial"),
    "ds1822": ("pin", "serial"),
    "ds18s20": ("pin", "serial"),
    "bme280": ("bus", "address"),
    "soil_moisture": ("pin", "map"),
    "light": ("pin", "map"),
    "analog": ("pin", "map"),
    "digital": ("pin", "above", "invert"),
    "chip_temperature": (),
}
GPIOS = tuple(p for p in tuple(range(24)) + (25, 26, 27) + tuple(range(32, 40)) if not 6 <= p <= 11)
ADC_PINS = (32, 33, 34, 35, 36, 37, 38, 39, 0, 2, 4, 12, 13, 14, 15, 25, 26, 27)
AP_KEYS = ("ssid", "password", "rssi", "channel", "bssid", "hidden", "jitter")
WORLD_STEPS = ("set", "hold", "trace", "fault")
STEP_EXTRA_KEYS = ("at", "note")  # any step; an expect step also has within, by, never
EXPECT_EXTRA_KEYS = ("within", "by", "never")


class SpecError(ValueError):
    """A bad world spec or scenario step; the message says where and why."""


def _num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _check(ok, where, msg):
    if not ok:
        raise SpecError("%s: %s" % (where, msg))


def _keys(d, allowed, where):
    _check(isinstance(d, dict), where, "must be an object")
    for k in d:
        _check(k in allowed, where, "unknown key %r (expected one of %s)" % (k, ", ".join(allowed)))


def _list(spec, key):
    v = spec.get(key, [])
    _check(isinstance(v, list), "world " + key, "must be a list")
    return v


def check_spec(spec):
    """Raise SpecError unless spec is a world spec simworld.World can run; returns the quantities."""
    _keys(spec, SPEC_KEYS, "world")
    _check(spec.get("seed") is None or _int(spec["seed"]), "world", "seed must be an integer")
    _check_time(spec.get("time", {}))
    env = spec.get("environment", {})
    _keys(env, simworld.QUANTITIES, "world environment")
    for q, given in env.items():
        allowed = tuple(simworld.ENVIRONMENT[q]) + (("initial",) if q == "temperature" else ())
        _keys(given, allowed, "world environment " + q)
        for k, v in given.items():
            _check(_num(v), "world environment " + q, "%s must be a number" % k)
    _check(
        env.get("temperature", {}).get("tau_s", 1) > 0, "world environment temperature", "tau_s must be > 0"
    )
    quantities = list(simworld.QUANTITIES)
    custom = spec.get("quantities", {})
    _check(isinstance(custom, dict), "world quantities", "must be an object of name: initial value")
    for q, v in custom.items():
        _check(q not in quantities, "world quantities", "%r is built in" % q)
        _check(_num(v), "world quantities", "%r must have a number as its initial value" % q)
        quantities.append(q)
    sensors = _list(spec, "sensors")
    names = [_check_sensor(i, d, quantities) for i, d in enumerate(sensors)]
    _unique(names, "sensor")
    chips = [d for d in sensors if d["kind"] == "chip_temperature"]
    _check(len(chips) < 2, "world sensors", "a board has one chip_temperature sensor")
    names = [_check_load(i, d, quantities) for i, d in enumerate(_list(spec, "loads"))]
    _unique(names, "load")
    ssids = [_check_ap(i, d) for i, d in enumerate(_list(spec, "access_points"))]
    _unique(ssids, "access point")
    ms = spec.get("wifi_connect_ms", 0)
    _check(_num(ms) and ms >= 0, "world", "wifi_connect_ms must be a number >= 0")
    return quantities


def _check_time(tm):
    where = "world time"
    _keys(tm, TIME_KEYS, where)
    for k in ("scale", "step_s", "trace_every_s"):
        _check(_num(tm.get(k, 1)) and tm.get(k, 1) > 0, where, "%s must be a number > 0" % k)
    start = tm.get("start", "08:00")
    if not _num(start):
        parts = start.split(":") if isinstance(start, str) else ()
        ok = 2 <= len(parts) <= 3 and all(p.isdigit() for p in parts)
        _check(
            ok and int(parts[0]) < 24 and all(int(p) < 60 for p in parts[1:]),
            where,
            "start must be HH:MM[:SS]",
        )
    date = tm.get("date", "2024-06-21")
    parts = date.split("-") if isinstance(date, str) else ()
    ok = len(parts) == 3 and all(p.isdigit() for p in parts)
    _check(ok and 1 <= int(parts[1]) <= 12 and 1 <= int(parts[2]) <= 31, where, "date must be YYYY-MM-DD")
    _check(isinstance(tm.get("ntp", True), bool), where, "ntp must be true or false")


def _check_sensor(i, d, quantities):
    where = "sensor %d" % (i + 1)
    _check(isinstance(d, dict), where, "must be an object")
    kind = d.get("kind")
    _check(kind in simworld.SENSORS, where, "kind must be one of %s" % ", ".join(simworld.SENSORS))
    name = d.get("name", "%s%d" % (kind, i + 1))
    _check(isinstance(name, str) and name, where, "name must be a string")
    where += " (%s)" % name
    _keys(d, SENSOR_KEYS[kind] + COMMON_SENSOR_KEYS, where)
    if kind in ("analog", "digital"):
        _check("quantity" in d, where, "needs the quantity it measures")
    q = d.get("quantity", simworld.SENSORS[kind][0])
    _check(q in quantities, where, "unknown quantity %r (known: %s)" % (q, ", ".join(quantities)))
    for k in ("noise", "offset"):
        _check(_num(d.get(k, 0)), where, "%s must be a number" % k)
    _check(isinstance(d.get("missing", False), bool), where, "missing must be true or false")
    _check(_probability(d.get("crc", 0)), where, "crc must be a probability from 0 to 1")
    faults = d.get("faults", [])
    _check(isinstance(faults, list), where, "faults must be a list of {from, to, missing | crc}")
    for w in faults:
        _keys(w, ("from", "to", "missing", "crc"), where + " fault window")
        _check(_num(w.get("from")) and _num(w.get("to")), where, "a fault window needs from and to (seconds)")
        _check(w["from"] < w["to"], where, "a fault window must end after it starts")
        _check("missing" in w or "crc" in w, where, "a fault window needs missing or crc")
        _check(_probability(w.get("crc", 0)), where, "crc must be a probability from 0 to 1")
    if kind in ("chip_temperature", "bme280"):
        _check("pin" not in d, where, "a %s has no pin" % kind)
    else:
        _check(_int(d.get("pin")), where, "needs an integer pin (a GPIO number)")
        _check(d["pin"] in GPIOS, where, _bad_gpio(d["pin"]))
    if kind in simworld.ANALOG:
        _check(d["pin"] in ADC_PINS, where, "GPIO %d has no ADC (ADC1: 32-39)" % d["pin"])
        m = d.get("map", simworld.SENSORS[kind][1])
        _check(m is not None, where, "an analog sensor needs map [[value, mV], [value, mV]]")
        ok = isinstance(m, (list, tuple)) and len(m) == 2
        ok = ok and all(isinstance(p, (list, tuple)) and len(p) == 2 and _num(p[0]) and _num(p[1]) for p in m)
        _check(ok and m[0][0] != m[1][0], where, "map must be [[value, mV], [value, mV]] with two values")
    if kind == "digital":
        _check(_num(d.get("above")), where, "a digital sensor needs above, the value where it reads 1")
        _check(isinstance(d.get("invert", False), bool), where, "invert must be true or false")
    if kind in simworld.FAMILIES:
        serial = d.get("serial", i + 1)
        _check(_int(serial) and 0 < serial < 1 << 48, where, "serial must be an integer from 1 to 2**48-1")
    if kind == "bme280":
        bus = d.get("bus", 0)
        ok = bus in (0, 1) or (isinstance(bus, list) and len(bus) == 2 and all(_int(p) for p in bus))
        _check(ok and not isinstance(bus, bool), where, "bus must be 0, 1 or [scl, sda] (a SoftI2C)")
        addr = d.get("address", 0x76)
        _check(_int(addr) and 0x08 <= addr < 0x78, where, "address must be an I2C address 8-119 (0x76: 118)")
    return name


def _bad_gpio(pin):
    if 6 <= pin <= 11:
        return "GPIO %d is wired to the flash chip: never use 6-11" % pin
    return "GPIO %d does not exist on an ESP32" % pin


def _probability(p):
    return _num(p) and 0 <= p <= 1


def _check_load(i, d, quantities):
    where = "load %d" % (i + 1)
    _check(isinstance(d, dict), where, "must be an object")
    kind = d.get("kind", "generic")
    _check(kind in simworld.LOADS, where, "kind must be one of %s" % ", ".join(simworld.LOADS))
    name = d.get("name", "%s%d" % (kind, i + 1))
    _check(isinstance(name, str) and name, where, "name must be a string")
    where += " (%s)" % name
    param, _, quantity = simworld.LOADS[kind]
    allowed = ("name", "kind", "pin", "active_low", param) + (
        ("quantity",) if kind in ("pump", "generic") else ()
    )
    _keys(d, allowed, where)
    _check(_int(d.get("pin")), where, "needs an output pin (a GPIO number)")
    _check(d["pin"] in GPIOS, where, _bad_gpio(d["pin"]))
    _check(d["pin"] < 34, where, "GPIO %d is input-only: it cannot drive a relay" % d["pin"])
    _check(isinstance(d.get("active_low", False), bool), where, "active_low must be true or false")
    _check(_num(d.get(param, 0)), where, "%s must be a number" % param)
    q = d.get("quantity", quantity)
    _check(
        q is None or q in quantities, where, "unknown quantity %r (known: %s)" % (q, ", ".join(quantities))
    )
    return name


def _check_ap(i, d):
    where = "access point %d" % (i + 1)
    _keys(d, AP_KEYS, where)
    _check(
        isinstance(d.get("ssid"), str) and 0 < len(d["ssid"]) <= 32, where, "needs an ssid of 1-32 characters"
    )
    _check(isinstance(d.get("password", ""), str), where, "password must be a string")
    pw = d.get("password", "")
    _check(pw == "" or 8 <= len(pw) <= 63, where, "a WPA2 password has 8-63 characters")
    _check(
        _int(d.get("rssi", -55)) and -100 <= d.get("rssi", -55) <= 0, where, "rssi must be dBm from -100 to 0"
    )
    _check(_int(d.get("channel", 1)) and 1 <= d.get("channel", 1) <= 14, where, "channel must be 1-14")
    _check(_num(d.get("jitter", 2)) and d.get("jitter", 2) >= 0, where, "jitter must be dB >= 0")
    _check(isinstance(d.get("hidden", False), bool), where, "hidden must be true or false")
    bssid = d.get("bssid", "24:0a:c4:00:00:01")
    parts = bssid.split(":") if isinstance(bssid, str) else ()
    ok = len(parts) == 6 and all(len(p) == 2 and all(c in "0123456789abcdefABCDEF" for c in p) for p in parts)
    _check(ok, where, "bssid must be six hex bytes like 24:0a:c4:00:00:01")
    return d["ssid"]


def _unique(names, what):
    for i, n in enumerate(names):
        _check(n not in names[:i], "world", "two %ss named %r" % (what, n))


def check_steps(steps, spec, expect=None):
    """Raise SpecError unless the steps are well formed and name only what spec has.

    expect(where, step) checks an expect step's body (the scenario runner's business); without
    it expect steps are accepted as they are. Returns simworld.timeline(steps).
    """
    quantities = check_spec(spec)
    _check(isinstance(steps, list), "steps", "must be a list")
    sensors = [d.get("name", "%s%d" % (d["kind"], i + 1)) for i, d in enumerate(spec.get("sensors", []))]
    ssids = [d["ssid"] for d in spec.get("access_points", [])]
    for i, step in enumerate(steps):
        where = "step %d" % (i + 1)
        _check(isinstance(step, dict), where, 'must be an object such as {"wait": 5}')
        kinds = [k for k in step if k in simworld.STEP_KINDS]
        others = [k for k in step if k not in simworld.STEP_KINDS + STEP_EXTRA_KEYS + EXPECT_EXTRA_KEYS]
        if len(kinds) != 1:
            if kinds:
                what = "more than one step kind (%s)" % ", ".join(kinds)
            else:
                what = "unknown step kind %r" % others[0] if others else "no step kind"
            raise SpecError("%s: %s; a step is one of %s" % (where, what, ", ".join(simworld.STEP_KINDS)))
        kind = kinds[0]
        where += " (%s)" % kind
        extra = EXPECT_EXTRA_KEYS if kind == "expect" else ()
        for k in step:
            _check(k in (kind,) + STEP_EXTRA_KEYS + extra, where, "unknown key %r" % k)
        if "at" in step:
            _check(_num(step["at"]) and step["at"] >= 0, where, "at must be seconds >= 0")
        body = step[kind]
        if kind == "wait":
            _check(_num(body) and body >= 0, where, "wait must be seconds >= 0")
        elif kind == "fault":
            _check_fault(where, body, sensors, ssids)
        elif kind == "expect":
            if expect is not None:
                expect(where, step)
        else:
            _check(isinstance(body, dict) and body, where, "needs an object {quantity: value}")
            for q, v in body.items():
                _check(q in quantities, where, "unknown quantity %r (known: %s)" % (q, ", ".join(quantities)))
                if kind == "trace":
                    ok = isinstance(v, list) and len(v) > 0
                    ok = ok and all(
                        isinstance(p, list) and len(p) == 2 and _num(p[0]) and _num(p[1]) for p in v
                    )
                    ok = ok and all(v[j][0] < v[j + 1][0] for j in range(len(v) - 1))
                    _check(ok, where, "%s must be [[seconds, value], ...] with rising seconds" % q)
                else:
                    _check(v is None or _num(v), where, "%s must be a number or null" % q)
    return simworld.timeline(steps)


def _check_fault(where, f, sensors, ssids):
    _check(isinstance(f, dict), where, "needs an object: {sensor, missing | crc}, {wifi, ssid, dbm} or {ntp}")
    if "sensor" in f:
        _keys(f, ("sensor", "missing", "crc"), where)
        _check(
            f["sensor"] in sensors,
            where,
            "no sensor named %r (known: %s)" % (f["sensor"], ", ".join(sensors)),
        )
        _check("missing" in f or "crc" in f, where, "a sensor fault needs missing or crc")
        _check(isinstance(f.get("missing", False), bool), where, "missing must be true or false")
        _check(_probability(f.get("crc", 0)), where, "crc must be a probability from 0 to 1")
    elif "wifi" in f:
        _keys(f, ("wifi", "ssid", "dbm"), where)
        _check(f["wifi"] in ("drop", "restore", "rssi"), where, "wifi must be drop, restore or rssi")
        ssid = f.get("ssid")
        _check(
            ssid is None or ssid in ssids, where, "no access point %r (known: %s)" % (ssid, ", ".join(ssids))
        )
        if f["wifi"] == "rssi":
            _check(ssid is not None, where, "an rssi fault needs the ssid")
            _check(
                f.get("dbm") is None or _num(f["dbm"]),
                where,
                "dbm must be a number (or null: back to normal)",
            )
    elif "ntp" in f:
        _keys(f, ("ntp",), where)
        _check(f["ntp"] in ("down", "up"), where, "ntp must be down or up")
    else:
        raise SpecError("%s: a fault names a sensor, wifi or ntp" % where)


def read_json(path, what):
    """The JSON value in a file; SpecError when it cannot be read or is not JSON."""
    try:
        with open(path) as f:
            return json.load(f)
    except OSError as e:
        raise SpecError("%s %s cannot be read: %s" % (what, path, e.strerror or e))
    except ValueError as e:
        raise SpecError("%s %s is not valid JSON: %s" % (what, path, e))


def check_file(path, expect=None):
    """Check a SIM_WORLD file (a world spec, or a scenario with "world" and "steps") as
    simworld.read() will read it; returns (seed or None, spec, steps or None)."""
    d = read_json(path, "world file")
    _check(isinstance(d, dict), path, "must be a JSON object")
    spec, steps, where = d, None, path
    if "world" in d or "steps" in d:
        spec = d.get("world", {})
        if isinstance(spec, str):
            where = os.path.join(os.path.dirname(os.path.abspath(path)), spec)
            spec = read_json(where, "world spec")
        _check(isinstance(spec, dict), where, "world must be an object or the name of a world spec file")
        _check(d.get("seed") is None or _int(d["seed"]), path, "seed must be an integer")
        steps = d.get("steps", [])
    try:
        check_spec(spec)
    except SpecError as e:
        raise SpecError("%s: %s" % (where, e))
    if steps is None:
        return d.get("seed"), d, None
    try:
        check_steps(steps, spec, expect)
    except SpecError as e:
        raise SpecError("%s: %s" % (path, e))
    seed = d.get("seed")
    return (spec.get("seed") if seed is None else seed), spec, steps
