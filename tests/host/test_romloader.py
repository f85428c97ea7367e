"""The ESP32 ROM bootloader (simulator/romloader.py), fed raw request frames as esptool sends them."""

import hashlib
import struct
import zlib

from simulator import romloader as rl

MAC = bytes.fromhex("246f28a1b2c3")


def frames(data):
    """The unframed packets of a byte stream of SLIP frames."""
    out = []
    for part in data.split(b"\xc0"):
        if part:
            out.append(part.replace(b"\xdb\xdc", b"\xc0").replace(b"\xdb\xdd", b"\xdb"))
    return out


def ask(rom, op, data=b"", chk=0):
    """(value, data, status, error) of the one response to a request."""
    replies = frames(rom.feed(rl.encode_request(op, data, chk)))
    assert len(replies) == 1
    got_op, value, body, status, error = rl.decode_response(replies[0])
    assert got_op == op
    return value, body, status, error


def read_reg(rom, addr):
    value, _, status, _ = ask(rom, rl.READ_REG, struct.pack("<I", addr))
    assert status == 0
    return value


def new_rom(size=64 * 1024):
    return rl.RomLoader(bytearray(b"\xff" * size), MAC)


def test_sync_gets_the_eight_responses_esptool_waits_for():
    rom = new_rom()
    req = rl.encode_request(rl.SYNC, b"\x07\x07\x12\x20" + b"\x55" * 32)
    replies = frames(rom.feed(req[:10]) + rom.feed(req[10:]))  # split across reads, as a UART delivers
    assert len(replies) == 8
    for r in replies:
        op, value, _, status, _ = rl.decode_response(r)
        assert (op, status) == (rl.SYNC, 0) and value != 0  # non-zero: a ROM, not the stub


def test_chip_detection_magic_mac_and_revision_of_an_esp32():
    rom = new_rom()
    assert read_reg(rom, 0x40001000) == 0x00F01D83
    # esptool's ESP32ROM.read_mac: eFuse words 2 and 1, big-endian, the top two bytes a CRC
    words = struct.pack(">II", read_reg(rom, 0x3FF5A008), read_reg(rom, 0x3FF5A004))
    assert words[2:8] == MAC
    word3, word5 = read_reg(rom, 0x3FF5A00C), read_reg(rom, 0x3FF5A014)
    date = read_reg(rom, 0x3FF6607C)
    combined = (date >> 31 & 1) << 2 | (word5 >> 20 & 1) << 1 | (word3 >> 15 & 1)
    assert combined == 7  # major revision 3 (ESP32 ECO3)
    assert read_reg(rom, 0x12345678) == 0  # an unmodelled register reads 0


def test_write_reg_then_spi_rdid_reports_the_flash_size():
    rom = new_rom(4 * 1024 * 1024)
    usr2 = struct.pack("<IIII", 0x3FF42024, (7 << 28) | 0x9F, 0xFFFFFFFF, 0)
    run = struct.pack("<IIII", 0x3FF42000, 1 << 18, 0xFFFFFFFF, 0)
    assert ask(rom, rl.WRITE_REG, usr2)[2] == 0 and ask(rom, rl.WRITE_REG, run)[2] == 0
    assert read_reg(rom, 0x3FF42000) & (1 << 18) == 0  # the SPI command is done
    flash_id = read_reg(rom, 0x3FF42080)
    assert flash_id >> 16 == 0x16  # 2**22 bytes: 4 MB, as esptool's detect_flash_size decodes it


def test_flash_begin_data_end_writes_and_md5_matches():
    rom = new_rom()
    data = bytes(range(256)) * 6  # 1536 bytes: two 1024-byte blocks, the second padded by the host
    assert ask(rom, rl.SPI_ATTACH, b"\0" * 8)[2] == 0
    assert ask(rom, rl.FLASH_BEGIN, struct.pack("<IIII", len(data), 2, 1024, 0x1000))[2] == 0
    for seq in range(2):
        block = data[seq * 1024 : (seq + 1) * 1024].ljust(1024, b"\xff")
        req = struct.pack("<IIII", len(block), seq, 0, 0) + block
        assert ask(rom, rl.FLASH_DATA, req, rl.checksum(block))[2] == 0
    assert bytes(rom.flash[0x1000 : 0x1000 + len(data)]) == data
    _, body, status, _ = ask(rom, rl.SPI_FLASH_MD5, struct.pack("<IIII", 0x1000, len(data), 0, 0))
    assert status == 0 and body == hashlib.md5(data).hexdigest().encode()
    assert rom.written == [(0x1000, 0x2000)]  # whole 4 KiB sectors erased
    assert ask(rom, rl.FLASH_END, struct.pack("<I", 0))[2] == 0 and rom.reboot


