"""boot.py puts relays at their off level before anything else; the boot guard counts quick reboots."""

import json
import os

import simboard
from machine import Pin

from app import bootguard
from wsutil import raises


def _root():
    here = __file__ if __file__[0] == "/" else os.getcwd() + "/" + __file__
    for _ in range(3):
        here = here[: here.rfind("/")]
    return here


ROOT = _root()
with open(ROOT + "/firmware/boot.py") as _f:
    BOOT_PY = _f.read()
with open(ROOT + "/boards/esp32-devkitc.json") as _f:
    BOARD = json.load(_f)


def exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def read(path):
    with open(path) as f:
        return f.read()


class Folder:
    """A scratch folder made the current one (the board's flash root) until done()."""

    def __init__(self, files):
        self.back = os.getcwd()
        self.path = "/tmp/app-boot-%s" % "".join("%02x" % b for b in os.urandom(6))
        os.mkdir(self.path)
        for name in files:
            with open(self.path + "/" + name, "wb") as f:
                data = files[name]
                f.write(data if isinstance(data, bytes) else json.dumps(data).encode())
        os.chdir(self.path)

    def done(self):
        os.chdir(self.back)
        for name in os.listdir(self.path):
            os.remove(self.path + "/" + name)
        os.rmdir(self.path)


class World(simboard.QuietWorld):
    """Records each level the board drives, with the boot guard's count on the flash at that moment."""

    def __init__(self, folder):
        self.folder = folder
        self.outputs = []  # (GPIO, level, the bootcount file's content or None)

    def output_changed(self, pin, level):
        path = self.folder.path + "/bootcount"
        self.outputs.append((pin, level, read(path) if exists(path) else None))


class Boot:
    """Runs firmware/boot.py as the board does, in a flash folder that lasts across boots."""

    def __init__(self, files):
        self.folder = Folder(files)

    def run(self, cause=simboard.PWRON_RESET):
        board = simboard.use(simboard.SimBoard(world=World(self.folder)))
        board.reset_cause = cause
        printed = []
        g = {"__name__": "__main__", "print": lambda *a: printed.append(" ".join(str(x) for x in a))}
        exec(BOOT_PY, g)  # boot.py must never raise
        return board, g, printed

    def done(self):
        self.folder.done()


def boot_once(files):
    b = Boot(files)
    try:
        board, g, printed = b.run()
        return board, g, printed, read("bootcount") if exists("bootcount") else None
    finally:
        b.done()


def config(relays):
    return {"device_id": "sim-0001", "relays": relays}


# ---- safe levels


def test_relays_are_driven_to_their_off_level_before_anything_else():
    relays = [
        {"name": "heater", "pin": 26, "active_low": True},
        {"name": "pump", "pin": 27, "active_low": True},
        {"name": "grow light", "pin": 25},
        {"name": "fan", "pin": 33, "active_low": False},
    ]
    board, g, printed, count = boot_once({"config.json": config(relays), "board.json": BOARD})
    # active-low relays are off when high; every level is set before the boot guard writes its file
    assert board.world.outputs == [(26, 1, None), (27, 1, None), (25, 0, None), (33, 0, None)]
    for pin, level in ((26, 1), (27, 1), (25, 0), (33, 0)):
        assert board.pins[pin].mode == Pin.OUT and board.pins[pin].out == level
    assert printed == [] and count == "1"
    assert (g["BOOT_COUNT"], g["SAFE_MODE"]) == (1, False)
    assert "_relays_off" not in g  # nothing left behind in the REPL's namespace but the results


def test_a_relay_that_is_not_on_an_output_pin_is_skipped_with_a_line_and_the_rest_are_driven():
    relays = [
        {"name": "a", "pin": 6},  # the flash: driving it would crash the board
        {"name": "b", "pin": 35},  # input-only
        {"name": "c", "pin": 1},  # the serial console
        {"name": "d", "pin": 24},  # does not exist
        {"name": "e", "pin": "26"},
        {"name": "f", "pin": 27, "active_low": "yes"},  # the off level is unknown
        {"name": "g"},
        "heater",
        {"name": "h", "pin": 25, "active_low": True},
    ]
    board, g, printed, count = boot_once({"config.json": config(relays), "board.json": BOARD})
    assert board.world.outputs == [(25, 1, None)]
    assert printed[:5] == [
        "boot.py: relays[0] not driven: GPIO 6 is not an output pin of this board",
        "boot.py: relays[1] not driven: GPIO 35 is not an output pin of this board",
        "boot.py: relays[2] not driven: GPIO 1 is not an output pin of this board",
        "boot.py: relays[3] not driven: GPIO 24 is not an output pin of this board",
        "boot.py: relays[4] not driven: GPIO '26' is not an output pin of this board",
    ]
    assert printed[5] == (
        "boot.py: relays[5] not driven: active_low must be true or false, so the off level is unknown"
    )
    assert printed[6] == "boot.py: relays[6] not driven: GPIO None is not an output pin of this board"
    assert printed[7].startswith("boot.py: relays[7] not driven: ")
    assert len(printed) == 8 and count == "1"


