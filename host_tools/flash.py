"""make flash: write MicroPython (or a whole image from `make image`) to a board with the real esptool.

    python -m host_tools.flash --port /dev/ttyUSB0 --board esp32-devkitc --firmware micropython.bin \
        [--config config.json] [--erase] [--no-deploy]

Detects the chip and refuses a board file made for another one; optionally erases the flash; writes
the firmware at the board file's firmware_offset (a file exactly flash_size long is a merged image
and goes to 0); verifies it by MD5; then deploys the application (host_tools.deploy: compiled app,
board.json and the config), unless the file was a merged image, which holds the application already.
esptool runs its flasher stub on the chip (the simulator's virtual board answers as the stub does);
--no-stub talks to the ROM bootloader only: slower, and an erase is then a compressed write of 0xFF.
"""

import argparse
import os
import re
import subprocess
import tempfile

from host_tools import boardio, deploy, image
from host_tools.boardio import ToolError

_TIMEOUT_S = 600  # the ROM writes a 4 MB flash in minutes at 115200 baud


def esptool(port, args, no_stub=False, timeout=_TIMEOUT_S):
    """Run esptool on port; its output, or a ToolError with the end of what it said."""
    command = [a for a in args if a.endswith(("-flash", "-mac"))][0]
    cmd = [boardio.tool("esptool"), "--port", port] + (["--no-stub"] if no_stub else []) + args
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise ToolError("esptool %s on %s took longer than %d s" % (command, port, timeout))
    if r.returncode:
        said = (r.stderr.strip() + "\n" + r.stdout.strip()).strip()
        hint = ""
        if "Failed to start stub flasher" in said:
            hint = "\nesptool's flasher stub did not start on this board: try --no-stub (the ROM alone)"
        raise ToolError("esptool %s on %s failed: %s%s" % (command, port, said[-400:], hint))
    return r.stdout


def detect(port, no_stub=False):
    """(chip, MAC) of the board on port, as esptool reports them ("ESP32", "24:6f:28:..")."""
    out = esptool(port, ["--after", "no-reset", "read-mac"], no_stub, timeout=120)  # stays in the bootloader
    chip = re.search(r"Detecting chip type\.\.\.\s*(\S+)", out) or re.search(r"Connected to (\S+)", out)
    mac = re.search(r"MAC:\s*([0-9a-f:]{17})", out)
    if chip is None:
        raise ToolError("esptool did not say which chip is on %s: %s" % (port, out.strip()[-300:]))
    return chip.group(1), mac.group(1) if mac else None


def check_chip(chip, board, board_name):
    """Refuse a board file made for another chip."""
    if chip.lower().replace("-", "") != image.chip_name(board):
        raise ToolError(
            "the board on this port is an %s, but board file %s is for an %s: pass the BOARD= of this "
            "chip (boards/) or the port of the %s" % (chip, board_name, board["chip"], board["chip"])
        )


def plan(board, firmware):
    """The offset to write firmware at; ToolError for a missing file or one that does not fit."""
    size = image.check_firmware(board, firmware, merged_ok=True)
    return 0 if size == board["flash_size"] else board["firmware_offset"]  # a merged image: all of it


def flash(
    port, board_name, firmware, erase=False, no_stub=False, config_path=None, then_deploy=True, seconds=8.0
):
    """Detect, optionally erase, write, verify, then deploy; (chip, MAC, offset)."""
    board = boardio.load_board(board_name)
    offset = plan(board, firmware)
    boardio.check_port(port)
    if config_path:  # a config the board would refuse is refused before a minute of flashing
        _, warnings = boardio.load_config(config_path, board)
        for w in warnings:
            print("warning: %s" % w)
    chip, mac = detect(port, no_stub)
    check_chip(chip, board, board_name)
    print("%s on %s, MAC %s" % (chip, port, mac))
    # Each run after the first finds the chip still in its ROM bootloader (esptool's stub, when it ran,
    # resets into it at the end): no reset, no second handshake.
    stay = ["--chip", image.chip_name(board), "--before", "no-reset", "--after", "no-reset"]
    write = ["write-flash", "--compress"]  # the ESP32's ROM inflates too: far fewer, slow, round trips
    if erase and not no_stub:
        esptool(port, stay + ["erase-flash"])
    elif erase:  # the ROM has no erase command: write an erased flash, compressed to a few KB
        with tempfile.NamedTemporaryFile(suffix=".bin") as blank:
            blank.write(b"\xff" * board["flash_size"])
            blank.flush()
            esptool(port, stay + write + ["0", blank.name], True)
    if erase:
        print("flash erased (%d bytes)" % board["flash_size"])
    esptool(port, stay + write + ["0x%x" % offset, firmware], no_stub)
    print("wrote %s (%d bytes) at 0x%x" % (firmware, os.path.getsize(firmware), offset))
    # A reset into the bootloader first leaves DTR released, so the hard reset after it boots the chip.
    verify = stay[:2] + ["verify-flash", "0x%x" % offset, firmware]
    out = esptool(port, verify, no_stub)
    if "digest matched" not in out:
        raise ToolError("esptool verify-flash did not confirm the write: %s" % out.strip()[-300:])
    print("verified: the flash matches %s (MD5)" % firmware)
    if offset == 0:
        print("the image holds the application and its config: nothing to deploy")
    elif not then_deploy:
        print("next: make deploy PORT=%s BOARD=%s CONFIG=config.json" % (port, board_name))
    else:
        print("deploying the application:")
        deploy.deploy(port, board_name, config_path, seconds)
    return chip, mac, offset


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m host_tools.flash", description=__doc__.split("\n")[0])
    ap.add_argument("--port", required=True, help="serial device or rfc2217:// URL")
    ap.add_argument("--board", required=True, help="a boards/ name (esp32-devkitc) or a board file")
    ap.add_argument("--firmware", required=True, help="MicroPython .bin for the chip, or a make image file")
    ap.add_argument("--config", help="config.json to deploy with the application (validated before flashing)")
    ap.add_argument("--erase", action="store_true", help="erase the whole flash first (the filesystem too)")
    ap.add_argument("--no-deploy", action="store_true", help="only write MicroPython; deploy later")
    ap.add_argument("--seconds", type=float, default=8.0, help="how long to show the booted board's log")
    ap.add_argument("--no-stub", action="store_true", help="use the ROM bootloader only, not the stub")
    a = ap.parse_args(argv)
    flash(a.port, a.board, a.firmware, a.erase, a.no_stub, a.config, not a.no_deploy, a.seconds)


if __name__ == "__main__":
    boardio.run_main(main)
