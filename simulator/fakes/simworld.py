"""The simulated world a board senses and drives: sensors, loads on relays, Wi-Fi, time and faults.

World(seed, spec) implements every simboard.QuietWorld hook from a spec (a dict, usually JSON;
format in docs/scenarios.md): what is wired to which pin, the climate, the access points, the
clock. Signals are deterministic from the seed and the simulated time (a counter-based hash, no
random module): a room temperature with a daily cycle that heaters and fans act on (first-order
thermal model), humidity against it, slowly drifting pressure, daylight plus lamps, soil that
dries and that pumps wet. Faults are data: a sensor can be missing or fail its CRC with a
probability, also in time windows. Scenario steps (set, hold, trace, fault) are applied as the
world's clock passes their time. No threads: the world catches up whenever a fake asks it.

Frugal, as it shares the board's heap: specs are trusted here; the host checks them first with
simulator/worldspec.py (clear messages for bad files). Portable: CPython and MicroPython.
"""

import json
import math

import simboard
import simchip

_M32 = 0xFFFFFFFF
_DAY = 86400
QUANTITIES = ("temperature", "humidity", "pressure", "light", "soil_moisture")
_MODELLED = ("humidity", "pressure", "light")  # computed from time: set() holds them
_NOISE = {"temperature": 0.1, "humidity": 0.5, "pressure": 4.0, "light": 15.0, "soil_moisture": 0.4}
# Climate defaults; spec["environment"] overrides any of them.
ENVIRONMENT = {
    "temperature": {"mean": 18.0, "swing": 4.0, "peak_hour": 15.0, "tau_s": 1800.0, "weather": 0.5},
    "humidity": {"mean": 55.0, "per_degree": -2.5, "weather": 3.0},
    "pressure": {"mean": 101325.0, "drift": 600.0},
    "light": {"peak": 20000.0, "sunrise": 6.0, "sunset": 20.0, "clouds": 0.3},
    "soil_moisture": {"initial": 60.0, "drying_per_hour": 2.0},
}
# Sensor kind -> (quantity measured unless "quantity" says otherwise, default ADC map [[value, mV]] x2)
SENSORS = {
    "dht11": ("temperature", None),
    "dht22": ("temperature", None),
    "ds18b20": ("temperature", None),
    "ds1822": ("temperature", None),
    "ds18s20": ("temperature", None),
    "bme280": ("temperature", None),
    "soil_moisture": ("soil_moisture", ((0, 2200), (100, 900))),  # capacitive probe, dry to wet
    "light": ("light", ((0, 30), (20000, 2300))),  # photoresistor divider
    "analog": (None, None),
    "digital": (None, None),
    "chip_temperature": ("temperature", None),
}
FAMILIES = {"ds18b20": 0x28, "ds1822": 0x22, "ds18s20": 0x10}
ANALOG = ("soil_moisture", "light", "analog")
# Load kind -> (effect parameter, its default, the quantity it acts on)
LOADS = {
    "heater": ("gain", 12.0, "temperature"),  # degrees C added to the room's target at full power
    "fan": ("gain", 3.0, "temperature"),  # degrees C taken off the target (and 10 %RH)
    "pump": ("rate", 0.5, "soil_moisture"),  # units per simulated second
    "light": ("lux", 5000.0, "light"),
    "generic": ("rate", 0.0, None),  # acts on "quantity" at "rate" per second, if given
}
STEP_KINDS = ("set", "hold", "trace", "fault", "expect", "wait")
CHIP_ABOVE_ROOM = 22.0  # the die runs this much warmer than the room (4 C more with Wi-Fi on)


# ---- deterministic noise: a counter-based hash, so a value depends only on (seed, stream, n)


