"""The ESP32 ROM bootloader and esptool's flasher stub as the simulator plays it
(simulator/romloader.py), fed raw request frames as esptool sends them."""

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


def test_the_stubs_own_commands_are_unknown_to_the_rom():
    rom = new_rom()
    assert ask(rom, rl.ERASE_FLASH)[2:] == (1, rl.INVALID_MESSAGE)
    assert ask(rom, rl.READ_FLASH, struct.pack("<IIII", 0, 16, 4096, 64))[2:] == (1, rl.INVALID_MESSAGE)


def test_escaped_bytes_and_noise_between_frames():
    rom = new_rom()
    # An address whose bytes need SLIP escapes (0xC0, 0xDB), after line noise outside any frame.
    value, _, _, _ = ask(rom, rl.READ_REG, struct.pack("<I", 0x40001000))
    assert value == 0x00F01D83
    req = struct.pack("<IIII", 0x3FF5A0C0, 0xDBC0, 0xFFFFFFFF, 0)
    assert frames(rom.feed(b"garbage" + rl.encode_request(rl.WRITE_REG, req)))
    assert read_reg(rom, 0x3FF5A0C0) == 0xDBC0


# -- esptool's flasher stub: uploaded to the ROM, then answering in its place

TEXT_AT, DATA_AT = 0x400A8000, 0x3FFDED6C  # where esptool loads its ESP32 stub (IRAM, DRAM)


