"""The ESP32 ROM's serial bootloader (download mode), sans I/O: SLIP frames in, SLIP frames out.

Espressif's documented protocol, as the real `esptool --no-stub` speaks it: a request is
`0x00 op len(2) checksum(4) data`, a response `0x01 op len(2) value(4) data status(4)`, both
little-endian and SLIP-framed (0xC0 ends a frame; 0xDB 0xDC and 0xDB 0xDD escape 0xC0 and 0xDB).
The flash is a bytearray the caller loads and saves; `written` lists the (start, end) ranges a
session wrote, so the caller knows what to sync. The flasher stub esptool uploads by default is
Xtensa code and cannot run here: MEM_BEGIN is refused and `notes` says to pass --no-stub.

    rom = RomLoader(bytearray(b"\\xff" * 4 * 1024 * 1024), mac=bytes.fromhex("246f28000001"))
    reply = rom.feed(bytes_from_the_serial_port)  # bytes to send back (may be b"")
"""

import hashlib
import struct
import zlib

MAGIC_REG = 0x40001000  # esptool reads the chip-detect magic value here
ESP32_MAGIC = 0x00F01D83
EFUSE_BASE = 0x3FF5A000  # EFUSE_BLK0_RDATA0; word n at + 4n
APB_CTL_DATE = 0x3FF6607C  # bit 31: one of the three bits of the major chip revision
UART_CLKDIV = 0x3FF40014  # esptool estimates the crystal from it and the baud rate
SPI_BASE = 0x3FF42000  # SPI1, which esptool drives to read the flash chip's JEDEC id
SPI_CMD_USR = 1 << 18
SPI_RDID = 0x9F
WINBOND = 0xEF

# Opcodes
FLASH_BEGIN, FLASH_DATA, FLASH_END = 0x02, 0x03, 0x04
MEM_BEGIN, MEM_END, MEM_DATA = 0x05, 0x06, 0x07
SYNC, WRITE_REG, READ_REG = 0x08, 0x09, 0x0A
SPI_SET_PARAMS, SPI_ATTACH, READ_FLASH_SLOW, CHANGE_BAUDRATE = 0x0B, 0x0D, 0x0E, 0x0F
FLASH_DEFL_BEGIN, FLASH_DEFL_DATA, FLASH_DEFL_END, SPI_FLASH_MD5 = 0x10, 0x11, 0x12, 0x13

# The ROM's error codes (the second status byte)
INVALID_MESSAGE = 0x05  # also what an unsupported command gets
FAILED = 0x06
BAD_CHECKSUM = 0x07
FLASH_WRITE_ERR = 0x08
INFLATE_ERR = 0x0B

SYNC_VALUE = 0x20120707  # any non-zero value: a stub answers 0
CHECKSUM_SEED = 0xEF


def checksum(data):
    """The data checksum of FLASH_DATA, FLASH_DEFL_DATA and MEM_DATA: 0xEF xor every byte."""
    c = CHECKSUM_SEED
    for b in data:
        c ^= b
    return c


def slip_encode(packet):
    """One SLIP frame."""
    return b"\xc0" + packet.replace(b"\xdb", b"\xdb\xdd").replace(b"\xc0", b"\xdb\xdc") + b"\xc0"


def encode_request(op, data=b"", chk=0):
    """A request frame, as esptool sends it (for tests and tools)."""
    return slip_encode(struct.pack("<BBHI", 0, op, len(data), chk) + data)


def decode_response(packet):
    """(op, value, data, status, error) of one unframed response packet."""
    _, op, size, value = struct.unpack("<BBHI", packet[:8])
    body = packet[8 : 8 + size]
    return op, value, body[:-4], body[-4], body[-3]


def esp32_efuses(mac, major=3):
    """{register: value} of the eFuse words esptool reads from an ESP32 (v3.0 by default, ESP32-D0WD-V3)."""
    words = {
        1: int.from_bytes(mac[2:6], "big"),  # MAC bytes 2..5
        2: int.from_bytes(mac[0:2], "big"),  # MAC bytes 0..1 (the CRC byte above them left 0)
        3: (1 << 9) | ((major >= 1) << 15),  # package 1 (D0WD), revision bit 0
        5: (major >= 2) << 20,  # revision bit 1
    }
    regs = {EFUSE_BASE + 4 * n: v for n, v in words.items()}
    regs[APB_CTL_DATE] = (major >= 3) << 31
    return regs