def test_compressed_write_is_inflated_into_the_flash():
    rom = new_rom()
    data = b"micropython" * 500
    packed = zlib.compress(data, 9)
    assert ask(rom, rl.FLASH_DEFL_BEGIN, struct.pack("<IIII", 8192, 1, 1024, 0x2000))[2] == 0
    req = struct.pack("<IIII", len(packed), 0, 0, 0) + packed
    assert ask(rom, rl.FLASH_DEFL_DATA, req, rl.checksum(packed))[2] == 0
    assert bytes(rom.flash[0x2000 : 0x2000 + len(data)]) == data
    _, body, _, _ = ask(rom, rl.READ_FLASH_SLOW, struct.pack("<II", 0x2000, 11))
    assert body[:11] == b"micropython" and len(body) == 64


def test_bad_checksum_wrong_sequence_and_corrupt_deflate_are_refused():
    rom = new_rom()
    ask(rom, rl.FLASH_BEGIN, struct.pack("<IIII", 1024, 1, 1024, 0))
    block = b"\x01" * 1024
    req = struct.pack("<IIII", 1024, 0, 0, 0) + block
    assert ask(rom, rl.FLASH_DATA, req, rl.checksum(block) ^ 1)[2:] == (1, rl.BAD_CHECKSUM)
    late = struct.pack("<IIII", 1024, 5, 0, 0) + block
    assert ask(rom, rl.FLASH_DATA, late, rl.checksum(block))[2:] == (1, rl.FAILED)
    assert rom.flash[0] == 0xFF  # nothing written
    ask(rom, rl.FLASH_DEFL_BEGIN, struct.pack("<IIII", 4096, 1, 1024, 0))
    junk = b"not zlib at all"
    req = struct.pack("<IIII", len(junk), 0, 0, 0) + junk
    assert ask(rom, rl.FLASH_DEFL_DATA, req, rl.checksum(junk))[2:] == (1, rl.INFLATE_ERR)


def test_writes_beyond_the_flash_and_data_without_begin_are_refused():
    rom = new_rom(64 * 1024)
    assert ask(rom, rl.FLASH_BEGIN, struct.pack("<IIII", 4096, 4, 1024, 64 * 1024))[2:] == (1, rl.FAILED)
    block = b"\0" * 16
    req = struct.pack("<IIII", 16, 0, 0, 0) + block
    assert ask(rom, rl.FLASH_DATA, req, rl.checksum(block))[2:] == (1, rl.INVALID_MESSAGE)
    assert ask(rom, rl.SPI_FLASH_MD5, struct.pack("<IIII", 0, 128 * 1024, 0, 0))[2:] == (1, rl.FAILED)


def test_the_flasher_stub_and_unknown_commands_get_errors_and_a_note():
    rom = new_rom()
    assert ask(rom, rl.MEM_BEGIN, struct.pack("<IIII", 100, 1, 100, 0x40080000))[2:] == (1, rl.FAILED)
    assert "--no-stub" in rom.notes[0]
    assert ask(rom, 0xD0)[2:] == (1, rl.INVALID_MESSAGE)  # ERASE_FLASH: the stub's, not the ROM's


def test_escaped_bytes_and_noise_between_frames():
    rom = new_rom()
    # An address whose bytes need SLIP escapes (0xC0, 0xDB), after line noise outside any frame.
    value, _, _, _ = ask(rom, rl.READ_REG, struct.pack("<I", 0x40001000))
    assert value == 0x00F01D83
    req = struct.pack("<IIII", 0x3FF5A0C0, 0xDBC0, 0xFFFFFFFF, 0)
    assert frames(rom.feed(b"garbage" + rl.encode_request(rl.WRITE_REG, req)))
    assert read_reg(rom, 0x3FF5A0C0) == 0xDBC0
