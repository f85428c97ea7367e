"""The simulator's `esp32` fake behaves as MicroPython's ESP32 port: NVS, temperature, wake, partitions."""

import errno
import os
import sys
import time

import esp32
import simboard
from esp32 import NVS, Partition

from wsutil import raises

_made = [0]


class World(simboard.QuietWorld):
    def __init__(self, celsius=45.4):
        self.celsius = celsius

    def mcu_temperature(self):
        return self.celsius


def flash_folder():
    """A new empty folder under /tmp (MicroPython has no tempfile)."""
    _made[0] += 1
    path = "/tmp/sim-esp32-%d-%d" % (time.time_ns() // 1000, _made[0])
    os.mkdir(path)
    return path


def remove_tree(path):
    try:
        names = os.listdir(path)
    except OSError:
        return
    for name in names:
        try:
            os.remove(path + "/" + name)
        except OSError:
            remove_tree(path + "/" + name)
    os.rmdir(path)


class Flash:
    """A board with a fresh flash folder, removed again (with its NVS) at the end of a test."""

    def __enter__(self):
        self.board = simboard.use(simboard.SimBoard(flash_dir=flash_folder(), world=World()))
        return self.board

    def __exit__(self, *exc):
        remove_tree(self.board.flash_dir)
        remove_tree(self.board.flash_dir + ".nvs")
        return False


def esp_error(fn, *args):
    e = raises(OSError, fn, *args)
    return e.args


# ---- NVS


def test_committed_values_survive_a_reboot_outside_the_filesystem():
    with Flash() as board:
        nvs = NVS("app")
        nvs.set_i32("boots", 3)
        nvs.set_blob("token", b"\x00\x01secret")
        nvs.commit()
        again = NVS("app")  # after a reboot: a new object reads the flash
        assert again.get_i32("boots") == 3
        buf = bytearray(16)
        assert again.get_blob("token", buf) == 8 and buf[:8] == b"\x00\x01secret"
        assert os.listdir(board.flash_dir) == []  # NVS is its own partition, not a file in /
        assert os.stat(board.nvs_path("app"))


def test_uncommitted_changes_are_lost_at_a_reboot():
    with Flash():
        nvs = NVS("app")
        nvs.set_i32("boots", 4)
        assert nvs.get_i32("boots") == 4  # the same object sees its own change
        assert esp_error(NVS("app").get_i32, "boots") == (-4354, "ESP_ERR_NVS_NOT_FOUND")


def test_missing_keys_wrong_types_and_small_buffers_raise_the_ports_errors():
    with Flash():
        nvs = NVS("app")
        nvs.set_i32("n", -7)
        nvs.set_blob("b", "text")  # a str is stored as its bytes
        nvs.commit()
        e = raises(OSError, nvs.get_i32, "missing")
        assert e.errno == -4354 and e.args[1] == "ESP_ERR_NVS_NOT_FOUND"
        assert esp_error(nvs.get_blob, "n", bytearray(4)) == (-4355, "ESP_ERR_NVS_TYPE_MISMATCH")
        assert esp_error(nvs.get_i32, "b") == (-4355, "ESP_ERR_NVS_TYPE_MISMATCH")
        assert esp_error(nvs.get_blob, "b", bytearray(3)) == (-4364, "ESP_ERR_NVS_INVALID_LENGTH")
        raises(TypeError, nvs.get_blob, "b", b"read-only")
        buf = bytearray(4)
        assert nvs.get_blob("b", buf) == 4 and buf == b"text" and nvs.get_i32("n") == -7


def test_erase_key_removes_a_value_once_committed():
    with Flash():
        nvs = NVS("app")
        nvs.set_i32("n", 1)
        nvs.commit()
        nvs.erase_key("n")
        assert esp_error(nvs.get_i32, "n")[0] == -4354
        assert NVS("app").get_i32("n") == 1  # not committed yet
        nvs.commit()
        assert esp_error(NVS("app").get_i32, "n")[0] == -4354
        assert esp_error(nvs.erase_key, "n")[0] == -4354


def test_namespaces_are_separate():
    with Flash():
        a, b = NVS("a"), NVS("b")
        a.set_i32("k", 1)
        b.set_i32("k", 2)
        a.commit()
        b.commit()
        assert (NVS("a").get_i32("k"), NVS("b").get_i32("k")) == (1, 2)


def test_bad_nvs_arguments_raise_as_the_port():
    with Flash():
        nvs = NVS("app")
        assert esp_error(nvs.set_i32, "k" * 16, 1) == (-4361, "ESP_ERR_NVS_KEY_TOO_LONG")
        assert esp_error(NVS, "n" * 16)[0] == -4361
        raises(TypeError, NVS, 5)
        raises(TypeError, nvs.set_i32, 5, 1)
        raises(TypeError, nvs.set_i32, "k", 1.5)
        raises(OverflowError, nvs.set_i32, "k", 2**31)
        raises(TypeError, nvs.set_blob, "k", 12)
        nvs.set_i32("k", -(2**31))
        assert nvs.get_i32("k") == -(2**31)


def test_a_board_without_flash_has_no_nvs():
    simboard.use(simboard.SimBoard())
    assert esp_error(NVS, "app") == (-4353, "ESP_ERR_NVS_NOT_INITIALIZED")


# ---- the chip's temperature sensor


def load_esp32(chip):
    """esp32 imported afresh for a board of this chip; the module is detected once at import."""
    simboard.use(simboard.SimBoard(chip=chip, world=World(45.6)))
    saved = sys.modules.pop("esp32")
    try:
        return __import__("esp32")
    finally:
        sys.modules["esp32"] = saved


def test_an_esp32_has_raw_temperature_in_fahrenheit_only():
    mod = load_esp32("ESP32")
    assert mod.raw_temperature() == 114  # 45.6 C
    assert not hasattr(mod, "mcu_temperature")


def test_later_chips_have_mcu_temperature_in_celsius_only():
    mod = load_esp32("ESP32-S3")
    assert mod.mcu_temperature() == 46
    assert not hasattr(mod, "raw_temperature")


# ---- deep-sleep wake sources, heap figures


def test_wake_sources_are_recorded_on_the_board():
    board = simboard.use(simboard.SimBoard())
    esp32.wake_on_ext0(4, esp32.WAKEUP_ANY_HIGH)
    assert board.wake_sources["ext0"] == (4, True)
    assert raises(ValueError, esp32.wake_on_touch, True).args[0] == "no resources"
    assert raises(ValueError, esp32.wake_on_ext0, 5, 1).args[0] == "invalid pin"
    esp32.wake_on_ext0(None)
    esp32.wake_on_touch(True)
    esp32.wake_on_ext1((32, 33), esp32.WAKEUP_ALL_LOW)
    esp32.wake_on_ulp(False)
    assert board.wake_sources == {"ext0": None, "touch": True, "ext1": ((32, 33), False), "ulp": False}
    assert raises(ValueError, esp32.wake_on_ext0, 4, 1).args[0] == "no resources"


def test_idf_heap_info_lists_regions():
    data = esp32.idf_heap_info(esp32.HEAP_DATA)
    assert data and all(len(r) == 4 and r[0] >= r[1] >= r[2] for r in data)
    assert len(esp32.idf_heap_info(esp32.HEAP_EXEC)) == 1
    raises(TypeError, esp32.idf_heap_info, "data")


# ---- partitions


def test_the_partition_table_is_esp32_generic_4mib():
    simboard.use(simboard.SimBoard())
    running = Partition(Partition.RUNNING)
    assert running.info() == (0, 0, 0x10000, 0x1F0000, "factory", False)
    assert [p.info()[4] for p in Partition.find(Partition.TYPE_DATA)] == ["nvs", "phy_init", "vfs"]
    assert [p.info()[4] for p in Partition.find(Partition.TYPE_DATA, label="vfs")] == ["vfs"]
    assert Partition.find() and Partition("vfs").ioctl(4, 0) == 512 and Partition("vfs").ioctl(5, 0) == 4096
    assert raises(OSError, Partition, "ota_0").errno == errno.ENOENT
    assert raises(OSError, running.get_next_update).errno == errno.ENOENT
    raises(ValueError, Partition, 2)


def test_partition_blocks_read_erased_and_write_like_flash():
    simboard.use(simboard.SimBoard())
    vfs = Partition("vfs")
    buf = bytearray(8)
    vfs.readblocks(1, buf)
    assert buf == b"\xff" * 8
    vfs.writeblocks(1, b"\x0f" * 8)
    vfs.writeblocks(1, b"\xf1", 0)  # with an offset: no erase, bits only go from 1 to 0
    vfs.readblocks(1, buf)
    assert buf == b"\x01" + b"\x0f" * 7
    assert vfs.ioctl(6, 1) == 0
    vfs.readblocks(1, buf)
    assert buf == b"\xff" * 8
    assert raises(OSError, vfs.readblocks, 512, buf).args[0] == -0x104
