"""Simulated I2C devices for machine.I2C/SoftI2C: a register-file base and a Bosch BME280.

Portable (CPython and the MicroPython unix interpreter). A world hands these out from
world.i2c_device(bus_id, addr). The bus calls write(data) for each write transaction and read(n)
for each read, as the wire carries them (readfrom_mem = write(memaddr) then read(n)).
"""

import struct


class RegisterDevice:
    """A device with 8-bit registers and an auto-incrementing register pointer (most sensors)."""

    def __init__(self, size=256):
        self.regs = bytearray(size)
        self.pointer = 0
        self.writes = []  # every write transaction, for tests to inspect

    def write(self, data):
        self.writes.append(bytes(data))
        if not data:
            return
        self.pointer = data[0]
        for value in data[1:]:
            self.write_register(self.pointer, value)
            self.pointer = (self.pointer + 1) % len(self.regs)

    def read(self, n):
        self.before_read(self.pointer, n)
        size = len(self.regs)
        out = bytes(self.regs[(self.pointer + i) % size] for i in range(n))
        self.pointer = (self.pointer + n) % size
        return out

    def write_register(self, reg, value):
        self.regs[reg] = value

    def before_read(self, reg, n):
        """Hook: refresh registers reg..reg+n-1 before the master clocks them out."""


# Trimming values: the datasheet's temperature/pressure example and a real part's humidity ones.
BME280_CALIBRATION = {
    "T1": 27504,
    "T2": 26435,
    "T3": -1000,
    "P1": 36477,
    "P2": -10685,
    "P3": 3024,
    "P4": 2855,
    "P5": 140,
    "P6": -7,
    "P7": 15500,
    "P8": -14600,
    "P9": 6000,
    "H1": 75,
    "H2": 362,
    "H3": 0,
    "H4": 313,
    "H5": 50,
    "H6": 30,
}

_ID, _RESET, _CTRL_HUM, _STATUS, _CTRL_MEAS, _CONFIG, _DATA = 0xD0, 0xE0, 0xF2, 0xF3, 0xF4, 0xF5, 0xF7
_WRITABLE = (_RESET, _CTRL_HUM, _CTRL_MEAS, _CONFIG)
_SKIPPED = (0x80000, 0x80000, 0x8000)  # what a skipped channel reads (also after reset)


