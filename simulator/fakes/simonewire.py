"""Simulated 1-Wire thermometers a world puts on a bus: DS18B20, DS1822 and DS18S20.

Each device speaks the 1-Wire slave protocol bit by bit: presence on reset, the ROM commands
(READ, MATCH, SKIP, SEARCH, ALARM SEARCH) and the function commands (CONVERT T, READ / WRITE /
COPY SCRATCHPAD, RECALL E2, READ POWER SUPPLY). onewire.OneWire is only the wire: every device
hears each written bit, and a read bit is the wired-AND of what the devices drive.

A world returns the same device objects from onewire_devices(pin) on every call and sets their
`temperature` as it likes; CONVERT T latches it. Faults: `present = False` unplugs a device (no
presence pulse, reads as 0xFF), `crc_error = True` corrupts the CRC byte of its scratchpad.
Portable: CPython and the MicroPython unix interpreter.
"""

import math

_IDLE = 0  # not addressed: drives nothing until the next reset
_ROM = 1  # receiving a ROM command
_MATCH = 2  # receiving the 64 bits of MATCH ROM
_SEARCH = 3  # taking part in SEARCH ROM
_FUNC = 4  # selected: receiving a function command
_SEND = 5  # sending bytes (ROM, scratchpad, power supply)
_RECV = 6  # receiving the bytes of WRITE SCRATCHPAD

FAMILIES = (0x10, 0x22, 0x28)  # DS18S20, DS1822, DS18B20


def crc8(data):
    """Dallas/Maxim CRC-8 (x^8 + x^5 + x^4 + 1, LSB first); 0 over data followed by its CRC."""
    crc = 0
    for byte in data:
        for _ in range(8):
            mix = (crc ^ byte) & 1
            crc >>= 1
            if mix:
                crc ^= 0x8C
            byte >>= 1
    return crc


def make_rom(family, serial):
    """An 8-byte ROM code: family, 48-bit serial number (LSB first), CRC-8."""
    body = bytes((family,)) + (serial & 0xFFFFFFFFFFFF).to_bytes(6, "little")
    return body + bytes((crc8(body),))


def _signed8(v):
    return v - 256 if v & 0x80 else v


