"""Fake of MicroPython's `ds18x20` driver: DS18B20 / DS1822 / DS18S20 thermometers on a OneWire bus.

The real driver's logic over onewire.OneWire, talking to the simulated devices of simonewire:
convert_temp() is SKIP ROM + CONVERT T for every sensor at once (conversion is instant here,
so no 750 ms wait is needed, though waiting does no harm); read_temp(rom) is MATCH ROM + READ
SCRATCHPAD. As on the board, a scratchpad whose CRC does not match raises Exception("CRC error")
(an unplugged sensor reads as 0xFF bytes, which fail the CRC too), and a bus where nothing
answers raises onewire.OneWireError. Before the first conversion a sensor reads 85.0 C.
Portable: CPython and the MicroPython unix interpreter.
"""

_CONVERT = 0x44
_RD_SCRATCH = 0xBE
_WR_SCRATCH = 0x4E


class DS18X20:
    def __init__(self, onewire):
        self.ow = onewire
        self.buf = bytearray(9)

    def scan(self):
        """ROMs of the thermometers on the bus (families 0x10, 0x22, 0x28)."""
        return [rom for rom in self.ow.scan() if rom[0] in (0x10, 0x22, 0x28)]

    def convert_temp(self):
        """Start a temperature conversion on every sensor of the bus."""
        self.ow.reset(True)
        self.ow.writebyte(self.ow.SKIP_ROM)
        self.ow.writebyte(_CONVERT)

    def read_scratch(self, rom):
        """The sensor's 9 scratchpad bytes (the driver's own buffer, reused)."""
        self.ow.reset(True)
        self.ow.select_rom(rom)
        self.ow.writebyte(_RD_SCRATCH)
        self.ow.readinto(self.buf)
        if self.ow.crc8(self.buf):
            raise Exception("CRC error")
        return self.buf

    def write_scratch(self, rom, buf):
        """Write TH, TL (and the configuration byte on a DS18B20) of one sensor."""
        self.ow.reset(True)
        self.ow.select_rom(rom)
        self.ow.writebyte(_WR_SCRATCH)
        self.ow.write(buf)

    def read_temp(self, rom):
        """Temperature in C from the last conversion of the sensor with this ROM."""
        buf = self.read_scratch(rom)
        if rom[0] == 0x10:
            if buf[1]:
                t = buf[0] >> 1 | 0x80
                t = -((~t + 1) & 0xFF)
            else:
                t = buf[0] >> 1
            return t - 0.25 + (buf[7] - buf[6]) / buf[7]
        t = buf[1] << 8 | buf[0]
        if t & 0x8000:  # negative: two's complement
            t = -((t ^ 0xFFFF) + 1)
        return t / 16
