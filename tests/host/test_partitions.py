"""ESP-IDF partition tables: what make image --romfs writes at 0x8000, read back, and bad tables."""

import pytest

from host_tools import boardio, partitions
from host_tools.boardio import ToolError


def test_a_romfs_layout_round_trips_with_its_md5():
    board = boardio.load_board("esp32-devkitc")
    table = partitions.build(partitions.romfs_layout(board, 59_000))
    assert len(table) == partitions.TABLE_SIZE and table[-1] == 0xFF
    got = {e["label"]: e for e in partitions.parse(table)}
    assert list(got) == ["nvs", "phy_init", "factory", "romfs", "vfs"]
    assert (got["factory"]["type"], got["factory"]["offset"]) == (partitions.APP, 0x10000)
    assert got["factory"]["offset"] + got["factory"]["size"] == board["vfs_offset"] == got["romfs"]["offset"]
    assert got["romfs"]["size"] == 0x10000  # 59,000 bytes, rounded up to the 64 KiB the flash maps
    vfs = got["vfs"]
    assert vfs["offset"] == 0x210000 and vfs["offset"] + vfs["size"] == board["flash_size"]


def test_a_table_whose_md5_does_not_match_is_refused():
    table = bytearray(partitions.build(partitions.romfs_layout(boardio.load_board("esp32-devkitc"), 1000)))
    table[40] ^= 1  # a bit of the second entry's offset
    with pytest.raises(ToolError, match="MD5 does not match"):
        partitions.parse(bytes(table))


def test_an_erased_or_foreign_sector_is_not_a_table():
    with pytest.raises(ToolError, match="no partition table at 0x8000"):
        partitions.parse(b"\xff" * partitions.TABLE_SIZE)
    with pytest.raises(ToolError, match="no partition table at 0x8000"):
        partitions.parse(bytes(range(256)) * 12)


def test_a_romfs_image_too_large_for_the_flash_or_off_its_boundary_is_refused():
    board = boardio.load_board("esp32-devkitc")
    with pytest.raises(ToolError, match="leaves no room for the filesystem"):
        partitions.romfs_layout(board, board["flash_size"] - board["vfs_offset"])
    with pytest.raises(ToolError, match="not on a 64 KiB boundary"):
        partitions.romfs_layout(dict(board, vfs_offset=0x201000), 1000)
