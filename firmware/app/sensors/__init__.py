"""Sensor drivers: make(spec) builds one from a config.json sensor, loading only its kind's module.

Every driver has `name`, `kind`, `quantities` ((quantity, unit), ...) and `interval_ms`, and
two methods: begin() starts a measurement and returns the milliseconds to wait, then read()
returns {quantity: number} or raises AppError sensor_missing, sensor_crc or sensor_failed.
begin() never raises: what goes wrong there is raised by the read() that follows.
"""

import errno

from machine import Pin

from app.errors import AppError

# kind -> module of this package that drives it
_MODULES = {
    "chip_temperature": "chip",
    "analog": "analog",
    "dht11": "dhtxx",
    "dht22": "dhtxx",
    "ds18b20": "ds18b20",
    "bme280": "bme280",
}


def make(spec):
    """The driver for one sensor spec (a dict from config.json "sensors")."""
    ok = isinstance(spec, dict)
    kind = spec.get("kind") if ok else None
    mod = _MODULES.get(kind)
    if mod is None:
        raise AppError(
            "config_invalid",
            "sensor %r: unknown kind %r; use one of %s"
            % (spec.get("name") if ok else spec, kind, ", ".join(sorted(_MODULES))),
        )
    return __import__("app.sensors." + mod, None, None, ("Driver",)).Driver(spec)


def bad(spec, what):
    """AppError config_invalid about this sensor's spec."""
    return AppError("config_invalid", "sensor %r (%s): %s" % (spec.get("name"), spec.get("kind"), what))


def number(spec, key, default, choices=None):
    """spec[key] (default when absent), a number; one of choices when given."""
    v = spec.get(key, default)
    if type(v) not in (int, float) or (choices is not None and v not in choices):
        must = "one of %s" % (choices,) if choices else "a number"
        raise bad(spec, "%r is %r; it must be %s" % (key, v, must))
    return v


def pin(spec, key="pin"):
    """machine.Pin of the GPIO number spec[key] (required)."""
    p = spec.get(key)
    if type(p) is not int:
        raise bad(spec, "%r is %r; give the GPIO number the sensor is wired to" % (key, p))
    try:
        return Pin(p)
    except ValueError:
        raise bad(spec, "%r is %d, which is not a GPIO of this chip" % (key, p))


class Driver:
    """What every driver shares; a driver sets `at` (where it is wired) and defines measure()."""

    quantities = ()
    at = ""

    def __init__(self, spec):
        self.name = spec.get("name") or spec["kind"]
        self.kind = spec["kind"]
        iv = number(spec, "interval", 10)
        if iv <= 0:
            raise bad(spec, "'interval' is %r; give the seconds between readings (> 0)" % iv)
        self.interval_ms = int(iv * 1000)
        self.err = None  # what went wrong in begin(), for read() to raise

    def begin(self):
        """Start a measurement; returns the milliseconds to wait before read()."""
        self.err = None
        try:
            return self.start()
        except Exception as e:
            self.err = e
            return 0

    def start(self):
        return 0

    def read(self):
        """{quantity: number}; AppError sensor_missing, sensor_crc or sensor_failed."""
        try:
            e, self.err = self.err, None
            if e is not None:
                raise e
            return self.measure()
        except AppError:
            raise
        except Exception as e:
            raise self.fail(e)

    def fail(self, e):
        # The drivers' own exceptions (OSError, "CRC error", "checksum error") as AppErrors.
        who = "sensor %r (%s%s)" % (self.name, self.kind, self.at)
        s = str(e)
        if "CRC" in s or "checksum" in s:
            return AppError("sensor_crc", "%s: bad checksum; check the cable, its length, the pull-up" % who)
        if getattr(e, "errno", 0) in (errno.ETIMEDOUT, errno.ENODEV) or type(e).__name__ == "OneWireError":
            return AppError("sensor_missing", "%s does not answer; check its wiring and power" % who)
        return AppError("sensor_failed", "%s failed: %s" % (who, s or type(e).__name__))
