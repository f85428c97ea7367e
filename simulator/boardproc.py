"""One simulated board's process: runs boot.py and main.py from firmware/ as the board would.

Started by `python -m simulator` on CPython or on the MicroPython interpreter (portable code):
    boardproc.py FLASH_DIR FIRMWARE_DIR BOARD_ID SEED
The working directory is the board's flash folder; firmware/ and the fakes are on the path.
"""

import os
import sys
import time

try:  # CPython: make time, gc and friends look like MicroPython's
    from simulator import cpython

    cpython.install()
except ImportError:  # the MicroPython interpreter already is MicroPython
    pass

import simboard  # noqa: E402 (after the CPython shims)

_RESET_NAMES = {
    simboard.PWRON_RESET: "0x1 (POWERON_RESET)",
    simboard.HARD_RESET: "0xc (SW_CPU_RESET)",
    simboard.WDT_RESET: "0x7 (TG0WDT_SYS_RESET)",
    simboard.DEEPSLEEP_RESET: "0x5 (DEEPSLEEP_RESET)",
    simboard.SOFT_RESET: "soft reset",
}


def _run(path, firmware):
    # A script runs with __name__ == "__main__", as boot.py and main.py do on the board.
    full = firmware + "/" + path
    try:
        with open(full) as f:
            source = f.read()
    except OSError:
        return
    exec(compile(source, path, "exec"), {"__name__": "__main__", "__file__": path})


def _forget(firmware):
    # A reset forgets every imported firmware module, as a fresh interpreter would.
    for name in list(sys.modules):
        mod = sys.modules[name]
        f = getattr(mod, "__file__", "") or ""
        if f.startswith(firmware):
            del sys.modules[name]


def main(argv):
    flash, firmware, board_id, seed = argv[1], argv[2], argv[3], int(argv[4])
    board = simboard.use(simboard.SimBoard(board_id, seed, flash))
    os.chdir(flash)
    while True:
        if board.reset_cause == simboard.SOFT_RESET:
            print("MPY: soft reboot")
        else:
            print("rst:%s, board %s" % (_RESET_NAMES.get(board.reset_cause, "?"), board_id))
        try:
            _run("boot.py", firmware)
            _run("main.py", firmware)
            print("main.py ended")  # on a board the REPL would take over here
            return 0
        except simboard.BoardReset as r:
            board.reset_cause = r.cause
            if r.cause != simboard.SOFT_RESET:
                board.wlan = None  # a hard reset switches the radio off; a soft one does not
            if r.cause == simboard.DEEPSLEEP_RESET:
                time.sleep_ms(getattr(r, "sleep_ms", 0) or 0)
            _forget(firmware)
        except KeyboardInterrupt:
            print("KeyboardInterrupt: board stopped")
            return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
