"""make image: one merged flash image, the MicroPython firmware at the board's firmware_offset and a
littlefs filesystem (the compiled application, config.json, board.json) at its vfs_offset.

    python -m host_tools.image --board esp32-devkitc --firmware micropython.bin --config config.json
Flash many boards with it: esptool write-flash 0 build/image/esp32-devkitc.bin
"""

import argparse
import os
import subprocess

from host_tools import boardio, deploy
from host_tools.boardio import ToolError

BLOCK = 4096  # the ESP32's flash erase sector; MicroPython's littlefs v2 uses it as its block


def chip_name(board):
    """esptool's --chip name of a board file's chip ("ESP32-S3" -> "esp32s3")."""
    return board["chip"].lower().replace("-", "")


def littlefs_params(board):
    """The littlefs geometry MicroPython's ESP32 port mounts: the vfs partition to the flash's end."""
    size = board["flash_size"] - board["vfs_offset"]
    if size <= 0 or size % BLOCK or board["vfs_offset"] <= board["firmware_offset"]:
        raise ToolError(
            "board file: vfs_offset %d and flash_size %d leave no whole 4096-byte blocks for littlefs"
            % (board["vfs_offset"], board["flash_size"])
        )
    return dict(block_size=BLOCK, block_count=size // BLOCK, read_size=32, prog_size=32, lookahead_size=32)


def build_fs(files, board):
    """A littlefs image (bytes) holding files ({board path: local path})."""
    import littlefs

    fs = littlefs.LittleFS(**littlefs_params(board))
    for name in sorted(files):
        folder = ""
        for part in name.split("/")[:-1]:
            folder = folder + "/" + part if folder else part
            fs.makedirs(folder, exist_ok=True)
        with open(files[name], "rb") as src, fs.open(name, "wb") as dst:
            dst.write(src.read())
    return bytes(fs.context.buffer)


def check_firmware(board, firmware, merged_ok=False):
    """The size of a MicroPython firmware file for board; ToolError for a missing file or one that
    runs into the filesystem. merged_ok: a file exactly flash_size long (a merged image) is fine."""
    if not firmware:
        raise ToolError("no firmware given: pass FIRMWARE=path/to/micropython.bin for the %s" % board["chip"])
    if not os.path.isfile(firmware):
        raise ToolError(
            "firmware file %s does not exist: download MicroPython's .bin for the %s and pass FIRMWARE=path"
            % (firmware, board["chip"])
        )
    size = os.path.getsize(firmware)
    if merged_ok and size == board["flash_size"]:
        return size
    if board["firmware_offset"] + size > board["vfs_offset"]:
        raise ToolError(
            "firmware %s (%d bytes) at 0x%x runs into the filesystem at 0x%x: wrong board or firmware"
            % (firmware, size, board["firmware_offset"], board["vfs_offset"])
        )
    return size


def build_image(board_name, firmware, config_path, out=None, work=None, romfs=False):
    """Build the merged image; its path. romfs: the compiled code in a ROMFS partition (it runs
    from flash, out of the heap; the firmware needs MICROPY_VFS_ROM), the rest in littlefs."""
    board = boardio.load_board(board_name)
    check_firmware(board, firmware)
    if not config_path:
        raise ToolError("no config given: pass CONFIG=config.json (docs/config.md)")
    cfg, warnings = boardio.load_config(config_path, board)
    for w in warnings:
        print("warning: %s" % w)
    stem = os.path.splitext(os.path.basename(board_name))[0]
    out = out or os.path.join(boardio.ROOT, "build", "image", stem + ".bin")
    work = work or os.path.splitext(out)[0] + "-parts"  # the staged files and littlefs.bin, kept to inspect
    files = deploy.stage(board, cfg, os.path.join(work, "files"))
    if romfs:
        return _romfs_image(board, firmware, files, out, work)
    fs_path = os.path.join(work, "littlefs.bin")
    with open(fs_path, "wb") as f:
        f.write(build_fs(files, board))
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    cmd = [boardio.tool("esptool"), "--chip", chip_name(board), "merge-bin", "-o", out]
    cmd += ["0x%x" % board["firmware_offset"], firmware, "0x%x" % board["vfs_offset"], fs_path]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode:
        raise ToolError("esptool merge-bin failed: %s" % (r.stderr or r.stdout).strip())
    print(
        "%s: %d files in littlefs at 0x%x, firmware at 0x%x"
        % (out, len(files), board["vfs_offset"], board["firmware_offset"])
    )
    print("flash it: esptool --chip %s write-flash 0 %s" % (chip_name(board), out))
    return out


def _romfs_image(board, firmware, files, out, work):
    # The .mpy files in a ROMFS image (mpremote's builder) in a partition labelled "romfs" at the
    # board's vfs_offset; boot.py, main.py, config.json and board.json in the littlefs after it;
    # a partition table that says so at 0x8000, over the firmware's own.
    import contextlib
    import io
    import shutil

    from mpremote.romfs import make_romfs

    from host_tools import partitions

    code = os.path.join(work, "rom")
    shutil.rmtree(code, ignore_errors=True)
    rest = {}
    for name, path in files.items():
        if name.endswith(".mpy"):
            os.makedirs(os.path.dirname(os.path.join(code, name)), exist_ok=True)
            shutil.copyfile(path, os.path.join(code, name))
        else:
            rest[name] = path
    with contextlib.redirect_stdout(io.StringIO()):  # it prints the tree it builds
        rom = make_romfs(code, mpy_cross=False)
    table = partitions.build(partitions.romfs_layout(board, len(rom)))
    entries = partitions.parse(table)
    part, vfs = partitions.find(entries, "romfs"), partitions.find(entries, "vfs")
    fs = build_fs(rest, dict(board, vfs_offset=vfs["offset"]))
    image = bytearray(b"\xff" * board["flash_size"])
    with open(firmware, "rb") as f:
        fw = f.read()
    image[board["firmware_offset"] : board["firmware_offset"] + len(fw)] = fw
    t = partitions.TABLE_OFFSET
    image[t : t + partitions.TABLE_SIZE] = table
    image[part["offset"] : part["offset"] + len(rom)] = rom
    image[vfs["offset"] : vfs["offset"] + len(fs)] = fs
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "wb") as f:
        f.write(image)
    print(
        "%s: %d modules in ROMFS at 0x%x (%d bytes), %d files in littlefs at 0x%x, firmware at 0x%x"
        % (
            out,
            len(files) - len(rest),
            part["offset"],
            len(rom),
            len(rest),
            vfs["offset"],
            board["firmware_offset"],
        )
    )
    print("the firmware needs ROMFS support (MICROPY_VFS_ROM): it maps the partition labelled romfs at /rom")
    print("flash it: esptool --chip %s write-flash 0 %s" % (chip_name(board), out))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m host_tools.image", description=__doc__.split("\n")[0])
    ap.add_argument("--board", required=True, help="a boards/ name (esp32-devkitc) or a board file")
    ap.add_argument("--firmware", required=True, help="MicroPython firmware .bin for the board's chip")
    ap.add_argument("--config", required=True, help="config.json for the image (validated first)")
    ap.add_argument("--out", help="image file (default build/image/BOARD.bin)")
    ap.add_argument(
        "--romfs",
        action="store_true",
        help="the compiled code in a ROMFS partition, run from flash (firmware with MICROPY_VFS_ROM)",
    )
    a = ap.parse_args(argv)
    build_image(a.board, a.firmware, a.config, a.out, romfs=a.romfs)


if __name__ == "__main__":
    boardio.run_main(main)