class BME280(RegisterDevice):
    """Bosch BME280 register model (datasheet rev 1.6): chip id 0x60, trimming registers, forced
    and normal mode, oversampling-dependent resolution, soft reset.

    Set temperature (deg C), pressure (Pa) and humidity (%RH); each measurement turns them into
    the raw ADC values for which Bosch's compensation formulas give them back.
    """

    CHIP_ID = 0x60

    def __init__(self, temperature=20.0, pressure=101325.0, humidity=50.0, calibration=None):
        super().__init__(256)
        self.temperature = temperature
        self.pressure = pressure
        self.humidity = humidity
        self.cal = dict(BME280_CALIBRATION)
        if calibration:
            self.cal.update(calibration)
        self.measurements = 0
        self._store_calibration()
        self.reset()

    def reset(self):
        """Power-on/soft-reset state: sleep mode, everything skipped, data registers at 0x80000."""
        for reg in range(0xF2, 0x100):
            self.regs[reg] = 0
        self.regs[_ID] = self.CHIP_ID
        self._osrs_h = 0
        self._store_data(*_SKIPPED)

    def _store_calibration(self):
        c = self.cal
        tp = (c["T1"], c["T2"], c["T3"]) + tuple(c["P%d" % i] for i in range(1, 10))
        self.regs[0x88:0xA0] = struct.pack("<HhhHhhhhhhhh", *tp)
        self.regs[0xA1] = c["H1"]
        h4, h5 = c["H4"] & 0xFFF, c["H5"] & 0xFFF
        e4 = bytes((h4 >> 4, (h4 & 0x0F) | ((h5 & 0x0F) << 4), h5 >> 4))
        self.regs[0xE1:0xE8] = struct.pack("<hB", c["H2"], c["H3"]) + e4 + struct.pack("<b", c["H6"])

    def _store_data(self, adc_p, adc_t, adc_h):
        self.regs[_DATA : _DATA + 8] = bytes(
            (adc_p >> 12, (adc_p >> 4) & 255, (adc_p & 15) << 4)
            + (adc_t >> 12, (adc_t >> 4) & 255, (adc_t & 15) << 4)
            + (adc_h >> 8, adc_h & 255)
        )

    def write_register(self, reg, value):
        if reg not in _WRITABLE:
            return  # read-only: the chip ignores the byte
        if reg == _RESET:
            if value == 0xB6:
                self.reset()
            return
        self.regs[reg] = value
        if reg == _CTRL_MEAS:
            self._osrs_h = self.regs[_CTRL_HUM] & 7  # ctrl_hum takes effect on this write
            if value & 3 in (1, 2):  # forced mode: measure once, then back to sleep
                self.measure()
                self.regs[_CTRL_MEAS] = value & 0xFC

    def before_read(self, reg, n):
        if self.regs[_CTRL_MEAS] & 3 == 3 and reg < _DATA + 8 and reg + n > _DATA:
            self.measure()  # normal mode: a fresh result at every burst read

    def measure(self):
        """One measurement of the current physical values into the data registers."""
        self.measurements += 1
        ctrl = self.regs[_CTRL_MEAS]
        osrs = ((ctrl >> 2) & 7, ctrl >> 5, self._osrs_h)  # pressure, temperature, humidity
        adc_t = _solve(lambda x: _t_fine(self.cal, x) / 5120.0, self.temperature, 0, 0xFFFFF, True)
        t_fine = _t_fine(self.cal, adc_t)
        adc_p = _solve(lambda x: _pressure(self.cal, x, t_fine), self.pressure, 0, 0xFFFFF, False)
        adc_h = _solve(lambda x: _humidity(self.cal, x, t_fine), self.humidity, 0, 0xFFFF, True)
        filtered = (self.regs[_CONFIG] >> 2) & 7
        out = []
        for adc, o, skipped in zip((adc_p, adc_t, adc_h), osrs, _SKIPPED):  # noqa: B905 (no strict= in MicroPython)
            if o == 0:
                adc = skipped
            elif skipped == 0x80000 and not filtered:  # unfiltered: 16 + (osrs - 1) bits
                step = 1 << (5 - min(o, 5))
                adc = min((adc + step // 2) // step * step, 0xFFFFF - step + 1)
            out.append(adc)
        self._store_data(*out)


def _solve(f, target, lo, hi, rising):
    """The integer x in [lo, hi] whose f(x) is nearest target, f monotonic."""
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if (f(mid) < target) == rising:
            lo = mid
        else:
            hi = mid
    return lo if abs(f(lo) - target) <= abs(f(hi) - target) else hi


# Bosch's floating-point compensation formulas (datasheet section 8.1).


def _t_fine(c, adc_t):
    var1 = (adc_t / 16384.0 - c["T1"] / 1024.0) * c["T2"]
    var2 = (adc_t / 131072.0 - c["T1"] / 8192.0) ** 2 * c["T3"]
    return var1 + var2


def _pressure(c, adc_p, t_fine):
    var1 = t_fine / 2.0 - 64000.0
    var2 = var1 * var1 * c["P6"] / 32768.0 + var1 * c["P5"] * 2.0
    var2 = var2 / 4.0 + c["P4"] * 65536.0
    var1 = (c["P3"] * var1 * var1 / 524288.0 + c["P2"] * var1) / 524288.0
    var1 = (1.0 + var1 / 32768.0) * c["P1"]
    if var1 == 0:
        return 0.0
    p = (1048576.0 - adc_p - var2 / 4096.0) * 6250.0 / var1
    return p + (c["P9"] * p * p / 2147483648.0 + p * c["P8"] / 32768.0 + c["P7"]) / 16.0


def _humidity(c, adc_h, t_fine):
    h = t_fine - 76800.0
    h = (adc_h - (c["H4"] * 64.0 + c["H5"] / 16384.0 * h)) * (
        c["H2"] / 65536.0 * (1.0 + c["H6"] / 67108864.0 * h * (1.0 + c["H3"] / 67108864.0 * h))
    )
    h = h * (1.0 - c["H1"] * h / 524288.0)
    return min(max(h, 0.0), 100.0)