def hash32(seed, stream, n):
    """32 well-mixed bits from three integers, the same on both runtimes (small-int arithmetic)."""
    x = ((seed & _M32) * 0x2545 ^ (stream & 0xFFFF) * 0x9E3779B ^ (n & _M32) * 0x6C8E9CF) & _M32
    x ^= x >> 16
    x = (x * 0x2C1B3C6D) & _M32
    x ^= x >> 12
    x = (x * 0x297A2D39) & _M32
    return x ^ (x >> 15)


def unit(seed, stream, n):
    """A number in [0, 1) from (seed, stream, n)."""
    return hash32(seed, stream, n) / 4294967296.0


def smooth(seed, stream, t, period):
    """Value noise in [-1, 1] wandering smoothly over t, with knots every period."""
    k = int(math.floor(t / period))
    f = t / period - k
    a = unit(seed, stream, k)
    return 2.0 * (a + (unit(seed, stream, k + 1) - a) * f * f * (3.0 - 2.0 * f)) - 1.0


def timeline(steps):
    """[(t, step number from 1, kind, step)]: when each scenario step happens.

    A step happens at its "at" (simulated seconds since the world started) or where the previous
    step left the cursor; "at" moves the cursor and "wait": s moves it on by s seconds.
    """
    out = []
    cursor = 0.0
    for i, step in enumerate(steps):
        kind = [k for k in step if k in STEP_KINDS][0]
        cursor = float(step.get("at", cursor)) + (step["wait"] if kind == "wait" else 0)
        out.append((cursor, i + 1, kind, step))
    return out


def seconds_of_day(v):
    """ "08:30", "08:30:15" or a number of seconds -> seconds since midnight."""
    if isinstance(v, str):
        hms = [int(p) for p in v.split(":")] + [0]
        v = hms[0] * 3600 + hms[1] * 60 + hms[2]
    return float(v) % _DAY


def epoch_of(date):
    """Unix seconds of midnight (UTC) of "YYYY-MM-DD"."""
    y, m, d = [int(p) for p in date.split("-")]
    return simchip.days_since_2000(y, m, d) * _DAY + 946684800


# ---- what is wired to the board


class Sensor:
    """One sensor of the spec: kind, where it is wired, what it measures, its faults."""

    def __init__(self, index, d, world):
        kind = self.kind = d["kind"]
        self.index = index
        self.name = d.get("name", "%s%d" % (kind, index + 1))
        self.quantity = d.get("quantity", SENSORS[kind][0])
        self.pin = d.get("pin")
        self.noise = d.get("noise", 1.0)  # times the quantity's usual noise; 0: exact readings
        self.offset = d.get("offset", 0.0)
        self.missing = bool(d.get("missing", False))
        self.crc = d.get("crc", 0.0)  # probability that a read fails its CRC
        self.windows = [(w["from"], w["to"], w) for w in d.get("faults", ())]
        self.reads = 0  # reads that drew a CRC fault
        self.map = d.get("map", SENSORS[kind][1])
        self.above = d.get("above", 0)
        self.invert = bool(d.get("invert", False))
        self.device = None
        if kind in FAMILIES:
            self.device = _probe(world, self, d.get("serial", index + 1), FAMILIES[kind])
        elif kind == "bme280":
            bus = d.get("bus", 0)
            self.bus = tuple(bus) if isinstance(bus, list) else bus
            self.address = d.get("address", 0x76)
            self.device = _bme(world, self)

    def mv(self, value):
        """The voltage an analog sensor puts on its pin for a physical value, in mV (>= 0)."""
        (q0, v0), (q1, v1) = self.map
        return max(0.0, v0 + (value - q0) * (v1 - v0) / (q1 - q0))


def _probe(world, sensor, serial, family):
    # A 1-Wire thermometer whose temperature and faults come from the world (imported on demand,
    # as are BME280s: a world pays only for the devices it has).
    from simonewire import DS18B20

    class Probe(DS18B20):
        def reset(self):
            self.present = not world.missing(sensor)
            return DS18B20.reset(self)

        def _function(self, cmd):
            if cmd == 0x44:  # CONVERT T latches the world's temperature
                self.temperature = world.reading(sensor, sensor.quantity)
            DS18B20._function(self, cmd)

        def scratchpad(self):
            self.crc_error = world.crc_hit(sensor)
            return DS18B20.scratchpad(self)

    return Probe(serial, 20.0, family)


