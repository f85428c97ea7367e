"""The ESP32 ROM's serial bootloader (download mode) and esptool's flasher stub, sans I/O.

Espressif's documented protocol, as the real esptool speaks it: a request is
`0x00 op len(2) checksum(4) data`, a response `0x01 op len(2) value(4) data status`, both
little-endian and SLIP-framed (0xC0 ends a frame; 0xDB 0xDC and 0xDB 0xDD escape 0xC0 and 0xDB).
The ROM's status is 4 bytes (1 and its error code on failure, then 2 reserved bytes).

By default esptool uploads its flasher stub into RAM (MEM_BEGIN, MEM_DATA, MEM_END with the entry
point) and talks to it instead. The stub is Xtensa code that cannot run here, so FlasherStub plays
its part of the conversation: it greets with the SLIP frame "OHAI", answers SYNC with the value 0
(how esptool tells a stub from the ROM), ends every response with a 2-byte status (its error code,
0xC0..0xC9 or 0xFF, then 0), returns SPI_FLASH_MD5 as 16 raw bytes, erases the chip or a region
(ERASE_FLASH, ERASE_REGION), streams READ_FLASH in acknowledged packets followed by their MD5,
and, as the real one, checks lengths and checksums but not block sequence numbers, and
acknowledges a data block before writing it: an error found while writing (a corrupt deflate
stream, too much data) answers the next request instead. FLASH_END asking for
a reboot resets the chip into the ROM bootloader again, as esptool's `--after no-reset` expects;
so does EN (the caller makes a new RomLoader). Whatever RAM code MEM_END starts is taken for the
stub (no other code could run either); RAM code sent to the stub gets "command not implemented".

The flash is a bytearray the caller loads and saves; `written` lists the (start, end) ranges a
session erased or wrote, so the caller knows what to sync; `notes` has what to tell the user.

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
SECTOR = 4096  # the flash's erase unit
RAM = ((0x3FFAE000, 0x40000000), (0x40080000, 0x400C0000))  # the ESP32's DRAM and IRAM: code loads here

# Opcodes
FLASH_BEGIN, FLASH_DATA, FLASH_END = 0x02, 0x03, 0x04
MEM_BEGIN, MEM_END, MEM_DATA = 0x05, 0x06, 0x07
SYNC, WRITE_REG, READ_REG = 0x08, 0x09, 0x0A
SPI_SET_PARAMS, SPI_ATTACH, READ_FLASH_SLOW, CHANGE_BAUDRATE = 0x0B, 0x0D, 0x0E, 0x0F
FLASH_DEFL_BEGIN, FLASH_DEFL_DATA, FLASH_DEFL_END, SPI_FLASH_MD5 = 0x10, 0x11, 0x12, 0x13
ERASE_FLASH, ERASE_REGION, READ_FLASH, RUN_USER_CODE = 0xD0, 0xD1, 0xD2, 0xD3  # the stub's own

# The ROM's error codes (the second status byte)
INVALID_MESSAGE = 0x05  # also what an unsupported command gets
FAILED = 0x06
BAD_CHECKSUM = 0x07
FLASH_WRITE_ERR = 0x08
INFLATE_ERR = 0x0B
RAM_SIZE_ERR = 0x0E  # "Invalid RAM binary size"
RAM_ADDR_ERR = 0x0F  # "Invalid RAM binary address"

# The flasher stub's error codes (the first status byte; esptool reads them as 0xC000...)
STUB_BAD_DATA_LEN = 0xC0
STUB_BAD_DATA_CHECKSUM = 0xC1
STUB_BAD_BLOCKSIZE = 0xC2
STUB_INVALID_COMMAND = 0xC3  # also what an unknown command gets
STUB_FAILED_SPI_OP = 0xC4
STUB_NOT_IN_FLASH_MODE = 0xC6
STUB_INFLATE_ERROR = 0xC7
STUB_NOT_ENOUGH_DATA = 0xC8
STUB_TOO_MUCH_DATA = 0xC9
STUB_NOT_IMPLEMENTED = 0xFF

SYNC_VALUE = 0x20120707  # any non-zero value: a stub answers 0
CHECKSUM_SEED = 0xEF
STUB_GREETING = b"OHAI"
STUB_BLOCK_MAX = 0x4000  # esptool's block size for a stub, all the stub's receive buffer holds
READ_PACKET_MAX = 4096  # the stub's READ_FLASH buffer


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
    """(op, value, data, status, error) of one unframed response packet of the ROM."""
    _, op, size, value = struct.unpack("<BBHI", packet[:8])
    body = packet[8 : 8 + size]
    return op, value, body[:-4], body[-4], body[-3]


def decode_stub_response(packet):
    """(op, value, data, error) of one unframed response packet of the stub (error 0: success)."""
    _, op, size, value = struct.unpack("<BBHI", packet[:8])
    body = packet[8 : 8 + size]
    return op, value, body[:-2], body[-2]


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


def _in_ram(start, end):
    return any(lo <= start and end <= hi for lo, hi in RAM)


def _unescape(frame):
    return bytes(frame).replace(b"\xdb\xdc", b"\xc0").replace(b"\xdb\xdd", b"\xdb")


class RomLoader:
    """One download-mode session of an ESP32 over its UART: the ROM, then the stub esptool starts."""

    def __init__(self, flash, mac=b"\x24\x6f\x28\x00\x00\x01", baudrate=115200):
        self.flash = flash  # a bytearray: the whole SPI flash
        size_log2 = max(len(flash), 1).bit_length() - 1
        self.flash_id = (size_log2 << 16) | (0x40 << 8) | WINBOND  # JEDEC id as SPI W0 holds it
        self.regs = {MAGIC_REG: ESP32_MAGIC, UART_CLKDIV: round(40_000_000 / baudrate)}
        self.regs.update(esp32_efuses(mac))
        self.written = []  # (start, end) flash ranges this session erased or wrote
        self.notes = []  # what the simulator should tell its user
        self.reboot = False  # FLASH_END/FLASH_DEFL_END (or the stub's RUN_USER_CODE) left for the app
        self.stub = None  # the FlasherStub answering instead of the ROM, once MEM_END started it
        self.ram = []  # [start, bytearray, size announced] of each code segment MEM_BEGIN loads
        self._frame = None  # bytes of the frame being received; None between frames
        self._write = None  # [next offset, end, sequence expected, block size, inflater or None]
        self._mem = None  # [segment, sequence expected, block size] of the MEM_BEGIN in progress

    def feed(self, data):
        """Take serial bytes; the bytes to send back (every complete request answered)."""
        out = []
        data = bytes(data)
        at = 0
        while True:
            end = data.find(b"\xc0", at)
            if self._frame is not None:
                self._frame += data[at:] if end < 0 else data[at:end]
            if end < 0:
                break
            if self._frame:  # an empty frame is the gap between two
                packet = _unescape(self._frame)
                out.append(self.stub.request(packet) if self.stub else self._request(packet))
            self._frame = bytearray()
            at = end + 1
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
        if result == STUB_GREETING:  # MEM_END jumped into the uploaded stub: it says hello
            return self._reply(op) + slip_encode(STUB_GREETING)
        value, body = result or (0, b"")
        return self._reply(op, value, body)

    def _reply(self, op, value=0, body=b"", error=0):
        tail = bytes((1 if error else 0, error, 0, 0))
        return slip_encode(struct.pack("<BBHI", 1, op, len(body) + 4, value) + body + tail)

    # -- registers (the ROM's and the stub's READ_REG/WRITE_REG reach the same chip)

    def read_register(self, addr):
        """What READ_REG returns for addr."""
        if addr == SPI_BASE:
            return 0  # SPI_CMD: the user command finished at once
        return self.regs.get(addr, 0)

    def write_register(self, addr, value, mask):
        """WRITE_REG of one word; a SPI user command runs at once (RDID: the flash's JEDEC id)."""
        self.regs[addr] = (self.regs.get(addr, 0) & ~mask) | (value & mask)
        if addr == SPI_BASE and value & SPI_CMD_USR:
            command = self.regs.get(SPI_BASE + 0x24, 0) & 0xFFFF  # SPI_USR2: the command byte
            self.regs[SPI_BASE + 0x80] = self.flash_id if command == SPI_RDID else 0

    def erase(self, start, end):
        """Erase the flash from start to end (whole sectors) and remember the range."""
        self.flash[start:end] = b"\xff" * (end - start)
        self.written.append((start, end))

    def _read_reg(self, data, chk):
        (addr,) = struct.unpack("<I", data[:4])
        return self.read_register(addr), b""

    def _write_reg(self, data, chk):
        for at in range(0, len(data) - 15, 16):  # addr, value, mask, delay (us), possibly repeated
            self.write_register(*struct.unpack("<III", data[at : at + 12]))
        return None

    def _accept(self, data, chk):
        return None  # SPI_SET_PARAMS, SPI_ATTACH, CHANGE_BAUDRATE: nothing to model

    # -- flash

    def _begin(self, data, chk, inflate=False):
        erase, _, block, offset = struct.unpack("<IIII", data[:16])
        if block == 0 or offset + erase > len(self.flash):
            return FAILED
        end = min(len(self.flash), -(-(offset + erase) // SECTOR) * SECTOR)  # the ROM erases whole sectors
        self.erase(offset, end)
        self._write = [offset, end, 0, block, zlib.decompressobj() if inflate else None]
        return None

    def _block(self, data, chk, expected):
        # A FLASH_DATA or MEM_DATA block as the ROM checks it: (payload, None) or (None, its error).
        size, seq = struct.unpack("<II", data[:8])
        payload = data[16 : 16 + size]
        if expected is None or len(payload) != size:
            return None, INVALID_MESSAGE
        if checksum(payload) != chk & 0xFF:
            return None, BAD_CHECKSUM
        if seq != expected:
            return None, FAILED
        return payload, None

    def _data(self, data, chk):
        w = self._write
        payload, error = self._block(data, chk, w and w[2])
        if error:
            return error
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

    # -- RAM: code to run (esptool's flasher stub)

    def _mem_begin(self, data, chk):
        if len(data) != 16:
            return INVALID_MESSAGE
        size, blocks, block, offset = struct.unpack("<IIII", data)
        if not _in_ram(offset, offset + size):
            return RAM_ADDR_ERR
        if size == 0 or blocks * block < size:
            return RAM_SIZE_ERR
        segment = [offset, bytearray(), size]
        self.ram.append(segment)
        self._mem = [segment, 0, block]
        return None

    def _mem_data(self, data, chk):
        payload, error = self._block(data, chk, self._mem and self._mem[1])
        if error:
            return error
        segment, _, block = self._mem
        size = len(payload)
        if size > block or len(segment[1]) + size > segment[2]:
            return RAM_SIZE_ERR  # more than MEM_BEGIN announced
        segment[1] += payload
        self._mem[1] += 1
        return None

    def _mem_end(self, data, chk):
        if len(data) != 8:
            return INVALID_MESSAGE
        no_entry, entry = struct.unpack("<II", data)
        self._mem = None
        if no_entry:
            return None  # loaded, not run: the ROM waits for the next command
        loaded = [s for s in self.ram if s[0] <= entry < s[0] + len(s[1])]
        if not loaded or any(len(s[1]) != s[2] for s in self.ram):
            self.notes.append("MEM_END: no complete code was loaded at the entry point 0x%08x" % entry)
            return FAILED
        code = sum(len(s[1]) for s in self.ram)
        self.notes.append(
            "RAM code started (%d bytes, entry 0x%08x): the simulator answers as esptool's flasher stub"
            % (code, entry)
        )
        self.ram = []
        self._write = None
        self.stub = FlasherStub(self)
        return STUB_GREETING


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
    MEM_DATA: RomLoader._mem_data,
    MEM_END: RomLoader._mem_end,
}


class FlasherStub:
    """What esptool's flasher stub says over the UART once running, on the chip of a RomLoader."""

    def __init__(self, chip):
        self.chip = chip
        self.baudrate = None  # set by CHANGE_BAUDRATE (the line itself has no rate to change)
        self._write = None  # [next offset, bytes still to write, inflater or None]
        self._read = None  # [next offset, end, packet size, md5, size] of a READ_FLASH being sent
        self._after = None  # work done once the reply is out: bytes to send, or an error code
        self._deferred = 0  # the error of that work, which answers the next request

    def request(self, packet):
        """The bytes answering one unframed packet."""
        if self._read is not None:  # the host acknowledges READ_FLASH packets, nothing else
            return self._acknowledged(packet)
        if len(packet) < 8:
            return b""  # noise: no header to answer
        direction, op, size, chk = struct.unpack("<BBHI", packet[:8])
        data = packet[8:]
        if direction != 0:
            return self._reply(op, error=STUB_INVALID_COMMAND)
        if op == RUN_USER_CODE:
            self.chip.reboot = True  # unanswered: the chip leaves the stub for the application
            return b""
        if size != len(data) or size > STUB_BLOCK_MAX + 16:
            return self._reply(op, error=STUB_BAD_DATA_LEN)
        if self._deferred:
            error, self._deferred = self._deferred, 0
            return self._reply(op, error=error)  # this request is not carried out
        handler = _STUB_HANDLERS.get(op, FlasherStub._unknown)
        result = handler(self, data, chk)
        if isinstance(result, int):
            self._after = None
            return self._reply(op, error=result)
        value, body = result or (0, b"")
        reply = self._reply(op, value, body)
        after, self._after = self._after, None
        if after is not None:
            done = after()
            if isinstance(done, int):
                self._deferred = done
            else:
                reply += done
        return reply

    def _reply(self, op, value=0, body=b"", error=0):
        return slip_encode(struct.pack("<BBHI", 1, op, len(body) + 2, value) + body + bytes((error, 0)))

    def _unknown(self, data, chk):
        return STUB_INVALID_COMMAND  # READ_FLASH_SLOW and GET_SECURITY_INFO too, on an ESP32

    # -- as the ROM does

    def _sync(self, data, chk):
        if len(data) != 36:
            return STUB_BAD_DATA_LEN
        self._after = lambda: b"".join(self._reply(SYNC) for _ in range(7))  # 8 in all, value 0
        return None

    def _read_reg(self, data, chk):
        if len(data) != 4:
            return STUB_BAD_DATA_LEN
        return self.chip.read_register(struct.unpack("<I", data)[0]), b""

    def _write_reg(self, data, chk):
        if not data or len(data) % 16:
            return STUB_NOT_ENOUGH_DATA
        for at in range(0, len(data), 16):
            self.chip.write_register(*struct.unpack("<III", data[at : at + 12]))
        return None

    def _spi_attach(self, data, chk):
        return None if len(data) == 4 else STUB_BAD_DATA_LEN  # the stub takes no "is legacy" word

    def _spi_set_params(self, data, chk):
        return None if len(data) == 24 else STUB_BAD_DATA_LEN

    def _change_baudrate(self, data, chk):
        if len(data) != 8:
            return STUB_BAD_DATA_LEN
        self.baudrate = struct.unpack("<I", data[:4])[0]  # new rate, then the old one
        return None

    def _mem(self, data, chk):
        self.chip.notes.append("the flasher stub was sent RAM code to run: the simulator cannot run it")
        return STUB_NOT_IMPLEMENTED

    # -- flash

    def _begin(self, data, chk, inflate=False):
        if len(data) not in (16, 20):  # 20: with the "encrypted" word
            return STUB_BAD_DATA_LEN
        size, _, block, offset = struct.unpack("<IIII", data[:16])
        if block > STUB_BLOCK_MAX:
            return STUB_BAD_BLOCKSIZE
        if offset + size > len(self.chip.flash):
            return STUB_FAILED_SPI_OP  # the erase reaches beyond the flash
        if size:
            self.chip.erase(offset // SECTOR * SECTOR, -(-(offset + size) // SECTOR) * SECTOR)
        self._write = [offset, size, zlib.decompressobj() if inflate else None]
        return None

    def _data(self, data, chk):
        if len(data) < 16:
            return STUB_NOT_ENOUGH_DATA
        if self._write is None:
            return STUB_NOT_IN_FLASH_MODE
        if struct.unpack("<I", data[:4])[0] != len(data) - 16:
            return STUB_TOO_MUCH_DATA
        payload = data[16:]
        if checksum(payload) != chk:
            return STUB_BAD_DATA_CHECKSUM
        self._after = lambda: self._program(payload[: self._write[1]])  # padding past the end is dropped
        return None  # the sequence number is not checked: blocks are written in the order they come

    def _defl_data(self, data, chk):
        if len(data) < 16:
            return STUB_BAD_DATA_LEN
        if self._write is None:
            return STUB_NOT_IN_FLASH_MODE
        size = struct.unpack("<I", data[:4])[0]
        payload = data[16:]
        if size != len(payload):
            return STUB_BAD_DATA_LEN
        if self._write[1] == 0 and size > 4:  # all written: only the Adler-32 may still come
            return STUB_TOO_MUCH_DATA
        if checksum(payload) != chk:
            return STUB_BAD_DATA_CHECKSUM
        self._after = lambda: self._inflate(payload)
        return None

    def _inflate(self, payload):
        try:
            out = self._write[2].decompress(payload)
        except zlib.error:
            return STUB_INFLATE_ERROR
        if len(out) > self._write[1]:
            return STUB_TOO_MUCH_DATA
        return self._program(out)

    def _program(self, data):
        w = self._write
        self.chip.flash[w[0] : w[0] + len(data)] = data
        w[0] += len(data)
        w[1] -= len(data)
        return b""

    def _end(self, data, chk):
        if len(data) != 4:
            return STUB_BAD_DATA_LEN
        if self._write is None:
            return STUB_NOT_IN_FLASH_MODE
        if self._write[1]:
            return STUB_BAD_DATA_LEN  # not all the data FLASH_BEGIN announced came
        self._write = None
        if struct.unpack("<I", data)[0] == 0:  # reboot: esptool leaves the stub for the ROM this way
            self._after = self._leave
        return None

    def _leave(self):
        self.chip.stub = None
        self.chip.notes.append("the flasher stub reset the chip: the ROM bootloader waits for a download")
        return b""

    def _md5(self, data, chk):
        if len(data) != 16:
            return STUB_BAD_DATA_LEN
        addr, size = struct.unpack("<II", data[:8])
        if addr + size > len(self.chip.flash):
            return STUB_FAILED_SPI_OP
        return 0, hashlib.md5(self.chip.flash[addr : addr + size]).digest()  # raw, not hex as the ROM's

    def _erase_flash(self, data, chk):
        if data:
            return STUB_BAD_DATA_LEN
        self.chip.erase(0, len(self.chip.flash))
        return None

    def _erase_region(self, data, chk):
        if len(data) != 8:
            return STUB_BAD_DATA_LEN
        addr, size = struct.unpack("<II", data)
        if addr % SECTOR or size % SECTOR:
            return STUB_BAD_DATA_LEN
        if addr + size > len(self.chip.flash):
            return STUB_FAILED_SPI_OP
        if size:
            self.chip.erase(addr, addr + size)
        return None

    # -- READ_FLASH: packets of the flash, each acknowledged with the count received, then the MD5

    def _read_flash(self, data, chk):
        if len(data) != 16:
            return STUB_BAD_DATA_LEN
        offset, size, packet, _ = struct.unpack("<IIII", data)  # the last: packets in flight (1 here)
        self._after = lambda: self._start_read(offset, size, packet)
        return None

    def _start_read(self, offset, size, packet):
        if not 0 < packet <= READ_PACKET_MAX:
            return STUB_BAD_DATA_LEN
        self._read = [offset, offset + size, packet, hashlib.md5(), size]
        return self._next_packet(0)

    def _next_packet(self, acked):
        at, end, packet, md5, size = self._read
        if at >= end:
            return self._read_done() if acked >= size else b""
        n = min(packet, end - at)
        if at + n > len(self.chip.flash):
            self._read = None
            return STUB_FAILED_SPI_OP  # beyond the flash: the read stops there
        chunk = bytes(self.chip.flash[at : at + n])
        md5.update(chunk)
        self._read[0] += n
        return slip_encode(chunk)

    def _read_done(self):
        digest = self._read[3].digest()
        self._read = None
        return slip_encode(digest)

    def _acknowledged(self, packet):
        if len(packet) != 4:
            return self._read_done()  # not an acknowledgement: the stub stops sending
        sent = self._next_packet(struct.unpack("<I", packet)[0])
        if isinstance(sent, int):
            self._deferred = sent
            return b""
        return sent


_STUB_HANDLERS = {
    SYNC: FlasherStub._sync,
    READ_REG: FlasherStub._read_reg,
    WRITE_REG: FlasherStub._write_reg,
    SPI_ATTACH: FlasherStub._spi_attach,
    SPI_SET_PARAMS: FlasherStub._spi_set_params,
    CHANGE_BAUDRATE: FlasherStub._change_baudrate,
    MEM_BEGIN: FlasherStub._mem,
    MEM_DATA: FlasherStub._mem,
    MEM_END: FlasherStub._mem,
    FLASH_BEGIN: FlasherStub._begin,
    FLASH_DATA: FlasherStub._data,
    FLASH_END: FlasherStub._end,
    FLASH_DEFL_BEGIN: lambda self, data, chk: self._begin(data, chk, inflate=True),
    FLASH_DEFL_DATA: FlasherStub._defl_data,
    FLASH_DEFL_END: FlasherStub._end,
    SPI_FLASH_MD5: FlasherStub._md5,
    ERASE_FLASH: FlasherStub._erase_flash,
    ERASE_REGION: FlasherStub._erase_region,
    READ_FLASH: FlasherStub._read_flash,
}
