"""Fake of MicroPython's `onewire` driver: the same API over a simulated 1-Wire bus.

The bus is whatever the world wires to the pin, looked up at every call
(board().world.onewire_devices(gpio), e.g. simonewire.DS18B20 objects): each bit the master
writes reaches every device and a bit it reads is the wired-AND of what they drive (1 when nobody
does), as on the open-drain line. Search, select and CRC work as in the real driver.
The pin is a machine.Pin or anything with an integer GPIO id (simboard.gpio_number).
Portable: CPython and the MicroPython unix interpreter.
"""

import simboard as _simboard
from simonewire import crc8 as _crc8


class OneWireError(Exception):
    pass


class OneWire:
    SEARCH_ROM = 0xF0
    MATCH_ROM = 0x55
    SKIP_ROM = 0xCC

    def __init__(self, pin):
        self.pin = pin
        self._gpio = _simboard.gpio_number(pin)
        if hasattr(pin, "init") and hasattr(pin, "OPEN_DRAIN"):
            pin.init(pin.OPEN_DRAIN, pin.PULL_UP)  # as the real driver configures its pin

    def _devices(self):
        return _simboard.board().world.onewire_devices(self._gpio)

    def reset(self, required=False):
        """Reset pulse; True when some device answered with presence (else OneWireError if required)."""
        present = False
        for dev in self._devices():
            if dev.reset():  # every device sees the reset
                present = True
        if required and not present:
            raise OneWireError
        return present

    def readbit(self):
        bit = 1
        for dev in self._devices():
            bit &= dev.read_bit()  # every device takes part in the slot
        return bit

    def readbyte(self):
        value = 0
        for i in range(8):
            value |= self.readbit() << i
        return value

    def readinto(self, buf):
        for i in range(len(buf)):
            buf[i] = self.readbyte()

    def writebit(self, value):
        bit = 1 if value else 0
        for dev in self._devices():
            dev.write_bit(bit)

    def writebyte(self, value):
        for i in range(8):
            self.writebit((value >> i) & 1)

    def write(self, buf):
        for b in buf:
            self.writebyte(b)

    def select_rom(self, rom):
        self.reset()
        self.writebyte(self.MATCH_ROM)
        self.write(rom)

    def scan(self):
        """ROM codes (bytearray(8) each) of every device on the bus, by SEARCH ROM."""
        devices = []
        diff = 65
        rom = False
        for _ in range(0xFF):
            rom, diff = self._search_rom(rom, diff)
            if rom:
                devices.append(rom)
            if diff == 0:
                break
        return devices

    def _search_rom(self, l_rom, diff):
        # One pass of the Maxim search: at a collision take 1 the first time, 0 once explored.
        if not self.reset():
            return None, 0
        self.writebyte(self.SEARCH_ROM)
        if not l_rom:
            l_rom = bytearray(8)
        rom = bytearray(8)
        next_diff = 0
        i = 64
        for byte in range(8):
            r_b = 0
            for bit in range(8):
                b = self.readbit()
                if self.readbit():
                    if b:  # nobody answered: no device or a broken bus
                        return None, 0
                elif not b:  # devices disagree on this bit
                    if diff > i or ((l_rom[byte] & (1 << bit)) and diff != i):
                        b = 1
                        next_diff = i
                self.writebit(b)
                if b:
                    r_b |= 1 << bit
                i -= 1
            rom[byte] = r_b
        return rom, next_diff

    def crc8(self, data):
        return _crc8(data)
