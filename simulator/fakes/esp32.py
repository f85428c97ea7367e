"""Fake of MicroPython's `esp32` module: NVS kept beside the board's flash, the chip's temperature
sensor, deep-sleep wake sources, the partition table and ESP-IDF heap figures.

- NVS: a JSON file per namespace (board().nvs_path(ns)), written atomically by commit().
  Changes are kept in the NVS object until commit(), so a reboot loses what was not committed,
  as the MicroPython docs warn. Errors are the port's: OSError(-4354, 'ESP_ERR_NVS_NOT_FOUND')
  for a missing key, -4355 for a key of the other type, -4364 for a too small buffer, -4361 for
  names over 15 characters, -4353 on a board without a flash folder.
- The temperature sensor follows the chip, read once at import as the firmware has one set of
  functions: raw_temperature() (an integer, in Fahrenheit) on an ESP32, mcu_temperature()
  (integer Celsius) on the ESP32-S2/S3/C3..., both from board().world.mcu_temperature().
- wake_on_*(): record their setting in board().wake_sources for machine.deepsleep.
- Partition: the ESP32_GENERIC 4 MiB table; blocks read and written in memory (erased = 0xFF,
  writes only clear bits), not persisted. No OTA slots, so get_next_update() raises ENOENT.
Portable: CPython and the MicroPython unix interpreter.
"""

import binascii as _binascii
import errno as _errno
import json as _json
import math as _math
import os as _os
import sys as _sys

import simboard as _simboard

_MPY = _sys.implementation.name == "micropython"

WAKEUP_ALL_LOW = False
WAKEUP_ANY_HIGH = True
HEAP_DATA = 4
HEAP_EXEC = 1

_ESP_ERRORS = {
    0x1101: "ESP_ERR_NVS_NOT_INITIALIZED",
    0x1102: "ESP_ERR_NVS_NOT_FOUND",
    0x1103: "ESP_ERR_NVS_TYPE_MISMATCH",
    0x1109: "ESP_ERR_NVS_KEY_TOO_LONG",
    0x110C: "ESP_ERR_NVS_INVALID_LENGTH",
}


def _esp_err(code):
    # The port's check_esp_err(): OSError(-code, name).
    return OSError(-code, _ESP_ERRORS[code])


def _errno_error(code, name):
    return OSError(code) if _MPY else OSError(code, name)


def _celsius():
    return _simboard.board().world.mcu_temperature()


def mcu_temperature():
    """The chip's temperature in whole degrees Celsius."""
    return int(_math.floor(_celsius() + 0.5))


def raw_temperature():
    """The ESP32's temperature sensor: an integer close to degrees Fahrenheit."""
    return int(_math.floor(_celsius() * 9 / 5 + 32 + 0.5))


if _simboard.board().chip == "ESP32":
    del mcu_temperature
else:
    del raw_temperature


# ---- deep-sleep wake sources

_RTC_GPIOS = (0, 2, 4, 12, 13, 14, 15, 25, 26, 27, 32, 33, 34, 35, 36, 37, 38, 39)
_UNSET = object()


def _wake():
    return _simboard.board().wake_sources


def _rtc_gpio(pin):
    gpio = _simboard.gpio_number(pin)
    if gpio not in _RTC_GPIOS:
        raise ValueError("invalid pin")
    return gpio


def _wake_flag(name, wake):
    w = _wake()
    if w.get("ext0"):
        raise ValueError("no resources")  # ext0 shares the RTC's resources with touch and ULP
    w[name] = bool(wake)


def wake_on_touch(wake):
    _wake_flag("touch", wake)


def wake_on_ulp(wake):
    _wake_flag("ulp", wake)


def wake_on_ext0(pin=_UNSET, level=_UNSET):
    """Wake on one RTC GPIO at level; pin None turns it off."""
    w = _wake()
    if w.get("touch"):
        raise ValueError("no resources")
    old = w.get("ext0") or (None, False)
    pin = old[0] if pin is _UNSET else (None if pin is None else _rtc_gpio(pin))
    level = old[1] if level is _UNSET else bool(level)
    w["ext0"] = None if pin is None else (pin, level)