def _bme(world, sensor):
    # A BME280 that measures the world's air.
    from i2c_devices import BME280

    class Bme(BME280):
        def measure(self):
            self.temperature = world.reading(sensor, "temperature")
            self.pressure = world.reading(sensor, "pressure")
            self.humidity = world.reading(sensor, "humidity")
            BME280.measure(self)

    return Bme()


class Load:
    """What a relay (or a PWM output) switches: heater, pump, light, fan or generic."""

    def __init__(self, index, d):
        kind = self.kind = d.get("kind", "generic")
        param, default, quantity = LOADS[kind]
        self.name = d.get("name", "%s%d" % (kind, index + 1))
        self.pin = d["pin"]
        self.active_low = bool(d.get("active_low", False))
        self.effect = d.get(param, default)
        self.quantity = d.get("quantity", quantity)
        self.power = 0.0  # 0..1: off, on, or a PWM duty
        self.level = None  # what the pin drives (None: released)
        self.duty = None  # PWM duty 0..65536 while a PWM drives the pin

    def update(self):
        """Power from the pin (or PWM); True if it changed."""
        if self.duty is not None:
            p = self.duty / 65536.0
            p = 1.0 - p if self.active_low else p
        elif self.level is None:
            p = 0.0  # a released pin: relay boards keep their relay off
        else:
            p = 1.0 if (self.level == 0) == self.active_low else 0.0
        changed = p != self.power
        self.power = p
        return changed