def test_a_broken_config_prints_one_line_and_the_board_boots_on():
    for bad in (b'{"relays": [', b"\xff\xfe", b"[1, 2]", b"null"):
        board, g, printed, count = boot_once({"config.json": bad, "board.json": BOARD})
        assert board.world.outputs == [], bad
        assert len(printed) == 1 and printed[0].startswith("boot.py: config.json unreadable ("), bad
        assert printed[0].endswith("): relays not driven; fix it (docs/config.md)")
        assert count == "1" and g["SAFE_MODE"] is False  # the boot guard still ran
    board, g, printed, count = boot_once({"config.json": {"relays": {"pin": 26}}, "board.json": BOARD})
    assert board.world.outputs == [] and count == "1"


def test_without_a_usable_board_json_no_pin_is_driven():
    relays = [{"name": "heater", "pin": 26, "active_low": True}]
    for files in ({}, {"board.json": b"{oops"}, {"board.json": {"name": "x"}}):
        files["config.json"] = config(relays)
        board, g, printed, count = boot_once(files)
        assert board.world.outputs == []
        assert len(printed) == 1 and printed[0].startswith("boot.py: board.json unreadable (")
        assert printed[0].endswith("): relays not driven; copy it from boards/")
        assert count == "1"


def test_a_board_without_config_boots_quietly():
    board, g, printed, count = boot_once({"board.json": BOARD})
    assert (board.world.outputs, printed, count) == ([], [], "1")
    board, g, printed, count = boot_once({"board.json": BOARD, "config.json": {"device_id": "x"}})
    assert (board.world.outputs, printed, count) == ([], [], "1")


def test_four_quick_reboots_enter_safe_mode_with_relays_still_off():
    b = Boot({"config.json": config([{"name": "pump", "pin": 27, "active_low": True}]), "board.json": BOARD})
    try:
        for n in (1, 2, 3):
            board, g, printed = b.run(simboard.HARD_RESET)
            assert (g["BOOT_COUNT"], g["SAFE_MODE"], printed) == (n, False, [])
        board, g, printed = b.run(simboard.WDT_RESET)
        assert board.world.outputs == [(27, 1, "3")]  # driven before this boot was counted
        assert (g["BOOT_COUNT"], g["SAFE_MODE"], bootguard.boot_state()) == (4, True, (4, True))
        assert printed == [
            "boot.py: safe mode after 4 quick reboots: relays stay off and only the network and the console"
            " should start; fix the cause, then run `from app import bootguard; bootguard.good()` and reset"
        ]
        board, g, printed = b.run(simboard.SOFT_RESET)  # Ctrl-D or mpremote: not a crash
        assert (g["BOOT_COUNT"], g["SAFE_MODE"]) == (4, True)
        bootguard.good()  # as the application does after a stable period
        board, g, printed = b.run(simboard.PWRON_RESET)
        assert (g["BOOT_COUNT"], g["SAFE_MODE"], printed) == (1, False, [])
    finally:
        b.done()


# ---- the boot guard itself


def test_bootguard_counts_boots_until_good_and_soft_resets_do_not_count():
    folder = Folder({})
    try:
        assert bootguard.boot(soft=True) == (0, False) and not exists("bootcount")
        assert [bootguard.boot() for _ in range(5)] == [
            (1, False),
            (2, False),
            (3, False),
            (4, True),
            (5, True),
        ]
        assert read("bootcount") == "5" and bootguard.boot_state() == (5, True)
        assert bootguard.boot(soft=True) == (5, True) and read("bootcount") == "5"
        assert sorted(os.listdir(".")) == ["bootcount"]  # no temporary file left behind
        bootguard.good()
        assert not exists("bootcount")
        bootguard.good()  # twice is harmless
        assert bootguard.boot() == (1, False)
        assert bootguard.boot("other") == (1, False) and read("other") == "1"
    finally:
        folder.done()


def test_bootguard_starts_over_from_an_unreadable_counter_and_ignores_a_stale_temporary_file():
    folder = Folder({"bootcount": b"\x00garbage", "bootcount.tmp": b"99"})
    try:
        assert bootguard.boot() == (1, False)
        assert read("bootcount") == "1" and not exists("bootcount.tmp")
    finally:
        folder.done()


class PowerCut:
    """Stands for os in bootguard: the power goes off after the temporary file, before the rename."""

    def __init__(self):
        self.renames = []

    def rename(self, old, new):
        self.renames.append((old, new))
        raise OSError(5, "power lost")

    def remove(self, path):
        os.remove(path)


def test_a_power_cut_while_counting_leaves_the_old_count():
    folder = Folder({"bootcount": b"2"})
    real = bootguard.os
    bootguard.os = PowerCut()
    try:
        raises(OSError, bootguard.boot)
        assert bootguard.os.renames == [("bootcount.tmp", "bootcount")]
        assert read("bootcount") == "2"  # the old count, whole
    finally:
        bootguard.os = real
    try:
        assert bootguard.boot() == (3, False)  # the next boot counts on from it
    finally:
        folder.done()
