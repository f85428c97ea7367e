"""One simulated board's process: boots boot.py and main.py, then serves the REPL, as the board would.

Started by `python -m simulator` on CPython or on the MicroPython interpreter (portable code):
    boardproc.py FLASH_DIR FIRMWARE_DIR BOARD_ID SEED [RESET_CAUSE]
RESET_CAUSE (machine.reset_cause(), default power-on) is how the simulator restarts a board whose
process ended: after a power loss, a crash (a panic: hard reset), a watchdog or external reset.
The working directory is the board's flash folder. A script or module in the flash folder wins
over the firmware folder's (files copied in with mpremote take effect after a reset); the fakes
come first, as the port's built-in modules do. Like the ESP32 port's main.c: boot.py, then main.py
unless the raw REPL is active, then the friendly or raw REPL (simrepl.py) until a soft reset
(Ctrl-D, sys.exit(), machine.soft_reset()) boots again with the same mode; machine.reset(), the
watchdog and deepsleep reboot with their reset cause. The process ends when its console input
ends (plain mode) or its pseudo-terminal goes away (serial mode). The flash folder keeps
littlefs's rules (simflash.py: written content is committed on flush and close); with SIM_CTL the
board takes faults from the simulator (simctl.py); SIM_WORLD_ELAPSED_MS starts the world that
many milliseconds on, so a board that boots again finds the world where it left it.
"""

import json
import os
import sys
import time

try:  # CPython: make time, gc and friends look like MicroPython's
    from simulator import cpython

    cpython.install()
except ImportError:  # the MicroPython interpreter already is MicroPython
    pass

import heaproom  # noqa: E402 (after the CPython shims)
import simboard  # noqa: E402
import simflash  # noqa: E402
import simrepl  # noqa: E402

# The firmware the simulator stands for; tools read the version, the build date is any fixed one.
FIRMWARE_BANNER = "MicroPython v1.29.0 on 2026-04-06"
_RESET_NAMES = {
    simboard.PWRON_RESET: "0x1 (POWERON_RESET)",
    simboard.HARD_RESET: "0xc (SW_CPU_RESET)",
    simboard.WDT_RESET: "0x7 (TG0WDT_SYS_RESET)",
    simboard.DEEPSLEEP_RESET: "0x5 (DEEPSLEEP_RESET)",
    simboard.SOFT_RESET: "soft reset",
}


def _dirname(path):
    return path[: path.rfind("/")] if "/" in path else "."


def _script(name, flash, firmware):
    # The flash folder's copy wins, as a file written to the board's filesystem would.
    for folder in (flash, firmware):
        path = folder + "/" + name
        try:
            os.stat(path)
            return path
        except OSError:
            pass
    return None


def _set_path(flash, rom=False):
    # The board's sys.path is ['', '.frozen', '/lib'] (with a ROMFS: '/rom', '/rom/lib' before
    # '/lib'): the flash folder, then its lib/, go right after the fakes (built-in modules win on
    # the board too) and before the ROMFS and the firmware folder.
    here = _dirname(__file__)
    path = [p for p in sys.path if p not in ("", here, flash, flash + "/lib", "/rom", "/rom/lib")]
    at = 0
    for i, p in enumerate(path):
        if p.endswith("fakes") or p == ".frozen":
            at = i + 1
    sys.path[:] = path[:at] + ["", flash + "/lib"] + (["/rom", "/rom/lib"] if rom else []) + path[at:]


def _mount_romfs(flash):
    # SIM_ROMFS: the firmware as a ROMFS image, mounted at /rom as MicroPython mounts a ROMFS
    # partition; else the romfs partition of an image flashed to the board (ROMFS.bin next to
    # its flash folder, serialport.py). It is read before the application's heap is set aside
    # (see _ballast): on the chip the partition is flash, mapped into the address space, and its
    # bytecode runs in place.
    image = os.getenv("SIM_ROMFS") or _dirname(flash) + "/ROMFS.bin"
    try:
        with open(image, "rb") as f:
            data = f.read()
    except OSError:
        return False
    import vfs

    vfs.mount(vfs.VfsRom(data), "/rom")
    return True


def _forget(flash, firmware):
    # A reset forgets every module the application imported, as a fresh interpreter would;
    # the fakes stay, since they stand for the chip and its built-in modules.
    app = os.getenv("SIM_APP_MPY")
    for name in list(sys.modules):
        f = getattr(sys.modules[name], "__file__", "") or ""
        relative = f and f[0] != "/" and not f.startswith(".frozen")  # MicroPython, from ''
        if f.startswith(firmware) or f.startswith(flash) or relative or (app and f.startswith(app)):
            del sys.modules[name]