def _wake_pins(name, pins, level):
    w = _wake()
    old = w.get(name) or ((), False)
    pins = old[0] if pins is None else tuple(_rtc_gpio(p) for p in pins)
    w[name] = (pins, old[1] if level is _UNSET else bool(level))


def wake_on_ext1(pins=None, level=_UNSET):
    """Wake on several RTC GPIOs (WAKEUP_ALL_LOW or WAKEUP_ANY_HIGH); pins None keeps them."""
    _wake_pins("ext1", pins, level)


def wake_on_gpio(pins=None, level=_UNSET):
    _wake_pins("gpio", pins, level)


def idf_heap_info(capabilities):
    """(total, free, largest free block, minimum free) of each IDF heap region with these caps.

    Static figures of an ESP32 without PSRAM, as in the MicroPython docs' example.
    """
    if not isinstance(capabilities, int):
        raise TypeError("can't convert %s to int" % type(capabilities).__name__)
    heaps = []
    if capabilities & HEAP_DATA:
        heaps += [(240, 0, 0, 0), (7288, 0, 0, 0), (16648, 4, 4, 4), (79912, 35712, 35512, 35108)]
        heaps += [(15072, 15036, 15036, 15036), (113840, 0, 0, 0)]
    if capabilities & HEAP_EXEC:
        heaps.append((18724, 2624, 2560, 2624))
    return heaps


# ---- NVS


def _nvs_name(name):
    if not isinstance(name, str):
        raise TypeError("can't convert %s to str" % type(name).__name__)
    if len(name) > 15:
        raise _esp_err(0x1109)
    return name


class NVS:
    """One NVS namespace; uncommitted changes live in this object."""

    def __init__(self, namespace):
        self._ns = _nvs_name(namespace)
        self._pending = {}  # key -> ["i32", int] | ["blob", hex] | None (erased), until commit()
        self._path()

    def __repr__(self):
        return "<NVS namespace>"

    def _path(self):
        try:
            return _simboard.board().nvs_path(self._ns)
        except OSError:
            raise _esp_err(0x1101)

    def _committed(self):
        try:
            with open(self._path()) as f:
                return _json.loads(f.read())
        except OSError:
            return {}

    def _item(self, key):
        key = _nvs_name(key)
        if key in self._pending:
            return self._pending[key]
        return self._committed().get(key)

    def _get(self, key, kind):
        item = self._item(key)
        if item is None:
            raise _esp_err(0x1102)
        if item[0] != kind:
            raise _esp_err(0x1103)
        return item[1]

    def set_i32(self, key, value):
        key = _nvs_name(key)
        if not isinstance(value, int):
            raise TypeError("can't convert %s to int" % type(value).__name__)
        if not -0x80000000 <= value <= 0x7FFFFFFF:
            raise OverflowError("overflow converting long int to machine word")
        self._pending[key] = ["i32", int(value)]

    def get_i32(self, key):
        return self._get(key, "i32")

    def set_blob(self, key, value):
        key = _nvs_name(key)
        if isinstance(value, str):
            value = value.encode()
        elif not isinstance(value, (bytes, bytearray, memoryview)):
            raise TypeError("object with buffer protocol required")
        self._pending[key] = ["blob", str(_binascii.hexlify(bytes(value)), "ascii")]

    def get_blob(self, key, buffer):
        """Copy the blob into buffer (a bytearray); returns its length."""
        data = _binascii.unhexlify(self._get(key, "blob"))
        if not isinstance(buffer, (bytearray, memoryview)):
            raise TypeError("object with buffer protocol required")
        if len(data) > len(buffer):
            raise _esp_err(0x110C)
        buffer[: len(data)] = data
        return len(data)

    def erase_key(self, key):
        if self._item(key) is None:
            raise _esp_err(0x1102)
        self._pending[key] = None

    def commit(self):
        """Write the pending changes to the namespace's file, atomically (power-loss safe)."""
        path = self._path()
        data = self._committed()
        for key, item in self._pending.items():
            if item is None:
                data.pop(key, None)
            else:
                data[key] = item
        try:
            _os.mkdir(path[: path.rfind("/")])
        except OSError:
            pass  # already there
        with open(path + ".tmp", "w") as f:
            f.write(_json.dumps(data))
        _os.rename(path + ".tmp", path)
        self._pending = {}