class DS18B20:
    """One thermometer; family 0x28 (DS18B20), 0x22 (DS1822) or 0x10 (DS18S20)."""

    def __init__(self, serial, temperature=20.0, family=0x28):
        if family not in FAMILIES:
            raise ValueError("family must be one of 0x10, 0x22, 0x28")
        self.rom = make_rom(family, serial)
        self.temperature = temperature  # what the next CONVERT T measures, in C
        self.present = True
        self.crc_error = False
        self.conversions = 0  # CONVERT T commands this device took part in
        self.th, self.tl, self.config = 0x4B, 0x46, 0x7F  # alarm bytes, 12-bit resolution
        self.eeprom = (self.th, self.tl, self.config)  # what RECALL E2 restores
        self.measured = None  # temperature latched by the last conversion (None: power-on 85 C)
        self._temp = self._encode(85.0)  # scratchpad bytes 0, 1 (and 6 on a DS18S20)
        self._rom_int = int.from_bytes(self.rom, "little")
        self._state = _IDLE
        self._acc = 0  # bits received so far, LSB first
        self._nacc = 0
        self._out = b""  # bytes being sent
        self._pos = 0  # next bit of _out
        self._step = 0  # SEARCH ROM: 3 slots per ROM bit (bit, complement, master's choice)
        self._recv = []

    def scratchpad(self):
        """The 9 bytes READ SCRATCHPAD sends; the last is the CRC (wrong while crc_error)."""
        lsb, msb, remain = self._temp
        if self.rom[0] == 0x10:
            data = bytes((lsb, msb, self.th, self.tl, 0xFF, 0xFF, remain, 0x10))
        else:
            data = bytes((lsb, msb, self.th, self.tl, self.config, 0xFF, 0x0C, 0x10))
        crc = crc8(data)
        return data + bytes((crc ^ 0xFF if self.crc_error else crc,))

    def _encode(self, t):
        # Temperature register as the chip fills it: 1/16 C steps at 12 bits (9-11 bits drop the
        # lowest ones); a DS18S20 has 1/2 C plus COUNT_REMAIN for the driver's extended result.
        t = max(-55.0, min(125.0, t))
        if self.rom[0] == 0x10:
            whole = int(math.floor(t + 0.25))
            count = int(math.floor((t + 0.25 - whole) * 16 + 0.5))
            if count == 16:
                whole, count = whole + 1, 0
            raw = (whole * 2 + (1 if t - whole >= 0.5 else 0)) & 0xFFFF
            return raw & 0xFF, raw >> 8, 16 - count
        step = 1 << (3 - ((self.config >> 5) & 3))
        raw = (int(math.floor(t * 16 / step + 0.5)) * step) & 0xFFFF
        return raw & 0xFF, raw >> 8, 0x0C

    def _alarm(self):
        t = 85.0 if self.measured is None else self.measured
        return math.floor(t) >= _signed8(self.th) or math.floor(t) <= _signed8(self.tl)

    # ---- the wire

    def reset(self):
        """A reset pulse: True (presence) unless unplugged; then waits for a ROM command."""
        self._state = _ROM if self.present else _IDLE
        self._acc = self._nacc = 0
        return self.present

    def read_bit(self):
        """The bit this device drives in a read slot (1 = not driving)."""
        if self._state == _SEND:
            if self._pos >= len(self._out) * 8:
                return 1
            bit = (self._out[self._pos >> 3] >> (self._pos & 7)) & 1
            self._pos += 1
            return bit
        if self._state == _SEARCH:
            i, slot = divmod(self._step, 3)
            if slot == 2:
                return 1
            self._step += 1
            return ((self._rom_int >> i) & 1) ^ slot
        return 1  # idle, or a conversion polled for completion: done at once

    def write_bit(self, bit):
        """A write slot from the master."""
        st = self._state
        if st == _SEARCH:
            i, slot = divmod(self._step, 3)
            if slot != 2:
                return
            if bit != (self._rom_int >> i) & 1:
                self._state = _IDLE  # lost this branch of the search
            elif i == 63:
                self._state = _FUNC
            else:
                self._step += 1
            return
        if st not in (_ROM, _MATCH, _FUNC, _RECV):
            return
        self._acc |= (bit & 1) << self._nacc
        self._nacc += 1
        if self._nacc < (64 if st == _MATCH else 8):
            return
        value = self._acc
        self._acc = self._nacc = 0
        if st == _ROM:
            self._rom_command(value)
        elif st == _MATCH:
            self._state = _FUNC if value == self._rom_int else _IDLE
        elif st == _FUNC:
            self._function(value)
        else:
            self._received(value)

    def _send(self, data):
        self._state = _SEND
        self._out = data
        self._pos = 0

    def _rom_command(self, cmd):
        if cmd == 0x33:  # READ ROM
            self._send(self.rom)
        elif cmd == 0x55:  # MATCH ROM
            self._state = _MATCH
        elif cmd == 0xCC:  # SKIP ROM
            self._state = _FUNC
        elif cmd == 0xF0 or (cmd == 0xEC and self._alarm()):  # SEARCH ROM, ALARM SEARCH
            self._state = _SEARCH
            self._step = 0
        else:
            self._state = _IDLE

    def _function(self, cmd):
        self._state = _IDLE
        if cmd == 0x44:  # CONVERT T
            self.conversions += 1
            self.measured = float(self.temperature)
            self._temp = self._encode(self.measured)
        elif cmd == 0xBE:  # READ SCRATCHPAD
            self._send(self.scratchpad())
        elif cmd == 0x4E:  # WRITE SCRATCHPAD
            self._state = _RECV
            self._recv = []
        elif cmd == 0x48:  # COPY SCRATCHPAD
            self.eeprom = (self.th, self.tl, self.config)
        elif cmd == 0xB8:  # RECALL E2
            self.th, self.tl, self.config = self.eeprom
        elif cmd == 0xB4:  # READ POWER SUPPLY: externally powered
            self._send(b"\xff")

    def _received(self, byte):
        self._recv.append(byte)
        if len(self._recv) == (2 if self.rom[0] == 0x10 else 3):
            self.th, self.tl = self._recv[0], self._recv[1]
            if len(self._recv) == 3:
                self.config = (self._recv[2] & 0x60) | 0x1F
            self._state = _IDLE
