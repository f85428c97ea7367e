"""JSON files on the flash: atomic saves survive a crash at any moment; corrupt files are reported."""

import os
import time

import simboard

from app import store
from app.relays import Relays
from app.store import load_json, save_json
from wsutil import raises

_made = [0]


class PowerLoss(Exception):
    """The board lost power: nothing after this point ran."""


class CrashingOs:
    """os as store sees it, where rename fails with the given exception."""

    def __init__(self, exc):
        self.exc = exc

    def rename(self, old, new):
        raise self.exc

    def remove(self, path):
        os.remove(path)


def in_flash(test):
    """Runs test(folder) inside a new empty folder standing for the board's flash root."""
    _made[0] += 1
    folder = "/tmp/app-store-%d-%d" % (time.time_ns() // 1000, _made[0])
    os.mkdir(folder)
    home = os.getcwd()
    os.chdir(folder)
    try:
        test()
    finally:
        store.os = os
        os.chdir(home)
        for name in os.listdir(folder):
            os.remove(folder + "/" + name)
        os.rmdir(folder)


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def test_a_missing_file_gives_the_default():
    def test():
        default = {"heater": False}
        value, status = load_json("state.json", default)
        assert value is default and status == "missing"

    in_flash(test)


def test_saved_data_loads_back_and_leaves_no_tmp_file():
    def test():
        save_json("state.json", {"heater": True, "fan": False})
        save_json("state.json", {"heater": False, "fan": False})
        assert load_json("state.json", {}) == ({"heater": False, "fan": False}, "ok")
        assert sorted(os.listdir(".")) == ["state.json"]

    in_flash(test)


def test_a_crash_between_tmp_and_rename_leaves_the_old_state():
    def test():
        save_json("state.json", {"heater": False})
        store.os = CrashingOs(PowerLoss())
        raises(PowerLoss, save_json, "state.json", {"heater": True})
        store.os = os
        assert load_json("state.json.tmp", {}) == ({"heater": True}, "ok")  # the new state, not yet in place
        assert load_json("state.json", {}) == ({"heater": False}, "ok")
        save_json("state.json", {"heater": True})  # after reboot the next save replaces both
        assert load_json("state.json", {}) == ({"heater": True}, "ok")
        assert sorted(os.listdir(".")) == ["state.json"]

    in_flash(test)


def test_a_crash_while_writing_the_tmp_file_leaves_the_old_state():
    def test():
        save_json("state.json", {"heater": True})
        write("state.json.tmp", '{"heat')  # power went while the new content was half written
        assert load_json("state.json", {}) == ({"heater": True}, "ok")

    in_flash(test)


def test_a_failed_write_keeps_the_old_file_removes_the_tmp_and_raises():
    def test():
        save_json("state.json", {"heater": True})
        store.os = CrashingOs(OSError(28, "no space left"))
        assert raises(OSError, save_json, "state.json", {"heater": False}).args[0] == 28
        store.os = os
        assert os.listdir(".") == ["state.json"]
        assert load_json("state.json", {}) == ({"heater": True}, "ok")

    in_flash(test)


def test_a_truncated_or_corrupt_file_is_reported_and_the_default_used():
    def test():
        default = {"heater": False}
        for text in ('{"heater": tr', "", "\x00\x00\x00\x00", "heater=on"):
            write("state.json", text)
            value, status = load_json("state.json", default)
            assert status == "corrupt" and value is default, text

    in_flash(test)


def test_a_file_of_another_type_than_the_default_is_corrupt():
    def test():
        write("state.json", '["heater"]')
        assert load_json("state.json", {}) == ({}, "corrupt")
        assert load_json("state.json", None) == (["heater"], "ok")

    in_flash(test)


def test_relays_restore_what_they_saved_through_the_store():
    def test():
        spec = {"name": "heater", "pin": 25, "boot": "restore"}
        simboard.use(simboard.SimBoard())
        saved, status = load_json("relays.json", {})
        assert status == "missing"
        r = Relays([spec], save=lambda s: save_json("relays.json", s), saved=saved)
        r.boot(0)
        r.set("heater", True, 10000)
        board = simboard.use(simboard.SimBoard())  # power cycle
        saved, status = load_json("relays.json", {})
        r = Relays([spec], saved=saved)
        r.boot(0)
        assert status == "ok" and board.pins[25].out == 1
        assert r.get("heater")["on"] is True

    in_flash(test)
