"""ESP-IDF partition tables (the binary at 0x8000): read one, and write the layout of an image whose
application code is in a ROMFS partition.

An entry is 32 bytes: the magic AA 50, type, subtype, offset and size (little-endian), a label of
16 bytes (NUL-padded) and flags; then an entry EB EB with the MD5 of the entries before it; 0xFF up
to 3 KiB. MicroPython's ESP32 port mounts its filesystem from the data partition labelled "vfs" and,
with ROMFS support (MICROPY_VFS_ROM), maps the data partition labelled "romfs" at /rom.
"""

import hashlib
import struct

from host_tools.boardio import ToolError

TABLE_OFFSET = 0x8000
TABLE_SIZE = 0xC00
_ENTRY = struct.Struct("<2sBBII16sI")
_MAGIC = b"\xaa\x50"
_MD5 = b"\xeb\xeb" + b"\xff" * 14
APP, DATA = 0x00, 0x01
ROMFS_ALIGN = 0x10000  # the flash is mapped into the address space in 64 KiB pages


def build(entries):
    """The table's bytes for entries [(label, type, subtype, offset, size), ...]."""
    out = b""
    for label, kind, subtype, offset, size in entries:
        out += _ENTRY.pack(_MAGIC, kind, subtype, offset, size, label.encode(), 0)
    out += _MD5 + hashlib.md5(out).digest()
    return out + b"\xff" * (TABLE_SIZE - len(out))


def parse(data):
    """The entries of a table's bytes: [{label, type, subtype, offset, size}]; ToolError when
    they are not a partition table or its MD5 does not match."""
    out = []
    for at in range(0, TABLE_SIZE, _ENTRY.size):
        raw = data[at : at + _ENTRY.size]
        if raw[:2] == _MD5[:2]:
            if raw[16:32] != hashlib.md5(data[:at]).digest():
                raise ToolError("the partition table's MD5 does not match its entries")
            return out
        if raw[:2] == b"\xff\xff" or len(raw) < _ENTRY.size:
            break
        magic, kind, subtype, offset, size, label, _ = _ENTRY.unpack(raw)
        if magic != _MAGIC:
            raise ToolError(
                "no partition table at 0x%x (entry %d starts %s)" % (TABLE_OFFSET, len(out), raw[:2].hex())
            )
        out.append(
            dict(label=label.rstrip(b"\0").decode(), type=kind, subtype=subtype, offset=offset, size=size)
        )
    if not out:
        raise ToolError("no partition table at 0x%x" % TABLE_OFFSET)
    return out


def find(entries, label):
    """The entry labelled label, or None."""
    for e in entries:
        if e["label"] == label:
            return e
    return None


def romfs_layout(board, romfs_bytes):
    """The partitions of an image with a ROMFS partition of romfs_bytes (rounded up to 64 KiB)
    at the board's vfs_offset and the littlefs after it, to the flash's end; the application
    partition and the rest as in MicroPython's ESP32 tables."""
    size = -(-romfs_bytes // ROMFS_ALIGN) * ROMFS_ALIGN
    start = board["vfs_offset"]
    if start % ROMFS_ALIGN:
        raise ToolError("board file: vfs_offset 0x%x is not on a 64 KiB boundary, as ROMFS needs" % start)
    vfs = start + size
    if board["flash_size"] - vfs < 16 * 4096:
        raise ToolError(
            "the ROMFS image (%d bytes) leaves no room for the filesystem in %d bytes of flash"
            % (romfs_bytes, board["flash_size"])
        )
    return [
        ("nvs", DATA, 0x02, 0x9000, 0x6000),
        ("phy_init", DATA, 0x01, 0xF000, 0x1000),
        ("factory", APP, 0x00, 0x10000, start - 0x10000),
        ("romfs", DATA, 0x8F, start, size),
        ("vfs", DATA, 0x81, vfs, board["flash_size"] - vfs),
    ]