def upload(rom, data, at, block=0x1800):
    """MEM_BEGIN and MEM_DATA of one segment, as esptool's run_stub sends them; each status."""
    blocks = -(-len(data) // block)
    statuses = [ask(rom, rl.MEM_BEGIN, struct.pack("<IIII", len(data), blocks, block, at))[2:]]
    for seq in range(blocks):
        part = data[seq * block : (seq + 1) * block]
        req = struct.pack("<IIII", len(part), seq, 0, 0) + part
        statuses.append(ask(rom, rl.MEM_DATA, req, rl.checksum(part))[2:])
    return statuses


def started_stub(size=64 * 1024):
    """A RomLoader whose ROM ran the uploaded stub (its OHAI checked)."""
    rom = new_rom(size)
    assert set(upload(rom, bytes(range(256)) * 30, TEXT_AT) + upload(rom, b"\x11" * 300, DATA_AT)) == {(0, 0)}
    replies = frames(rom.feed(rl.encode_request(rl.MEM_END, struct.pack("<II", 0, TEXT_AT + 0x100))))
    assert len(replies) == 2 and replies[1] == b"OHAI"
    assert rl.decode_response(replies[0])[3] == 0  # MEM_END answered by the ROM, 4 status bytes
    return rom


def stub_replies(rom, op, data=b"", chk=0):
    """Every response (op, value, data, error) to one request, and what else came as frames."""
    out = []
    for packet in frames(rom.feed(rl.encode_request(op, data, chk))):
        out.append(rl.decode_stub_response(packet) if packet[:2] == bytes((1, op)) else packet)
    return out


def ask_stub(rom, op, data=b"", chk=0):
    """(value, data, error) of the stub's one response to a request (error 0: success)."""
    replies = stub_replies(rom, op, data, chk)
    assert len(replies) == 1, replies
    got_op, value, body, error = replies[0]
    assert got_op == op
    return value, body, error


def block(data, seq=0):
    return struct.pack("<IIII", len(data), seq, 0, 0) + data


def test_mem_end_with_an_entry_point_starts_the_stub_which_says_ohai_and_answers_sync_with_0():
    rom = started_stub()
    assert "entry 0x400a8100" in rom.notes[-1] and "flasher stub" in rom.notes[-1]
    replies = stub_replies(rom, rl.SYNC, b"\x07\x07\x12\x20" + b"\x55" * 32)
    assert replies == [(rl.SYNC, 0, b"", 0)] * 8  # value 0: how esptool knows a stub from the ROM
    raw = frames(rom.feed(rl.encode_request(rl.READ_REG, struct.pack("<I", rl.MAGIC_REG))))[0]
    # Status: 2 bytes (the ROM sends 4).
    assert raw == bytes((1, rl.READ_REG, 2, 0)) + struct.pack("<I", rl.ESP32_MAGIC) + b"\0\0"


def test_the_rom_checks_the_code_it_loads_and_runs():
    rom = new_rom()
    assert upload(rom, b"\0" * 64, 0x10000)[0] == (1, rl.RAM_ADDR_ERR)  # not RAM
    assert ask(rom, rl.MEM_DATA, block(b"\0" * 16), rl.checksum(b"\0" * 16))[2:] == (1, rl.INVALID_MESSAGE)
    assert ask(rom, rl.MEM_BEGIN, struct.pack("<IIII", 32, 1, 32, TEXT_AT))[2:] == (0, 0)
    part = b"\x5a" * 16
    assert ask(rom, rl.MEM_DATA, block(part), rl.checksum(part) ^ 1)[2:] == (1, rl.BAD_CHECKSUM)
    assert ask(rom, rl.MEM_DATA, block(part, seq=1), rl.checksum(part))[2:] == (1, rl.FAILED)
    assert ask(rom, rl.MEM_DATA, block(part), rl.checksum(part))[2:] == (0, 0)
    more = b"\x5a" * 32  # 48 bytes of the 32 announced
    assert ask(rom, rl.MEM_DATA, block(more, seq=1), rl.checksum(more))[2:] == (1, rl.RAM_SIZE_ERR)
    # Half of the code came: nothing runs, the ROM answers on.
    assert ask(rom, rl.MEM_END, struct.pack("<II", 0, TEXT_AT))[2:] == (1, rl.FAILED)
    assert "no complete code" in rom.notes[-1] and rom.stub is None
    assert ask(rom, rl.MEM_END, struct.pack("<II", 1, 0))[2:] == (0, 0)  # loaded, not run
    assert rom.stub is None and rl.decode_response(frames(rom.feed(rl.encode_request(rl.SYNC)))[0])[1] != 0


def test_stub_writes_compressed_data_and_its_md5_is_16_raw_bytes():
    rom = started_stub()
    rom.flash[0x3000:0x5000] = b"\0" * 0x2000  # old data around the write
    data = b"micropython" * 1000 + bytes(range(256)) * 8  # 13048 bytes from 0x3100: into 0x6000's sector
    packed = zlib.compress(data, 9)
    halves = (packed[:100], packed[100:])
    begin = struct.pack("<IIIII", len(data), 2, 0x4000, 0x3100, 0)  # 20 bytes: the stub takes "encrypted"
    assert ask_stub(rom, rl.FLASH_DEFL_BEGIN, begin)[2] == 0
    for seq, part in enumerate(halves):
        assert ask_stub(rom, rl.FLASH_DEFL_DATA, block(part, seq), rl.checksum(part))[2] == 0
    assert ask_stub(rom, rl.FLASH_DEFL_END, struct.pack("<I", 1))[2] == 0  # 1: stay in the stub
    assert bytes(rom.flash[0x3100 : 0x3100 + len(data)]) == data
    assert bytes(rom.flash[0x3000:0x3100]) == b"\xff" * 0x100  # the whole sector was erased first
    assert rom.written == [(0x3000, 0x7000)]
    _, body, error = ask_stub(rom, rl.SPI_FLASH_MD5, struct.pack("<IIII", 0x3100, len(data), 0, 0))
    assert error == 0 and body == hashlib.md5(data).digest()  # the ROM's is 32 hex characters
    assert rom.stub is not None


def test_stub_writes_only_what_flash_begin_announced_and_not_the_padding():
    rom = started_stub()
    data = bytes(range(256)) * 4
    assert ask_stub(rom, rl.FLASH_BEGIN, struct.pack("<IIIII", len(data), 1, 0x4000, 0x8000, 0))[2] == 0
    padded = data + b"\x00" * (0x4000 - len(data))  # esptool pads the last block
    assert ask_stub(rom, rl.FLASH_DATA, block(padded), rl.checksum(padded))[2] == 0
    assert ask_stub(rom, rl.FLASH_END, struct.pack("<I", 1))[2] == 0
    assert bytes(rom.flash[0x8000 : 0x8000 + 2048]) == data + b"\xff" * 1024


def test_stub_writes_blocks_in_arrival_order_whatever_their_sequence_number():
    # As the real stub: it keeps no sequence (the ROM refuses a wrong one with FAILED).
    rom = started_stub()
    assert ask_stub(rom, rl.FLASH_BEGIN, struct.pack("<IIII", 32, 2, 16, 0x1000))[2] == 0
    first, second = b"\x01" * 16, b"\x02" * 16
    assert ask_stub(rom, rl.FLASH_DATA, block(first, seq=7), rl.checksum(first))[2] == 0
    assert ask_stub(rom, rl.FLASH_DATA, block(second, seq=0), rl.checksum(second))[2] == 0
    assert bytes(rom.flash[0x1000:0x1020]) == first + second


def test_stub_refuses_bad_requests_with_its_own_error_codes():
    rom = started_stub(64 * 1024)
    part = b"\x01" * 64
    assert ask_stub(rom, rl.FLASH_DATA, block(part), rl.checksum(part))[2] == rl.STUB_NOT_IN_FLASH_MODE
    assert ask_stub(rom, rl.FLASH_END, struct.pack("<I", 1))[2] == rl.STUB_NOT_IN_FLASH_MODE
    beyond = struct.pack("<IIII", 8192, 1, 0x4000, 60 * 1024)
    assert ask_stub(rom, rl.FLASH_BEGIN, beyond)[2] == rl.STUB_FAILED_SPI_OP  # past the 64 KiB flash
    assert ask_stub(rom, rl.FLASH_BEGIN, struct.pack("<IIII", 64, 1, 0x8000, 0))[2] == rl.STUB_BAD_BLOCKSIZE
    assert ask_stub(rom, rl.FLASH_BEGIN, struct.pack("<III", 64, 1, 64))[2] == rl.STUB_BAD_DATA_LEN
    assert ask_stub(rom, rl.FLASH_BEGIN, struct.pack("<IIII", 128, 1, 0x4000, 0))[2] == 0
    assert ask_stub(rom, rl.FLASH_DATA, block(part), rl.checksum(part) ^ 1)[2] == rl.STUB_BAD_DATA_CHECKSUM
    lying = struct.pack("<IIII", 65, 0, 0, 0) + part  # says 65 bytes, carries 64
    assert ask_stub(rom, rl.FLASH_DATA, lying, rl.checksum(part))[2] == rl.STUB_TOO_MUCH_DATA
    assert ask_stub(rom, rl.FLASH_DATA, b"\0" * 8)[2] == rl.STUB_NOT_ENOUGH_DATA
    assert ask_stub(rom, rl.FLASH_END, struct.pack("<I", 1))[2] == rl.STUB_BAD_DATA_LEN  # 128 bytes missing
    assert rom.flash[:128] == b"\xff" * 128  # nothing refused was written
    # A frame whose length field lies, a frame too large for the stub, a response instead of a request.
    short = struct.pack("<BBHI", 0, rl.READ_REG, 8, 0) + struct.pack("<I", rl.MAGIC_REG)
    assert rl.decode_stub_response(frames(rom.feed(rl.slip_encode(short)))[0])[3] == rl.STUB_BAD_DATA_LEN
    huge = block(b"\0" * (rl.STUB_BLOCK_MAX + 1))
    assert ask_stub(rom, rl.FLASH_DATA, huge, rl.checksum(huge[16:]))[2] == rl.STUB_BAD_DATA_LEN
    echo = rl.slip_encode(struct.pack("<BBHI", 1, rl.READ_REG, 0, 0))
    assert rl.decode_stub_response(frames(rom.feed(echo))[0])[3] == rl.STUB_INVALID_COMMAND
    # Beyond the flash, a region not in whole sectors, commands a stub or an ESP32 does not have.
    md5 = struct.pack("<IIII", 0, 65 * 1024, 0, 0)
    assert ask_stub(rom, rl.SPI_FLASH_MD5, md5) == (0, b"", rl.STUB_FAILED_SPI_OP)  # no digest
    assert ask_stub(rom, rl.ERASE_REGION, struct.pack("<II", 60 * 1024, 8192))[2] == rl.STUB_FAILED_SPI_OP
    assert ask_stub(rom, rl.ERASE_REGION, struct.pack("<II", 100, 4096))[2] == rl.STUB_BAD_DATA_LEN
    assert ask_stub(rom, rl.SYNC, b"\x07\x07")[2] == rl.STUB_BAD_DATA_LEN
    assert ask_stub(rom, rl.READ_FLASH_SLOW, struct.pack("<II", 0, 16))[2] == rl.STUB_INVALID_COMMAND
    assert ask_stub(rom, 0xEE)[2] == rl.STUB_INVALID_COMMAND
    assert ask_stub(rom, rl.MEM_BEGIN, struct.pack("<IIII", 64, 1, 64, TEXT_AT))[2] == rl.STUB_NOT_IMPLEMENTED
    assert "cannot run it" in rom.notes[-1]
    assert ask_stub(rom, rl.READ_REG, struct.pack("<I", rl.MAGIC_REG))[0] == rl.ESP32_MAGIC  # still answers


def test_esptool_names_the_stubs_error_codes():
    from esptool.util import FatalError

    rom = started_stub()
    said = []
    for op, data in ((rl.FLASH_DATA, block(b"\1" * 4)), (rl.FLASH_BEGIN, b"\0" * 16)) * 2 + ((0xEE, b""),):
        raw = frames(rom.feed(rl.encode_request(op, data, 0)))[0]
        said.append(str(FatalError.WithResult("Failed", raw[8:])))  # status bytes, as check_command reads
    assert said[0] == "Failed (result was C600: Not in flash mode)"
    assert said[2] == "Failed (result was C100: Bad data checksum)"
    assert said[4] == "Failed (result was C300: Invalid command)"


def test_stub_reports_a_corrupt_deflate_stream_on_the_next_request():
    rom = started_stub()
    assert ask_stub(rom, rl.FLASH_DEFL_BEGIN, struct.pack("<IIII", 4096, 1, 0x4000, 0))[2] == 0
    junk = b"not zlib at all"
    # Acknowledged before it is inflated, as the real stub does; the error answers what comes next.
    assert ask_stub(rom, rl.FLASH_DEFL_DATA, block(junk), rl.checksum(junk))[2] == 0
    assert ask_stub(rom, rl.FLASH_DEFL_END, struct.pack("<I", 1))[2] == rl.STUB_INFLATE_ERROR
    assert ask_stub(rom, rl.FLASH_DEFL_END, struct.pack("<I", 1))[2] == rl.STUB_BAD_DATA_LEN  # none written
    assert rom.flash[:4096] == b"\xff" * 4096
    assert ask_stub(rom, rl.READ_REG, struct.pack("<I", rl.MAGIC_REG))[2] == 0


def test_stub_refuses_compressed_data_beyond_what_flash_begin_announced():
    rom = started_stub()
    packed = zlib.compress(b"\x42" * 2000)
    assert ask_stub(rom, rl.FLASH_DEFL_BEGIN, struct.pack("<IIII", 1000, 1, 0x4000, 0))[2] == 0
    assert ask_stub(rom, rl.FLASH_DEFL_DATA, block(packed), rl.checksum(packed))[2] == 0
    assert ask_stub(rom, rl.SPI_FLASH_MD5, struct.pack("<IIII", 0, 16, 0, 0))[2] == rl.STUB_TOO_MUCH_DATA
    assert rom.flash[:1000] == b"\xff" * 1000


def test_stub_erases_the_whole_flash_or_a_region():
    rom = started_stub(64 * 1024)
    rom.flash[:] = b"\0" * len(rom.flash)
    assert ask_stub(rom, rl.ERASE_REGION, struct.pack("<II", 0x2000, 0x1000))[2] == 0
    assert rom.flash[0x1FFF] == 0 and rom.flash[0x2000:0x3000] == b"\xff" * 0x1000 and rom.flash[0x3000] == 0
    assert ask_stub(rom, rl.ERASE_FLASH)[2] == 0
    assert rom.flash == b"\xff" * len(rom.flash)
    assert rom.written == [(0x2000, 0x3000), (0, 64 * 1024)]


def test_stub_read_flash_sends_packets_as_they_are_acknowledged_then_their_md5():
    rom = started_stub(64 * 1024)
    rom.flash[:] = bytes(range(256)) * 256
    want = bytes(rom.flash[0x100 : 0x100 + 10000])
    replies = stub_replies(rom, rl.READ_FLASH, struct.pack("<IIII", 0x100, 10000, 4096, 64))
    assert replies[0] == (rl.READ_FLASH, 0, b"", 0) and replies[1:] == [want[:4096]]  # one packet in flight
    got = replies[1]
    while len(got) < 10000:
        (packet,) = frames(rom.feed(rl.slip_encode(struct.pack("<I", len(got)))))
        got += packet
    assert got == want
    (digest,) = frames(rom.feed(rl.slip_encode(struct.pack("<I", len(got)))))
    assert digest == hashlib.md5(want).digest()
    assert ask_stub(rom, rl.READ_REG, struct.pack("<I", rl.MAGIC_REG))[2] == 0  # requests again


def test_stub_read_flash_beyond_the_flash_stops_there_and_says_so_next():
    rom = started_stub(64 * 1024)
    replies = stub_replies(rom, rl.READ_FLASH, struct.pack("<IIII", 60 * 1024, 8192, 4096, 64))
    assert replies[0][3] == 0 and len(replies[1]) == 4096
    assert rom.feed(rl.slip_encode(struct.pack("<I", 4096))) == b""  # the next packet is past the end
    assert ask_stub(rom, rl.READ_REG, struct.pack("<I", rl.MAGIC_REG))[2] == rl.STUB_FAILED_SPI_OP
    assert ask_stub(rom, rl.READ_REG, struct.pack("<I", rl.MAGIC_REG))[2] == 0


def test_stub_takes_spi_setup_registers_and_a_new_baud_rate():
    rom = started_stub(4 * 1024 * 1024)
    assert ask_stub(rom, rl.SPI_ATTACH, struct.pack("<I", 0))[2] == 0
    assert ask_stub(rom, rl.SPI_ATTACH, struct.pack("<II", 0, 0))[2] == rl.STUB_BAD_DATA_LEN  # the ROM's form
    params = struct.pack("<IIIIII", 0, 4 * 1024 * 1024, 64 * 1024, 4096, 256, 0xFFFF)
    assert ask_stub(rom, rl.SPI_SET_PARAMS, params)[2] == 0
    usr2 = struct.pack("<IIII", 0x3FF42024, (7 << 28) | 0x9F, 0xFFFFFFFF, 0)
    run = struct.pack("<IIII", 0x3FF42000, 1 << 18, 0xFFFFFFFF, 0)
    assert ask_stub(rom, rl.WRITE_REG, usr2 + run)[2] == 0  # two writes in one request
    assert ask_stub(rom, rl.READ_REG, struct.pack("<I", 0x3FF42080))[0] >> 16 == 0x16  # 4 MB
    assert ask_stub(rom, rl.WRITE_REG, b"\0" * 10)[2] == rl.STUB_NOT_ENOUGH_DATA
    assert ask_stub(rom, rl.CHANGE_BAUDRATE, struct.pack("<II", 460800, 115200))[2] == 0
    assert rom.stub.baudrate == 460800
    assert rom.feed(rl.encode_request(rl.RUN_USER_CODE)) == b"" and rom.reboot  # no answer: the app runs


def test_flash_end_asking_for_a_reboot_leaves_the_stub_for_the_rom():
    rom = started_stub()
    # esptool's --after no-reset with a stub: an empty FLASH_BEGIN, then FLASH_END 0 (reboot).
    assert ask_stub(rom, rl.FLASH_BEGIN, struct.pack("<IIIII", 0, 0, 0x4000, 0, 0))[2] == 0
    assert ask_stub(rom, rl.FLASH_END, struct.pack("<I", 0))[2] == 0
    assert rom.stub is None and "ROM bootloader" in rom.notes[-1] and not rom.written
    replies = frames(rom.feed(rl.encode_request(rl.SYNC, b"\x07\x07\x12\x20" + b"\x55" * 32)))
    assert len(replies) == 8 and rl.decode_response(replies[0])[1] == rl.SYNC_VALUE  # the ROM again
    assert ask(rom, rl.ERASE_FLASH)[2:] == (1, rl.INVALID_MESSAGE)