class World(simboard.QuietWorld):
    """A world from a spec; clock() gives milliseconds (default: the board's clock).

    steps: scenario steps (set, hold, trace, fault are applied; others ignored); trace: a
    function given each "~world {json}" line of the world's changes, or None.
    """

    def __init__(self, seed, spec, clock=None, steps=None, trace=None):
        spec = spec or {}
        self.seed = seed & _M32
        self.board = None  # set by attach(); otherwise the fakes' current board
        self._clock = clock
        self._trace = trace
        tm = spec.get("time", {})
        self.scale = tm.get("scale", 1)  # simulated seconds per real second
        self.step_s = tm.get("step_s", 5)  # integration grid, simulated seconds
        self.day0 = seconds_of_day(tm.get("start", "08:00"))
        self.epoch0 = epoch_of(tm.get("date", "2024-06-21")) + self.day0
        self.ntp = bool(tm.get("ntp", True))
        self.trace_every = tm.get("trace_every_s", 0.5 * self.scale)
        env = spec.get("environment", {})
        self.env = {}
        for q in ENVIRONMENT:
            p = self.env[q] = dict(ENVIRONMENT[q])
            p.update(env.get(q, {}))
        self.quantities = list(QUANTITIES)
        self._x = {}  # quantities with a state of their own, at grid time _g
        custom = spec.get("quantities", {})
        for q in sorted(custom):  # sorted: dicts iterate differently on MicroPython
            self.quantities.append(q)
            self._x[q] = float(custom[q])
        self.held = {}  # quantity -> value, or (step time, [[t, v], ...]) of a trace
        self.pins = {}  # GPIO -> level last driven (None: released)
        self.loads = [Load(i, d) for i, d in enumerate(spec.get("loads", ()))]
        self.sensors = [Sensor(i, d, self) for i, d in enumerate(spec.get("sensors", ()))]
        self._chip = None
        for s in self.sensors:
            if s.kind == "chip_temperature":
                self._chip = s
        self._buses = {}  # GPIO -> the probes on that 1-Wire bus
        self.aps = [_access_point(i, d) for i, d in enumerate(spec.get("access_points", ()))]
        self.connect_ms = spec.get("wifi_connect_ms", 0)
        acts = [a for a in timeline(steps or ()) if a[2] in ("set", "hold", "trace", "fault")]
        acts.sort(key=lambda a: (a[0], a[1]))  # steps at the same time keep their order
        self._acts = acts
        self._next = 0
        self._g = 0.0  # simulated time of the state in _x
        self._x["temperature"] = float(self.env["temperature"].get("initial", self._ambient(0.0)))
        self._x["soil_moisture"] = float(self.env["soil_moisture"]["initial"])
        self._order = ["temperature", "soil_moisture"] + self.quantities[len(QUANTITIES) :]
        self._last_state = -1e9
        self._t0 = self._ms()

    # ---- time

    def _ms(self):
        if self._clock is not None:
            return self._clock()
        return simchip.now(self.board or simboard.board())

    def now(self):
        """Simulated seconds since the world started (time_scale applied)."""
        return (self._ms() - self._t0) * self.scale / 1000.0

    def time_of_day(self, t=None):
        """Seconds since midnight at simulated time t (default now)."""
        return (self.day0 + (self.now() if t is None else t)) % _DAY

    # ---- the physics

    def _ambient(self, t):
        p = self.env["temperature"]
        hour = self.time_of_day(t) / 3600.0
        daily = p["swing"] * math.cos(2 * math.pi * (hour - p["peak_hour"]) / 24.0)
        return p["mean"] + daily + p["weather"] * smooth(self.seed, 1, t, 1800.0)

    def _effect(self, kind):
        return sum(x.effect * x.power for x in self.loads if x.kind == kind)

    def _evolve(self, q, x, t, dt):
        # q's value dt seconds after time t, starting from x, with the loads as they are
        if q == "temperature":
            target = self._ambient(t) + self._effect("heater") - self._effect("fan")
            return x + (target - x) * (1.0 - math.exp(-dt / self.env["temperature"]["tau_s"]))
        r = sum(x.effect * x.power for x in self.loads if x.quantity == q and x.kind in ("pump", "generic"))
        if q == "soil_moisture":
            warm = 1.0 + 0.05 * (self._x["temperature"] - 20.0)  # warm soil dries faster
            r -= self.env["soil_moisture"]["drying_per_hour"] / 3600.0 * max(0.2, warm)
            return min(100.0, max(0.0, x + r * dt))
        return x + r * dt

    def _integrate_to(self, t):
        # Fixed steps on a grid: the state depends on the times, not on how often it is asked.
        step = self.step_s
        x = self._x
        while self._g + step <= t:
            for q in self._order:  # a fixed order: dicts iterate differently on MicroPython
                if q not in self.held:
                    x[q] = self._evolve(q, x[q], self._g, step)
            self._g += step

    def _advance(self):
        # Catch up with the clock: due scenario steps, integration, the periodic trace line.
        now = self.now()
        acts = self._acts
        while self._next < len(acts) and acts[self._next][0] <= now:
            a = acts[self._next]
            self._next += 1
            self._integrate_to(a[0])
            self._apply(a)
        self._integrate_to(now)
        if self._trace is not None and now - self._last_state >= self.trace_every:
            self._last_state = now
            self._emit({"t": _r(now), "ev": "state", "v": self.values(now)})
        return now

    def value(self, q, now=None):
        """The physical value of quantity q now (without any sensor's noise)."""
        if now is None:
            now = self._advance()
        h = self.held.get(q)
        if h is not None:
            return _trace_at(h, now) if isinstance(h, tuple) else h
        if q in self._x:
            x = self._x[q]
            return self._evolve(q, x, self._g, now - self._g) if now > self._g else x
        if q == "humidity":
            p = self.env["humidity"]
            dt = self.value("temperature", now) - self.env["temperature"]["mean"]
            h = p["mean"] + p["per_degree"] * dt + p["weather"] * smooth(self.seed, 2, now, 2400.0)
            return min(100.0, max(0.0, h - 10.0 * sum(x.power for x in self.loads if x.kind == "fan")))
        if q == "pressure":
            p = self.env["pressure"]
            return p["mean"] + p["drift"] * smooth(self.seed, 3, now, 21600.0)
        p = self.env["light"]  # q == "light"
        hour = self.time_of_day(now) / 3600.0
        day = 0.0
        if p["sunrise"] < hour < p["sunset"]:
            sun = math.sin(math.pi * (hour - p["sunrise"]) / (p["sunset"] - p["sunrise"]))
            day = p["peak"] * sun * (1.0 - p["clouds"] * (0.5 + 0.5 * smooth(self.seed, 5, now, 900.0)))
        return day + self._effect("light")

    def values(self, now=None):
        """{quantity: value} now, rounded to 3 decimals."""
        if now is None:
            now = self._advance()
        return dict((q, _r(self.value(q, now))) for q in self.quantities)

    # ---- sensors

    def missing(self, s):
        """Sensor s does not answer now (unplugged, or in a missing window)."""
        now = self._advance()
        if s.missing:
            return True
        for t0, t1, w in s.windows:
            if t0 <= now < t1 and w.get("missing"):
                return True
        return False

    def crc_hit(self, s):
        """Does this read of sensor s fail its CRC? Drawn per read from the seed."""
        now = self._advance()
        p = s.crc
        for t0, t1, w in s.windows:
            if t0 <= now < t1:
                p = max(p, w.get("crc", 0))
        if p <= 0:
            return False
        s.reads += 1
        return unit(self.seed, 200 + s.index, s.reads) < p

    def reading(self, s, q):
        """What sensor s measures of quantity q now: the value plus its offset and noise."""
        now = self._advance()
        a = s.noise * _NOISE.get(q, 0.0)
        n = int(now * 1000)
        stream = 100 + 8 * s.index + self.quantities.index(q) % 8
        e = a * (unit(self.seed, stream, n) + unit(self.seed, stream + 4096, n) - 1.0)
        return self.value(q, now) + s.offset + e

    def sensor(self, name):
        """The sensor of that name."""
        for s in self.sensors:
            if s.name == name:
                return s
        raise KeyError(name)

    def _find(self, kinds, pin):
        for s in self.sensors:
            if s.pin == pin and s.kind in kinds:
                return s
        return None

    # ---- the QuietWorld hooks

    def input_level(self, pin):
        s = self._find(("digital",), pin)
        if s is None or self.missing(s):
            return None  # nothing answers: the pin floats and its pull decides
        return 1 if (self.reading(s, s.quantity) > s.above) != s.invert else 0

    def adc_microvolts(self, pin):
        s = self._find(ANALOG, pin)
        if s is None or self.missing(s):
            return 0
        if self.crc_hit(s):  # an analog glitch: a spike anywhere on the scale
            return int(unit(self.seed, 300 + s.index, s.reads) * 3300000)
        return int(s.mv(self.reading(s, s.quantity)) * 1000)

    def output_changed(self, pin, level):
        now = self._advance()
        self.pins[pin] = level
        if self._trace is not None:  # the line is made only for a trace
            self._emit({"t": _r(now), "ev": "pin", "pin": pin, "level": level})
        for x in self.loads:
            if x.pin == pin:
                x.level = level
                self._load_changed(x, now)

    def pwm_changed(self, pin, freq, duty_u16):
        now = self._advance()
        self._emit({"t": _r(now), "ev": "pwm", "pin": pin, "freq": freq, "duty": duty_u16})
        for x in self.loads:
            if x.pin == pin:
                x.duty = None if freq == 0 and duty_u16 == 0 else duty_u16
                self._load_changed(x, now)

    def _load_changed(self, x, now):
        if x.update() and self._trace is not None:
            self._emit({"t": _r(now), "ev": "load", "name": x.name, "on": x.power > 0, "power": _r(x.power)})

    def i2c_device(self, bus_id, addr):
        for s in self.sensors:
            if s.kind == "bme280" and s.bus == bus_id and s.address == addr:
                if self.missing(s) or self.crc_hit(s):  # a glitch on I2C: no acknowledge
                    return None
                return s.device
        return None

    def onewire_devices(self, pin):
        # Asked at every bit: the same list each time; the probes ask the world themselves.
        bus = self._buses.get(pin)
        if bus is None:
            bus = self._buses[pin] = [s.device for s in self.sensors if s.kind in FAMILIES and s.pin == pin]
        return bus

    def dht_reading(self, pin, model):
        s = self._find(("dht11", "dht22"), pin)
        if s is None or self.missing(s):
            return None
        t, h = self.reading(s, s.quantity), self.reading(s, "humidity")
        if not self.crc_hit(s):
            return (t, h)
        t10, h10 = int(abs(t) * 10) & 0x7FFF, int(h * 10) & 0xFFFF
        data = (h10 >> 8, h10 & 255, t10 >> 8, t10 & 255)
        return bytes(data + ((sum(data) + 1) & 255,))  # the checksum is off by one

    def mcu_temperature(self):
        s = self._chip
        room = self.value("temperature") if s is None else self.reading(s, "temperature")
        return room + CHIP_ABOVE_ROOM + (4.0 if (self.board or simboard.board()).wifi_active else 0.0)

    def access_points(self):
        now = self._advance()
        out = []
        for i, ap in enumerate(self.aps):
            jitter = int(math.floor(ap[7] * smooth(self.seed, 10 + i, now, 20.0) + 0.5))
            out.append(ap[:3] + (ap[3] + jitter,) + ap[4:7])
        return out

    def time_source(self):
        now = self._advance()
        return int(self.epoch0 + now) if self.ntp else None

    def wifi_connect_ms(self):
        return self.connect_ms

    # ---- changes: scenario steps, tests, a dashboard

    def attach(self, board):
        """Become board's world; the trace starts with a start line, then the state."""
        self.board = board
        board.world = self
        loads = dict((x.name, x.pin) for x in self.loads)
        self._emit({"t": _r(self.now()), "ev": "start", "scale": self.scale, "loads": loads})
        self._advance()
        return self

    def set(self, q, v):
        """q jumps to v and evolves from there; a modelled quantity (humidity, pressure, light)
        stays at v until set to None."""
        self._set(q, v, self._advance())

    def hold(self, q, v):
        """Pin q at v, or a trace (step time, [[t, v], ...]); None gives it back to the model,
        from where it was."""
        self._hold(q, v, self._advance())

    def _set(self, q, v, t):
        if q in _MODELLED or v is None:
            self._hold(q, v, t)
        else:
            self.held.pop(q, None)
            self._x[q] = float(v)

    def _hold(self, q, v, t):
        if v is None:
            h = self.held.pop(q, None)
            if h is not None and q in self._x:
                self._x[q] = _trace_at(h, t) if isinstance(h, tuple) else h
        else:
            self.held[q] = v if isinstance(v, tuple) else float(v)

    def fault(self, f):
        """{"sensor": name, "missing": bool, "crc": p}, {"wifi": "drop"|"restore"|"rssi",
        "ssid": s, "dbm": n} (through board.air) or {"ntp": "down"|"up"}."""
        if "sensor" in f:
            s = self.sensor(f["sensor"])
            s.missing = bool(f.get("missing", s.missing))
            s.crc = f.get("crc", s.crc)
        elif "wifi" in f:
            air = (self.board or simboard.board()).air
            if f["wifi"] == "drop":
                air.drop(f.get("ssid"))
            elif f["wifi"] == "restore":
                air.restore(f.get("ssid"))
            else:
                air.set_rssi(f["ssid"], f.get("dbm"))
        else:
            self.ntp = f["ntp"] == "up"

    def _apply(self, a):
        t, i, kind, step = a
        body = step[kind]
        if kind == "fault":
            self.fault(body)
        else:
            for q in body:  # at the step's own time, however late the world catches up
                if kind == "trace":
                    self._hold(q, (t, body[q]), t)
                elif kind == "set":
                    self._set(q, body[q], t)
                else:
                    self._hold(q, body[q], t)
        self._emit({"t": _r(t), "ev": "step", "step": i, "kind": kind})
        self._last_state = -1e9  # the trace shows the effect at once

    # ---- inspection

    def state(self):
        """Physical values, loads, pin levels, faults and radio now, as a JSON-ready dict."""
        now = self._advance()
        tod = int(self.time_of_day(now))
        loads = {}
        for x in self.loads:
            loads[x.name] = {"kind": x.kind, "pin": x.pin, "on": x.power > 0, "power": _r(x.power)}
        faults = {}
        for s in self.sensors:
            if self.missing(s) or s.crc or s.windows:
                faults[s.name] = {"missing": self.missing(s), "crc": s.crc}
        air = (self.board or simboard.board()).air
        return {
            "t": _r(now),
            "time": "%02d:%02d:%02d" % (tod // 3600, tod // 60 % 60, tod % 60),
            "values": self.values(now),
            "loads": loads,
            "pins": dict((str(p), self.pins[p]) for p in self.pins),
            "faults": faults,
            "wifi": {"dropped": list(air.dropped), "rssi": dict(air.rssi), "ntp": self.ntp},
        }

    def _emit(self, obj):
        if self._trace is not None:
            self._trace("~world " + json.dumps(obj))


def _access_point(i, d):
    # (ssid, bssid, channel, rssi, security, hidden, password, rssi jitter in dB)
    pw = d.get("password", "")
    bssid = d.get("bssid", "24:0a:c4:00:00:%02x" % (i + 1))
    mac = bytes(int(p, 16) for p in bssid.split(":"))
    hidden = bool(d.get("hidden", False))
    return (
        d["ssid"],
        mac,
        d.get("channel", 1),
        d.get("rssi", -55),
        3 if pw else 0,
        hidden,
        pw,
        d.get("jitter", 2),
    )


def _trace_at(h, now):
    # A trace (step time, [[t, v], ...]) at time now: linear between points, flat outside.
    t0, pts = h
    t = now - t0
    if t <= pts[0][0]:
        return float(pts[0][1])
    for j in range(1, len(pts)):
        (ta, va), (tb, vb) = pts[j - 1], pts[j]
        if t < tb:
            return va + (vb - va) * (t - ta) / (tb - ta)
    return float(pts[-1][1])


def _r(x):
    return round(x, 3)


def read(path):
    """(seed or None, spec, steps or None) of a JSON file: a world spec, or a scenario
    {"seed", "world": spec or file name (relative to the scenario), "steps": [...]}."""
    with open(path) as f:
        d = json.loads(f.read())
    if "world" not in d and "steps" not in d:
        return d.get("seed"), d, None
    spec = d.get("world", {})
    if isinstance(spec, str):
        if not spec.startswith("/"):
            i = path.rfind("/")
            spec = (path[: i + 1] if i >= 0 else "") + spec
        with open(spec) as f:
            spec = json.loads(f.read())
    seed = d.get("seed")
    return (spec.get("seed") if seed is None else seed), spec, d.get("steps", [])


def install_from_env(board):
    """Give board the world of the JSON file named by SIM_WORLD (nothing when unset); with
    SIM_WORLD_TRACE=1 the world prints its changes as "~world {json}" lines. Returns the world."""
    import os

    path = os.getenv("SIM_WORLD")
    if not path:
        return None
    seed, spec, steps = read(path)
    trace = print if os.getenv("SIM_WORLD_TRACE") == "1" else None
    world = World(board.seed if seed is None else seed, spec, None, steps, trace)
    return world.attach(board)