class RomLoader:
    """One download-mode session of an ESP32's ROM over its UART."""

    def __init__(self, flash, mac=b"\x24\x6f\x28\x00\x00\x01", baudrate=115200):
        self.flash = flash  # a bytearray: the whole SPI flash
        size_log2 = max(len(flash), 1).bit_length() - 1
        self.flash_id = (size_log2 << 16) | (0x40 << 8) | WINBOND  # JEDEC id as SPI W0 holds it
        self.regs = {MAGIC_REG: ESP32_MAGIC, UART_CLKDIV: round(40_000_000 / baudrate)}
        self.regs.update(esp32_efuses(mac))
        self.written = []  # (start, end) flash ranges this session erased or wrote
        self.notes = []  # what the simulator should tell its user (a refused stub)
        self.reboot = False  # FLASH_END/FLASH_DEFL_END asked to leave the bootloader
        self._frame = None  # bytes of the frame being received; None between frames
        self._write = None  # [next offset, end, sequence expected, block size, inflater or None]

    def feed(self, data):
        """Take serial bytes; the bytes to send back (every complete request answered)."""
        out = []
        for b in data:
            if b == 0xC0:
                if self._frame:  # an empty frame is the gap between two
                    packet = bytes(self._frame).replace(b"\xdb\xdc", b"\xc0").replace(b"\xdb\xdd", b"\xdb")
                    out.append(self._request(packet))
                self._frame = bytearray()
            elif self._frame is not None:
                self._frame.append(b)
        return b"".join(out)

    def _request(self, packet):
        if len(packet) < 8 or packet[0] != 0:
            return b""  # noise, or a response echoed back: the ROM ignores it
        _, op, size, chk = struct.unpack("<BBHI", packet[:8])
        data = packet[8 : 8 + size]
        if op == SYNC:
            return b"".join(self._reply(op, value=SYNC_VALUE) for _ in range(8))
        handler = _HANDLERS.get(op)
        if handler is None:
            return self._reply(op, error=INVALID_MESSAGE)
        try:
            result = handler(self, data, chk)
        except (struct.error, IndexError):
            return self._reply(op, error=INVALID_MESSAGE)
        if isinstance(result, int):  # one of the ROM's error codes
            return self._reply(op, error=result)
        value, body = result or (0, b"")
        return self._reply(op, value, body)

    def _reply(self, op, value=0, body=b"", error=0):
        tail = bytes((1 if error else 0, error, 0, 0))
        return slip_encode(struct.pack("<BBHI", 1, op, len(body) + 4, value) + body + tail)

    # -- registers

    def _read_reg(self, data, chk):
        (addr,) = struct.unpack("<I", data[:4])
        if addr == SPI_BASE:
            return 0, b""  # SPI_CMD: the user command finished at once
        return self.regs.get(addr, 0), b""

    def _write_reg(self, data, chk):
        for at in range(0, len(data) - 15, 16):  # addr, value, mask, delay (us), possibly repeated
            addr, value, mask, _ = struct.unpack("<IIII", data[at : at + 16])
            self.regs[addr] = (self.regs.get(addr, 0) & ~mask) | (value & mask)
            if addr == SPI_BASE and value & SPI_CMD_USR:
                command = self.regs.get(SPI_BASE + 0x24, 0) & 0xFFFF  # SPI_USR2: the command byte
                self.regs[SPI_BASE + 0x80] = self.flash_id if command == SPI_RDID else 0
        return None

    def _accept(self, data, chk):
        return None  # SPI_SET_PARAMS, SPI_ATTACH, CHANGE_BAUDRATE: nothing to model

    # -- flash

    def _begin(self, data, chk, inflate=False):
        erase, _, block, offset = struct.unpack("<IIII", data[:16])
        if block == 0 or offset + erase > len(self.flash):
            return FAILED
        end = min(len(self.flash), -(-(offset + erase) // 4096) * 4096)  # the ROM erases whole sectors
        erase = end - offset
        self.flash[offset:end] = b"\xff" * erase
        self.written.append((offset, end))
        self._write = [offset, end, 0, block, zlib.decompressobj() if inflate else None]
        return None

    def _data(self, data, chk):
        size, seq = struct.unpack("<II", data[:8])
        payload = data[16 : 16 + size]
        if self._write is None or len(payload) != size:
            return INVALID_MESSAGE
        if checksum(payload) != chk & 0xFF:
            return BAD_CHECKSUM
        w = self._write
        if seq != w[2]:
            return FAILED
        if w[4] is not None:
            try:
                payload = w[4].decompress(payload)
            except zlib.error:
                return INFLATE_ERR
        if w[0] + len(payload) > w[1]:
            return FLASH_WRITE_ERR  # beyond what FLASH_BEGIN erased
        self.flash[w[0] : w[0] + len(payload)] = payload
        w[0] += len(payload)
        w[2] += 1
        return None

    def _end(self, data, chk):
        self._write = None
        if not data or struct.unpack("<I", data[:4])[0] == 0:
            self.reboot = True  # 0: reboot into the application
        return None

    def _md5(self, data, chk):
        addr, size = struct.unpack("<II", data[:8])
        if addr + size > len(self.flash):
            return FAILED
        return 0, hashlib.md5(self.flash[addr : addr + size]).hexdigest().encode()

    def _read_slow(self, data, chk):
        addr, size = struct.unpack("<II", data[:8])
        if size > 64 or addr + size > len(self.flash):
            return FAILED
        return 0, bytes(self.flash[addr : addr + size]).ljust(64, b"\xff")

    def _mem_begin(self, data, chk):
        self.notes.append("esptool's flasher stub cannot run in the simulator: pass --no-stub to esptool")
        return FAILED


_HANDLERS = {
    READ_REG: RomLoader._read_reg,
    WRITE_REG: RomLoader._write_reg,
    SPI_SET_PARAMS: RomLoader._accept,
    SPI_ATTACH: RomLoader._accept,
    CHANGE_BAUDRATE: RomLoader._accept,
    FLASH_BEGIN: RomLoader._begin,
    FLASH_DATA: RomLoader._data,
    FLASH_END: RomLoader._end,
    FLASH_DEFL_BEGIN: lambda self, data, chk: self._begin(data, chk, inflate=True),
    FLASH_DEFL_DATA: RomLoader._data,
    FLASH_DEFL_END: RomLoader._end,
    SPI_FLASH_MD5: RomLoader._md5,
    READ_FLASH_SLOW: RomLoader._read_slow,
    MEM_BEGIN: RomLoader._mem_begin,
}
