"""The simulated BME280 answers a driver as the chip does: id, trimming, modes, resolution, reset.

The reader below is an independent driver: it uses Bosch's integer compensation (datasheet 4.2.3),
while the model inverts the floating-point formulas (datasheet 8.1).
"""

import struct

import simboard
from i2c_devices import BME280, BME280_CALIBRATION
from machine import I2C, SoftI2C

ADDR = 0x76


class World(simboard.QuietWorld):
    """One BME280 at 0x76 on I2C 0 and on the SoftI2C pins (scl=22, sda=21)."""

    def __init__(self, sensor):
        self.sensor = sensor

    def i2c_device(self, bus_id, addr):
        if addr == ADDR and bus_id in (0, (22, 21)):
            return self.sensor
        return None


def new_sensor(**values):
    sensor = BME280(**values)
    simboard.use(simboard.SimBoard(world=World(sensor)))
    return sensor


def _cdiv(a, b):
    # C's integer division truncates toward zero
    q = abs(a) // abs(b)
    return q if (a < 0) == (b < 0) else -q


def read_calibration(i2c):
    t1, t2, t3, p1, p2, p3, p4, p5, p6, p7, p8, p9 = struct.unpack(
        "<HhhHhhhhhhhh", i2c.readfrom_mem(ADDR, 0x88, 24)
    )
    h1 = i2c.readfrom_mem(ADDR, 0xA1, 1)[0]
    e = i2c.readfrom_mem(ADDR, 0xE1, 7)
    h2, h3 = struct.unpack("<hB", e[0:3])
    h4 = (e[3] << 4) | (e[4] & 0x0F)
    h5 = (e[5] << 4) | (e[4] >> 4)
    h4 = h4 - 4096 if h4 & 0x800 else h4
    h5 = h5 - 4096 if h5 & 0x800 else h5
    h6 = struct.unpack("<b", e[6:7])[0]
    return (t1, t2, t3), (p1, p2, p3, p4, p5, p6, p7, p8, p9), (h1, h2, h3, h4, h5, h6)


def raw_data(i2c):
    d = i2c.readfrom_mem(ADDR, 0xF7, 8)
    adc_p = (d[0] << 12) | (d[1] << 4) | (d[2] >> 4)
    adc_t = (d[3] << 12) | (d[4] << 4) | (d[5] >> 4)
    return adc_p, adc_t, (d[6] << 8) | d[7]


def compensate(cal, adc_p, adc_t, adc_h):
    """(deg C, Pa, %RH) with Bosch's 32-bit temperature/humidity and 64-bit pressure formulas."""
    (t1, t2, t3), (p1, p2, p3, p4, p5, p6, p7, p8, p9), (h1, h2, h3, h4, h5, h6) = cal
    var1 = (((adc_t >> 3) - (t1 << 1)) * t2) >> 11
    var2 = (((((adc_t >> 4) - t1) * ((adc_t >> 4) - t1)) >> 12) * t3) >> 14
    t_fine = var1 + var2
    temperature = ((t_fine * 5 + 128) >> 8) / 100
    var1 = t_fine - 128000
    var2 = var1 * var1 * p6 + ((var1 * p5) << 17) + (p4 << 35)
    var1 = ((var1 * var1 * p3) >> 8) + ((var1 * p2) << 12)
    var1 = (((1 << 47) + var1) * p1) >> 33
    p = 1048576 - adc_p
    p = _cdiv(((p << 31) - var2) * 3125, var1)
    var1 = (p9 * (p >> 13) * (p >> 13)) >> 25
    var2 = (p8 * p) >> 19
    pressure = (((p + var1 + var2) >> 8) + (p7 << 4)) / 256
    v = t_fine - 76800
    v = ((((adc_h << 14) - (h4 << 20) - (h5 * v)) + 16384) >> 15) * (
        ((((((v * h6) >> 10) * (((v * h3) >> 11) + 32768)) >> 10) + 2097152) * h2 + 8192) >> 14
    )
    v = v - (((((v >> 15) * (v >> 15)) >> 7) * h1) >> 4)
    v = min(max(v, 0), 419430400)
    return temperature, pressure, (v >> 12) / 1024


def forced_reading(i2c, osrs=5):
    i2c.writeto_mem(ADDR, 0xF2, bytes((osrs,)))
    i2c.writeto_mem(ADDR, 0xF4, bytes((osrs << 5 | osrs << 2 | 1,)))
    while i2c.readfrom_mem(ADDR, 0xF3, 1)[0] & 0x08:  # measuring
        pass
    return compensate(read_calibration(i2c), *raw_data(i2c))


