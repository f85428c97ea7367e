"""make flash and the virtual board's bootloader: the real esptool over RFC 2217 on loopback, with
its flasher stub (played by the simulator) or with --no-stub (the ROM alone), detects the chip,
erases, writes, reads back and verifies by MD5, and what it wrote boots."""

import hashlib
import json
import os
import random
import subprocess

import pytest

from test_serial_board import MICROPYTHON, SerialBoard
from test_tools_deploy import CONFIG, ROOT, VENV_BIN, tool, write_config

pytestmark = pytest.mark.filterwarnings("ignore:set(Daemon|Name)\\(\\) is deprecated:DeprecationWarning")

ESPTOOL = os.path.join(VENV_BIN, "esptool")


def fake_firmware(tmp_path):
    fw = tmp_path / "micropython.bin"
    fw.write_bytes(bytes(range(256)) * 1200)  # 300 KiB standing for MicroPython
    return fw


def esptool(*args, timeout=120):
    """The real esptool's completed process (text)."""
    cmd = [ESPTOOL] + [str(a) for a in args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def sim_mac(board_id="sim-0001"):
    n = 0  # simboard's MAC for a board id, which network.WLAN reports too
    for ch in board_id:
        n = (n * 31 + ord(ch)) & 0xFFFFFF
    return "24:6f:28:%02x:%02x:%02x" % (n >> 16, n >> 8 & 255, n & 255)


def flash_image(tmp_path, board):
    """FLASH.bin once the simulator saved it (after the reset that ends a download session)."""
    board.said("simulator: flash written")
    return (tmp_path / "FLASH.bin").read_bytes()


@pytest.fixture
def board(tmp_path):
    b = SerialBoard(tmp_path, "cpython")
    yield b
    b.stop()


def test_esptool_without_its_stub_detects_an_esp32_with_the_boards_mac_from_the_rom(board):
    r = esptool("--port", board.url, "--no-stub", "read-mac", timeout=90)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Detecting chip type... ESP32" in r.stdout
    assert "ESP32-D0WD-V3 (revision v3.0)" in r.stdout
    assert "MAC:                %s" % sim_mac() in r.stdout
    assert "stub" not in r.stdout
    board.wait_console(b"waiting for download")  # the ROM's banner, as a real ESP32 prints it


def test_esptool_runs_its_stub_which_stays_until_a_reset_brings_back_the_rom(board):
    r = esptool("--port", board.url, "--after", "no-reset-stub", "read-mac")
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout
    assert "Uploading stub flasher...\nRunning stub flasher...\nStub flasher running." in out
    assert out.count("MAC:                %s" % sim_mac()) == 2  # read by the ROM, then by the stub
    assert "Staying in flasher stub." in out
    board.said("simulator: RAM code started (")
    # No reset: the stub answers SYNC, as a stub does, and esptool does not upload it again.
    r = esptool("--port", board.url, "--before", "no-reset", "--after", "no-reset-stub", "read-mac")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Stub flasher is already running. No upload is necessary." in r.stdout
    assert "MAC:                %s" % sim_mac() in r.stdout
    # esptool's reset (DTR/RTS) restarts the chip: its ROM again, which needs the stub uploaded.
    r = esptool("--port", board.url, "--after", "no-reset", "read-mac")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Uploading stub flasher..." in r.stdout and "Stub flasher running." in r.stdout
    board.said("simulator: the flasher stub reset the chip: the ROM bootloader waits for a download")


def test_esptool_stub_writes_compressed_at_a_faster_baud_verifies_and_reads_back(board, tmp_path):
    fw = tmp_path / "app.bin"
    data = bytes(range(256)) * 400 + random.Random(7).randbytes(40000)  # several compressed blocks
    fw.write_bytes(data)
    board.wait_console(b"app: started")
    fast = ["--port", board.url, "--baud", "460800", "--after", "no-reset"]
    r = esptool(*fast, "write-flash", "--compress", "0x10000", fw)
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout
    assert "Stub flasher running." in out
    assert "Changing baud rate to 460800...\nChanged." in out
    assert "Wrote %d bytes (" % len(data) in out and " compressed) at 0x00010000 in " in out
    assert "Hash of data verified." in out
    # Verify this file and, at another address, one the flash does not hold: the MD5s are real.
    other = tmp_path / "other.bin"
    other.write_bytes(data[:4096])
    stay = ["--port", board.url, "--before", "no-reset", "--after", "no-reset"]
    r = esptool(*stay, "verify-flash", "0x10000", fw, "0x80000", other)
    assert r.returncode != 0
    assert r.stdout.count("Verification successful (digest matched).") == 1, r.stdout + r.stderr
    assert "Verification failed (digest mismatch)." in r.stdout
    # A reset into the bootloader first (which saves the flash), so the hard reset after it boots.
    back = tmp_path / "back.bin"
    r = esptool("--port", board.url, "read-flash", "0x10000", "20000", back)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Read 20000 bytes from 0x00010000" in r.stdout
    assert back.read_bytes() == data[:20000]  # 4 packets of 4096 bytes and one of 3616, then the MD5
    assert flash_image(tmp_path, board)[0x10000 : 0x10000 + len(data)] == data
    board.wait_console(b"app: started", count=2)


def test_esptool_stub_erases_the_whole_flash_and_the_filesystem_with_it(board, tmp_path):
    (tmp_path / "FLASH.bin").write_bytes(b"\x00" * 4 * 1024 * 1024)  # anything but erased
    board.wait_console(b"app: started")
    r = esptool("--port", board.url, "erase-flash")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Stub flasher running." in r.stdout
    assert "Flash memory erased successfully in " in r.stdout
    assert flash_image(tmp_path, board) == b"\xff" * 4 * 1024 * 1024
    board.said("simulator: no littlefs at 0x200000: the board's filesystem is empty")
    board.wait_console(b"app: started", count=2)  # the hard reset after it booted the board again


def test_make_flash_refuses_a_board_file_for_another_chip(board, tmp_path):
    fw = fake_firmware(tmp_path)
    cmd = ["make", "-s", "flash", "PORT=" + board.url, "BOARD=esp32-s3-devkitc", "FIRMWARE=%s" % fw]
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert r.returncode != 0
    said = "the board on this port is an ESP32, but board file esp32-s3-devkitc is for an ESP32-S3"
    assert said in r.stderr, r.stdout + r.stderr
    assert not (tmp_path / "FLASH.bin").exists()  # nothing written


def test_flash_refuses_a_firmware_that_runs_into_the_filesystem(tmp_path):
    big = tmp_path / "big.bin"
    big.write_bytes(b"\0" * (2 * 1024 * 1024))
    r = tool("flash", "--port", "rfc2217://127.0.0.1:9", "--board", "esp32-devkitc", "--firmware", str(big))
    assert r.returncode == 2
    assert "runs into the filesystem at 0x200000: wrong board or firmware" in r.stderr


def test_flash_without_its_firmware_file_says_so(tmp_path):
    missing = str(tmp_path / "nope.bin")
    r = tool("flash", "--port", "rfc2217://127.0.0.1:9", "--board", "esp32-devkitc", "--firmware", missing)
    assert r.returncode == 2
    assert "firmware file %s does not exist" % missing in r.stderr


def test_flash_without_deploy_writes_and_verifies_through_the_stub(board, tmp_path):
    fw = fake_firmware(tmp_path)
    args = ["--port", board.url, "--board", "esp32-devkitc", "--firmware", str(fw), "--no-deploy"]
    r = tool("flash", *args, timeout=400)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "ESP32 on %s, MAC %s" % (board.url, sim_mac()) in r.stdout
    assert "wrote %s (307200 bytes) at 0x1000" % fw in r.stdout
    assert "verified: the flash matches %s (MD5)" % fw in r.stdout
    next_step = "next: make deploy PORT=%s BOARD=esp32-devkitc CONFIG=config.json" % board.url
    assert r.stdout.rstrip().endswith(next_step)
    board.said("simulator: RAM code started (")  # esptool's stub did the work
    assert flash_image(tmp_path, board)[0x1000 : 0x1000 + 307200] == fw.read_bytes()


def test_make_image_flashed_with_esptool_is_verified_and_boots(tmp_path):
    # The ROM path: --no-stub, where an erase is a compressed write of 0xFF over the whole flash.
    if not os.path.exists(MICROPYTHON):
        pytest.skip("the MicroPython interpreter is not installed: make setup")
    fw = fake_firmware(tmp_path)
    out = tmp_path / "image.bin"
    r = tool(
        "image",
        "--board",
        "esp32-devkitc",
        "--firmware",
        str(fw),
        "--config",
        write_config(tmp_path),
        "--out",
        str(out),
    )
    assert r.returncode == 0, r.stdout + r.stderr
    b = SerialBoard(tmp_path, "micropython")
    try:
        cmd = ["--port", b.url, "--board", "esp32-devkitc", "--firmware", str(out), "--no-stub", "--erase"]
        r = tool("flash", *cmd, timeout=400)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "ESP32 on %s" % b.url in r.stdout and "flash erased" in r.stdout
        assert "wrote %s (4194304 bytes) at 0x0" % out in r.stdout
        assert "verified: the flash matches" in r.stdout
        image = out.read_bytes()
        flash = (tmp_path / "FLASH.bin").read_bytes()
        assert hashlib.md5(flash).hexdigest() == hashlib.md5(image).hexdigest()
        # The hard reset after verifying boots the app from the image's littlefs.
        assert json.loads((b.flash / "config.json").read_text())["device_id"] == CONFIG["device_id"]
        assert (b.flash / "app" / "node.mpy").exists() and not (b.flash / "app" / "node.py").exists()
        b.wait_console(b"INFO app: dev-7 on ESP32-DevKitC", timeout=60)
    finally:
        b.stop()


def test_a_romfs_image_flashed_runs_its_code_from_the_romfs_partition(tmp_path):
    # make image ROMFS=1: the compiled code in a partition labelled romfs, mapped at /rom at boot
    # (the firmware's MICROPY_VFS_ROM); the filesystem holds only boot.py, main.py and the JSON.
    if not os.path.exists(MICROPYTHON):
        pytest.skip("the MicroPython interpreter is not installed: make setup")
    from host_tools import boardio, partitions

    fw = fake_firmware(tmp_path)
    out = tmp_path / "image.bin"
    cmd = ["--board", "esp32-devkitc", "--firmware", str(fw), "--config", write_config(tmp_path)]
    r = tool("image", *cmd, "--out", str(out), "--romfs")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "modules in ROMFS at 0x200000" in r.stdout and "MICROPY_VFS_ROM" in r.stdout
    data = out.read_bytes()
    table = partitions.parse(data[0x8000 : 0x8000 + 0xC00])
    romfs, vfs = partitions.find(table, "romfs"), partitions.find(table, "vfs")
    assert romfs["offset"] == 0x200000 and romfs["size"] % 0x10000 == 0 and romfs["type"] == partitions.DATA
    assert vfs["offset"] == romfs["offset"] + romfs["size"] and vfs["offset"] + vfs["size"] == len(data)
    assert data[romfs["offset"] : romfs["offset"] + 3] == b"\xd2\xcd\x31"  # a ROMFS image
    b = SerialBoard(tmp_path, "micropython")
    try:
        r = tool("flash", "--port", b.url, "--board", "esp32-devkitc", "--firmware", str(out), timeout=400)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "verified: the flash matches" in r.stdout
        b.said("simulator: a ROMFS partition of %d bytes at 0x200000, mounted at /rom" % romfs["size"])
        names = {p.name for p in b.flash.iterdir()}
        assert {"boot.py", "main.py", "board.json", "config.json"} <= names, names
        assert not {"app", "ws", "compat.mpy"} & names, names  # the code is in the ROMFS partition
        b.wait_console(b"INFO app: dev-7 on ESP32-DevKitC", timeout=60)
        where = boardio.mpremote(
            b.path,
            "resume",
            "exec",
            "import app.node, ws.client; print(app.node.__file__, ws.client.__file__)",
        )
        assert where.split() == ["/rom/app/node.mpy", "/rom/ws/client.mpy"]
        # make doctor and make deploy see the code in /rom as the board's: up to date
        from host_tools.doctor import compare

        same, differ, missing, extra = compare(boardio.build(), boardio.board_hashes(b.path))
        assert "app/node.mpy" in same and not differ and not missing and not extra
    finally:
        b.stop()


def test_make_flash_erases_writes_verifies_then_deploys_the_app_which_boots(tmp_path):
    if not os.path.exists(MICROPYTHON):
        pytest.skip("the MicroPython interpreter is not installed: make setup")
    fw = fake_firmware(tmp_path)
    cfg = write_config(tmp_path)
    (tmp_path / "FLASH.bin").write_bytes(b"\x00" * 4 * 1024 * 1024)  # old contents the erase removes
    b = SerialBoard(tmp_path, "micropython")
    try:
        cmd = ["make", "-s", "flash", "PORT=" + b.url, "BOARD=esp32-devkitc", "FIRMWARE=%s" % fw, "ERASE=1"]
        cmd += ["CONFIG=" + cfg]  # no ARGS=--no-stub: esptool runs its flasher stub
        r = subprocess.run(
            cmd, cwd=ROOT, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL
        )
        assert r.returncode == 0, r.stdout + r.stderr
        out = r.stdout
        # In this order: erase, write at the chip's offset, verify, then the deploy of the app.
        steps = ["flash erased (4194304 bytes)", "wrote %s (307200 bytes) at 0x1000" % fw]
        steps += ["verified: the flash matches", "deploying the application:", "  copy app/node.mpy"]
        steps += ["INFO app: dev-7 on ESP32-DevKitC"]
        at = [out.find(s) for s in steps]
        assert -1 not in at and at == sorted(at), out
        b.said("simulator: RAM code started (")  # the stub, not the ROM, did the work
        flash = (tmp_path / "FLASH.bin").read_bytes()
        assert flash[0x1000 : 0x1000 + 307200] == fw.read_bytes()
        assert set(flash[:0x1000]) == set(flash[0x1000 + 307200 :]) == {0xFF}  # erased, the old 0s gone
        assert json.loads((b.flash / "config.json").read_text())["device_id"] == CONFIG["device_id"]
        assert (b.flash / "app" / "node.mpy").exists() and (b.flash / "main.py").exists()
    finally:
        b.stop()


def test_make_flash_refuses_an_invalid_config_before_writing_anything(board, tmp_path):
    fw = fake_firmware(tmp_path)
    bad = write_config(tmp_path, dict(CONFIG, server="http://example.invalid/"), name="bad.json")
    cmd = ["make", "-s", "flash", "PORT=" + board.url, "BOARD=esp32-devkitc", "FIRMWARE=%s" % fw]
    cmd += ["CONFIG=" + bad]
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert r.returncode != 0
    assert "server" in r.stderr and "ws://" in r.stderr, r.stderr
    assert not (tmp_path / "FLASH.bin").exists()  # nothing written
