"""Bosch BME280 on I2C (kind bme280): temperature (C), humidity (%) and pressure (hPa).

Spec: "scl", "sda" (GPIOs), "bus" (hardware I2C 0 or 1, default 0), "address" (0x76 or 0x77,
default 0x76). begin() reads the trimming values once, then starts one forced-mode measurement
with the datasheet's weather-monitoring settings (oversampling x1, no filter); read() reads it and
compensates it in integer arithmetic (datasheet 4.2.3), exact on a float32 board too.
"""

import struct

from machine import I2C

from app.sensors import Driver as _Base
from app.sensors import bad, number, pin


def _s12(v):
    return v - ((v & 0x800) << 1)


class Driver(_Base):
    quantities = (("temperature", "C"), ("humidity", "%"), ("pressure", "hPa"))

    def __init__(self, spec):
        _Base.__init__(self, spec)
        scl, sda = pin(spec, "scl"), pin(spec, "sda")
        bus = number(spec, "bus", 0, (0, 1))
        self.addr = a = number(spec, "address", 0x76, (0x76, 0x77))
        self.at = " at 0x%02x on I2C %d" % (a, bus)
        try:
            self.i2c = I2C(bus, scl=scl, sda=sda)
        except ValueError as e:
            raise bad(spec, "I2C %d on scl %d, sda %d: %s" % (bus, spec["scl"], spec["sda"], e))
        self.cal = None  # trimming values, read once
        self.due = False  # a measurement was started and not read yet

    def start(self):
        i2c, a = self.i2c, self.addr
        self.due = False
        if self.cal is None:
            cid = i2c.readfrom_mem(a, 0xD0, 1)[0]
            if cid != 0x60:
                raise Exception("chip id 0x%02x is not a BME280's 0x60 (0x58: a BMP280, no humidity)" % cid)
            h2, h3, e4, e5, e6, h6 = struct.unpack("<hBBBBb", i2c.readfrom_mem(a, 0xE1, 7))
            cal = struct.unpack("<HhhHhhhhhhhh", i2c.readfrom_mem(a, 0x88, 24))
            if not cal[3]:
                raise Exception("blank trimming values (P1 = 0)")
            h1 = i2c.readfrom_mem(a, 0xA1, 1)[0]
            self.cal = cal + (h1, h2, h3, _s12(e4 << 4 | e5 & 15), _s12(e6 << 4 | e5 >> 4), h6)
        i2c.writeto_mem(a, 0xF2, b"\x01")  # humidity x1 (taken with the next ctrl_meas write)
        i2c.writeto_mem(a, 0xF4, b"\x25")  # temperature x1, pressure x1, forced mode
        self.due = True
        return 10  # at most 9.3 ms at x1 (datasheet 9.1)

    def measure(self):
        if not self.due:
            raise Exception("read() without begin()")
        self.due = False
        d = self.i2c.readfrom_mem(self.addr, 0xF7, 8)
        ap = d[0] << 12 | d[1] << 4 | d[2] >> 4
        at = d[3] << 12 | d[4] << 4 | d[5] >> 4
        ah = d[6] << 8 | d[7]
        if at == 0x80000:
            raise Exception("no measurement (was the chip reset?)")
        t1, t2, t3, p1, p2, p3, p4, p5, p6, p7, p8, p9, h1, h2, h3, h4, h5, h6 = self.cal
        x = (at >> 4) - t1
        tf = ((((at >> 3) - (t1 << 1)) * t2) >> 11) + ((((x * x) >> 12) * t3) >> 14)  # t_fine
        # pressure, 64-bit formula: Pa in 1/256
        x = tf - 128000
        y = x * x * p6 + ((x * p5) << 17) + (p4 << 35)
        x = (((1 << 47) + ((x * x * p3) >> 8) + ((x * p2) << 12)) * p1) >> 33
        p = ((((1048576 - ap) << 31) - y) * 3125) // x
        p = ((p + ((p9 * (p >> 13) * (p >> 13)) >> 25) + ((p8 * p) >> 19)) >> 8) + (p7 << 4)
        # humidity, 32-bit formula: %RH in 1/1024
        x = tf - 76800
        h = ((ah << 14) - (h4 << 20) - h5 * x + 16384) >> 15
        h *= (((((x * h6) >> 10) * (((x * h3) >> 11) + 32768)) >> 10) + 2097152) * h2 + 8192 >> 14
        h -= ((((h >> 15) * (h >> 15)) >> 7) * h1) >> 4
        h = min(max(h, 0), 419430400) >> 12
        return {"temperature": ((tf * 5 + 128) >> 8) / 100, "humidity": h / 1024, "pressure": p / 25600}