def test_chip_id_and_trimming_registers():
    new_sensor()
    i2c = I2C(0)
    assert i2c.scan() == [ADDR]
    assert i2c.readfrom_mem(ADDR, 0xD0, 1) == b"\x60"
    (t1, t2, t3), p, h = read_calibration(i2c)
    c = BME280_CALIBRATION
    assert (t1, t2, t3) == (c["T1"], c["T2"], c["T3"])
    assert p == tuple(c["P%d" % i] for i in range(1, 10))
    assert h == tuple(c["H%d" % i] for i in range(1, 7))


def test_a_driver_gets_back_the_physical_values():
    sensor = new_sensor()
    i2c = I2C(0)
    for t, p, h in ((23.45, 98765.4, 41.2), (-10.5, 90000.0, 20.0), (60.0, 105000.0, 95.5)):
        sensor.temperature, sensor.pressure, sensor.humidity = t, p, h
        temperature, pressure, humidity = forced_reading(i2c)
        assert abs(temperature - t) <= 0.01, (temperature, t)
        assert abs(pressure - p) <= 1.0, (pressure, p)
        assert abs(humidity - h) <= 0.01, (humidity, h)


def test_other_trimming_values_work_too():
    sensor = new_sensor(temperature=31.0, calibration={"T1": 28000, "T2": 26000, "H2": 400})
    temperature, _, humidity = forced_reading(I2C(0))
    assert abs(temperature - 31.0) <= 0.01 and abs(humidity - sensor.humidity) <= 0.01


def test_forced_mode_measures_once_then_sleeps():
    sensor = new_sensor(temperature=20.0)
    i2c = I2C(0)
    forced_reading(i2c)
    assert sensor.measurements == 1
    assert i2c.readfrom_mem(ADDR, 0xF4, 1)[0] & 3 == 0  # back to sleep mode
    sensor.temperature = 30.0
    assert abs(compensate(read_calibration(i2c), *raw_data(i2c))[0] - 20.0) <= 0.01
    assert abs(forced_reading(i2c)[0] - 30.0) <= 0.01


def test_normal_mode_measures_at_every_data_read():
    sensor = new_sensor(temperature=20.0)
    i2c = I2C(0)
    i2c.writeto_mem(ADDR, 0xF4, bytes((5 << 5 | 5 << 2 | 3,)))
    cal = read_calibration(i2c)
    assert abs(compensate(cal, *raw_data(i2c))[0] - 20.0) <= 0.01
    sensor.temperature = 25.0
    assert abs(compensate(cal, *raw_data(i2c))[0] - 25.0) <= 0.01
    assert i2c.readfrom_mem(ADDR, 0xF4, 1)[0] & 3 == 3


def test_skipped_channels_and_reset_read_0x80000():
    new_sensor()
    i2c = I2C(0)
    i2c.writeto_mem(ADDR, 0xF4, bytes((1 << 5 | 1 << 2 | 1,)))  # ctrl_hum left at 0: skipped
    assert raw_data(i2c)[2] == 0x8000
    i2c.writeto_mem(ADDR, 0xF2, b"\x01")
    assert raw_data(i2c)[2] == 0x8000  # ctrl_hum waits for the next ctrl_meas write
    i2c.writeto_mem(ADDR, 0xF4, bytes((1 << 5 | 1 << 2 | 1,)))
    assert raw_data(i2c)[2] != 0x8000
    i2c.writeto_mem(ADDR, 0xE0, b"\xb6")  # soft reset
    assert raw_data(i2c) == (0x80000, 0x80000, 0x8000)
    assert i2c.readfrom_mem(ADDR, 0xF2, 4) == b"\x00\x00\x00\x00"
    assert i2c.readfrom_mem(ADDR, 0xD0, 1) == b"\x60"


def test_resolution_follows_oversampling_without_the_filter():
    sensor = new_sensor(temperature=21.7, pressure=100123.0)
    i2c = I2C(0)
    forced_reading(i2c, osrs=1)
    adc_p, adc_t, _ = raw_data(i2c)
    assert adc_t & 0x0F == 0 and adc_p & 0x0F == 0  # x1: 16 bits
    temperature, pressure, _ = compensate(read_calibration(i2c), adc_p, adc_t, 0)
    assert abs(temperature - 21.7) <= 0.01 and abs(pressure - 100123.0) <= 3
    i2c.writeto_mem(ADDR, 0xF5, bytes((4 << 2,)))  # IIR filter on: 20 bits
    forced_reading(i2c, osrs=1)
    assert sensor.measurements == 2


def test_read_only_registers_ignore_writes_and_soft_i2c_reaches_the_chip():
    new_sensor()
    i2c = SoftI2C(scl=22, sda=21)
    i2c.writeto_mem(ADDR, 0xD0, b"\x00")
    i2c.writeto_mem(ADDR, 0x88, b"\x00\x00")
    assert i2c.readfrom_mem(ADDR, 0xD0, 1) == b"\x60"
    assert read_calibration(i2c)[0][0] == BME280_CALIBRATION["T1"]
