"""make flash and the virtual board's ROM bootloader: the real esptool (--no-stub) over RFC 2217 on
loopback detects the chip, writes and verifies by MD5, and a `make image` written that way boots."""

import hashlib
import json
import os
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


@pytest.fixture
def board(tmp_path):
    b = SerialBoard(tmp_path, "cpython")
    yield b
    b.stop()


def test_esptool_detects_an_esp32_with_the_boards_mac(board):
    r = subprocess.run(
        [ESPTOOL, "--port", board.url, "--no-stub", "read-mac"],
        capture_output=True,
        text=True,
        timeout=90,
        stdin=subprocess.DEVNULL,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Detecting chip type... ESP32" in r.stdout
    assert "ESP32-D0WD-V3 (revision v3.0)" in r.stdout
    n = 0  # simboard's MAC for the board id sim-0001, which network.WLAN reports too
    for ch in "sim-0001":
        n = (n * 31 + ord(ch)) & 0xFFFFFF
    assert "MAC:                24:6f:28:%02x:%02x:%02x" % (n >> 16, n >> 8 & 255, n & 255) in r.stdout
    board.wait_console(b"waiting for download")  # the ROM's banner, as a real ESP32 prints it


def test_make_flash_refuses_a_board_file_for_another_chip(board, tmp_path):
    fw = fake_firmware(tmp_path)
    cmd = ["make", "-s", "flash", "PORT=" + board.url, "BOARD=esp32-s3-devkitc", "FIRMWARE=%s" % fw]
    cmd.append("ARGS=--no-stub")
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


def test_flash_with_a_stub_tells_to_pass_no_stub(board, tmp_path):
    fw = fake_firmware(tmp_path)
    r = tool("flash", "--port", board.url, "--board", "esp32-devkitc", "--firmware", str(fw))
    assert r.returncode == 2 and "esptool read-mac on %s failed" % board.url in r.stderr
    assert r.stderr.rstrip().endswith("pass --no-stub")
    board.said("simulator: esptool's flasher stub cannot run in the simulator: pass --no-stub")


def test_make_image_flashed_with_esptool_is_verified_and_boots(tmp_path):
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


def test_make_flash_erases_writes_verifies_then_deploys_the_app_which_boots(tmp_path):
    if not os.path.exists(MICROPYTHON):
        pytest.skip("the MicroPython interpreter is not installed: make setup")
    fw = fake_firmware(tmp_path)
    cfg = write_config(tmp_path)
    b = SerialBoard(tmp_path, "micropython")
    try:
        cmd = ["make", "-s", "flash", "PORT=" + b.url, "BOARD=esp32-devkitc", "FIRMWARE=%s" % fw, "ERASE=1"]
        cmd += ["CONFIG=" + cfg, "ARGS=--no-stub"]
        r = subprocess.run(
            cmd, cwd=ROOT, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL
        )
        assert r.returncode == 0, r.stdout + r.stderr
        out = r.stdout
        # In this order: erase, write at the chip's offset, verify, then the deploy of the app.
        steps = ["flash erased", "wrote %s (307200 bytes) at 0x1000" % fw, "verified: the flash matches"]
        steps += ["deploying the application:", "  copy app/node.mpy", "INFO app: dev-7 on ESP32-DevKitC"]
        at = [out.find(s) for s in steps]
        assert -1 not in at and at == sorted(at), out
        flash = (tmp_path / "FLASH.bin").read_bytes()
        assert flash[0x1000 : 0x1000 + 307200] == fw.read_bytes()
        assert json.loads((b.flash / "config.json").read_text())["device_id"] == CONFIG["device_id"]
        assert (b.flash / "app" / "node.mpy").exists() and (b.flash / "main.py").exists()
    finally:
        b.stop()


def test_make_flash_refuses_an_invalid_config_before_writing_anything(board, tmp_path):
    fw = fake_firmware(tmp_path)
    bad = write_config(tmp_path, dict(CONFIG, server="http://example.invalid/"), name="bad.json")
    cmd = ["make", "-s", "flash", "PORT=" + board.url, "BOARD=esp32-devkitc", "FIRMWARE=%s" % fw]
    cmd += ["CONFIG=" + bad, "ARGS=--no-stub"]
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert r.returncode != 0
    assert "server" in r.stderr and "ws://" in r.stderr, r.stderr
    assert not (tmp_path / "FLASH.bin").exists()  # nothing written