# ---- partitions

# ESP32_GENERIC's partitions-4MiB.csv: (type, subtype, address, size, label)
_TABLE = (
    (1, 0x02, 0x9000, 0x6000, "nvs"),
    (1, 0x01, 0xF000, 0x1000, "phy_init"),
    (0, 0x00, 0x10000, 0x1F0000, "factory"),
    (1, 0x81, 0x200000, 0x200000, "vfs"),
)
_FLASH = {}  # (board id, label) -> {byte address: value} of the bytes written so far


def _erase(mem, addr, n):
    for i in range(n):
        mem.pop(addr + i, None)


class Partition:
    """A flash partition of the simulated table."""

    BOOT = 0
    RUNNING = 1
    TYPE_APP = 0
    TYPE_DATA = 1

    def __init__(self, id, block_size=4096):
        if isinstance(id, int):
            if id not in (Partition.BOOT, Partition.RUNNING):
                raise ValueError
            entry = _TABLE[2]  # no OTA: the factory app boots and runs
        else:
            if not isinstance(id, str):
                raise TypeError("can't convert %s to str" % type(id).__name__)
            found = [e for e in _TABLE if e[4] == id]
            if not found:
                raise _errno_error(_errno.ENOENT, "ENOENT")
            entry = sorted(found)[0]  # app partitions first, as the port looks them up
        self._entry = entry
        self._block_size = block_size

    def __repr__(self):
        t, s, a, n, label = self._entry
        return "<Partition type=%u, subtype=%u, address=%u, size=%u, label=%s, encrypted=0>" % (
            t,
            s,
            a,
            n,
            label,
        )

    @staticmethod
    def find(type=0, subtype=0xFF, label=None):
        """Partitions of a type (TYPE_APP, TYPE_DATA), optionally of a subtype and a label."""
        return [
            Partition(e[4])
            for e in _TABLE
            if e[0] == type and subtype in (0xFF, e[1]) and label in (None, e[4])
        ]

    @classmethod
    def mark_app_valid_cancel_rollback(cls):
        pass  # nothing to roll back without OTA slots

    def info(self):
        t, s, a, n, label = self._entry
        return (t, s, a, n, label, False)

    def set_boot(self):
        pass  # the port ignores esp_ota_set_boot_partition()'s answer; nothing else boots here

    def get_next_update(self):
        raise _errno_error(_errno.ENOENT, "ENOENT")

    def _bytes(self, block_num, length, offset):
        addr = block_num * self._block_size + offset
        if addr < 0 or addr + length > self._entry[3]:
            raise OSError(-0x104)  # ESP_ERR_INVALID_SIZE
        key = (_simboard.board().board_id, self._entry[4])
        return _FLASH.setdefault(key, {}), addr

    def readblocks(self, block_num, buf, offset=0):
        mem, addr = self._bytes(block_num, len(buf), offset)
        for i in range(len(buf)):
            buf[i] = mem.get(addr + i, 0xFF)

    def writeblocks(self, block_num, buf, offset=None):
        """Without offset the blocks are erased first; with one, writes only clear bits (flash)."""
        mem, addr = self._bytes(block_num, len(buf), offset or 0)
        if offset is None:
            _erase(mem, addr, len(buf))
        for i in range(len(buf)):
            mem[addr + i] = mem.get(addr + i, 0xFF) & buf[i]

    def ioctl(self, op, arg):
        if op in (1, 2, 3):  # init, deinit, sync
            return 0
        if op == 4:  # block count
            return self._entry[3] // self._block_size
        if op == 5:  # block size
            return self._block_size
        if op == 6:  # erase one block
            _erase(*self._bytes(arg, self._block_size, 0), self._block_size)
            return 0
        return None
