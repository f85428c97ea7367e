"""Fake of MicroPython's `dht` driver: DHT11 and DHT22 sensors read from the simulated world.

measure() asks the world for the pin's reading (world.dht_reading(gpio, "DHT11" | "DHT22")),
encodes it in the 5-byte frame the sensor sends and decodes it as the real driver does, so the
resolution and ranges are the sensor's: DHT11 whole degrees (0-50 C; the driver drops the
tenths byte) and whole %RH (20-90 %); DHT22 tenths (-40-80 C, 0-100 %). A sensor that does not
answer (the world says None) raises OSError(ETIMEDOUT) as the port's dht_readinto does; a frame
with a bad checksum (the world returns 5 raw bytes) raises Exception("checksum error") as the
driver does. The pin is a machine.Pin or anything with an integer GPIO id (simboard.gpio_number).
Portable: CPython and the MicroPython unix interpreter.
"""

import errno as _errno
import math as _math
import sys as _sys

import simboard as _simboard

_MPY = _sys.implementation.name == "micropython"


def _clamp_round(x, lo, hi):
    return max(lo, min(hi, int(_math.floor(x + 0.5))))


def _frame(model, reading):
    if not isinstance(reading, tuple):
        return bytes(reading)  # a raw frame from the world, right or wrong
    t, h = reading
    if model == "DHT11":
        t = max(0.0, min(50.0, t))
        whole = int(_math.floor(t))
        data = (_clamp_round(h, 20, 90), 0, whole, _clamp_round((t - whole) * 10, 0, 9))
    else:
        h10 = _clamp_round(h * 10, 0, 1000)
        t10 = _clamp_round(abs(t) * 10, 0, 400 if t < 0 else 800)
        hi = (t10 >> 8) | (0x80 if t < 0 and t10 else 0)
        data = (h10 >> 8, h10 & 0xFF, hi, t10 & 0xFF)
    return bytes(data) + bytes(((data[0] + data[1] + data[2] + data[3]) & 0xFF,))


def _readinto(model, pin, buf):
    # Stands for the port's dht_readinto(pin, buf): the world answers instead of the wire.
    reading = _simboard.board().world.dht_reading(_simboard.gpio_number(pin), model)
    if reading is None:
        raise OSError(_errno.ETIMEDOUT) if _MPY else OSError(_errno.ETIMEDOUT, "ETIMEDOUT")
    frame = _frame(model, reading)
    if len(frame) != 5:
        raise ValueError("a DHT frame is 5 bytes")
    buf[:] = frame


class DHTBase:
    _MODEL = "DHT22"

    def __init__(self, pin):
        self.pin = pin
        self.buf = bytearray(5)

    def measure(self):
        buf = self.buf
        _readinto(self._MODEL, self.pin, buf)
        if (buf[0] + buf[1] + buf[2] + buf[3]) & 0xFF != buf[4]:
            raise Exception("checksum error")


class DHT11(DHTBase):
    _MODEL = "DHT11"

    def humidity(self):
        return self.buf[0]

    def temperature(self):
        return self.buf[2]


class DHT22(DHTBase):
    def humidity(self):
        return (self.buf[0] << 8 | self.buf[1]) * 0.1

    def temperature(self):
        t = ((self.buf[2] & 0x7F) << 8 | self.buf[3]) * 0.1
        if self.buf[2] & 0x80:
            t = -t
        return t