def _banner(flash):
    try:
        with open(flash + "/board.json") as f:
            board = json.load(f)
    except (OSError, ValueError):
        board = {}
    return "%s; %s with %s" % (
        FIRMWARE_BANNER,
        board.get("name", "Generic ESP32 module"),
        board.get("chip", "ESP32"),
    )


def boot(repl, flash, firmware):
    """One boot up to the next reset: boot.py, main.py in the friendly mode, then the REPL."""
    g = {"__name__": "__main__"}  # boot.py, main.py and the REPL share __main__, as on the board
    ok = repl.run_file("boot.py", _script("boot.py", flash, firmware), g)
    if ok and repl.mode == simrepl.FRIENDLY:
        repl.run_file("main.py", _script("main.py", flash, firmware), g)
    while True:
        try:
            if repl.mode == simrepl.RAW:
                repl.raw(g)
            else:
                repl.friendly(g)
        except KeyboardInterrupt:  # a Ctrl-C that arrived just as code ended: the REPL goes on
            repl.con.write("\n")


def _ballast(board):
    # On the MicroPython runtime the fakes share the board's heap, though on a board they are C.
    # Once they are loaded, the application gets exactly SIM_APP_HEAP bytes of it, in one piece,
    # with its names' share charged (heaproom.py).
    want = os.getenv("SIM_APP_HEAP")
    if not want or sys.implementation.name != "micropython":
        return
    # The port's built-in modules are C in the chip's flash: load their fakes before measuring.
    for name in ("machine", "network", "esp32", "dht", "onewire", "ds18x20", "ntptime"):
        try:
            __import__(name)
        except ImportError:
            pass
    try:  # and the Wi-Fi driver's state, C memory on the chip: made now rather than at first use
        import simwifi

        simwifi.radio(False)
    except ImportError:
        pass
    try:  # the chip's own state and every GPIO's (registers on the chip), likewise
        import machine
        import simchip

        b = simchip.simboard.board()
        simchip.chip(b)
        for gpio in machine._GPIOS:
            simchip.pin(b, gpio)
    except (ImportError, AttributeError):
        pass
    try:
        board.ballast = heaproom.set_aside(int(want), names=True)
    except MemoryError as e:
        print("simulator: no room for the application's heap: %s" % e)


def main(argv):
    flash, firmware, board_id, seed = argv[1], argv[2], argv[3], int(argv[4])
    board = simboard.use(simboard.SimBoard(board_id, seed, flash))
    if len(argv) > 5:
        board.reset_cause = int(argv[5])
    if os.getenv("SIM_WORLD"):  # imported only when a world is given: it costs heap
        import simworld

        world = simworld.install_from_env(board)
        world._t0 -= int(os.getenv("SIM_WORLD_ELAPSED_MS") or 0)  # its clock runs from _t0
    rom = _mount_romfs(flash)
    os.chdir(flash)
    simflash.install(flash)
    if os.getenv("SIM_CTL"):
        import simctl

        simctl.install(board, os.getenv("SIM_CTL"))
    _set_path(flash, rom)
    simrepl.install_help()
    # Tracebacks leave out the simulator's frames: the board's own code is C, not Python.
    hidden = (_dirname(__file__) + "/", _dirname(simrepl.__file__) + "/")
    repl = simrepl.Repl(simrepl.Console(), _banner(flash), hidden)
    _ballast(board)
    print("rst:%s, board %s" % (_RESET_NAMES[board.reset_cause], board_id))
    while True:
        try:
            boot(repl, flash, firmware)
        except simrepl.ConsoleClosed:
            print()
            return 0
        except simboard.BoardReset as r:
            board.reset_cause = r.cause
            _forget(flash, firmware)
            if r.cause == simboard.SOFT_RESET:
                print("MPY: soft reboot")
                continue
            repl.mode = simrepl.FRIENDLY  # the REPL mode lives in RAM, which a hard reset clears
            board.wlan = None  # a hard reset switches the radio off; a soft one does not
            if r.cause == simboard.DEEPSLEEP_RESET:
                time.sleep_ms(getattr(r, "sleep_ms", 0) or 0)
            print("rst:%s, board %s" % (_RESET_NAMES.get(r.cause, "?"), board_id))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
