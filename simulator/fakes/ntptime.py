"""Fake of MicroPython's `ntptime`: the time comes from the world's time source instead of UDP.

time() is the world's clock (board().world.time_source(), seconds since 1970) in the running
interpreter's epoch, as the real module converts an NTP answer; settime() sets the board's RTC
with it through machine.RTC().datetime(...), exactly as the real module does. When the source is
unreachable (time_source() is None) both raise OSError(ETIMEDOUT), as the real socket times out;
no time passes waiting, and `host` / `timeout` are kept but not used. The simulated Wi-Fi link is
not consulted (the board's sockets use the host's network as well).
Portable: CPython and the MicroPython unix interpreter.
"""

import errno as _errno
import sys as _sys
import time as _time

import simboard as _simboard

host = "pool.ntp.org"
timeout = 1

_Y2K = 946684800  # 2000-01-01 in seconds since 1970, for ports whose epoch is 2000


def time():
    """Seconds since the interpreter's epoch, from the world's time source."""
    t = _simboard.board().world.time_source()
    if t is None:
        if _sys.implementation.name == "micropython":
            raise OSError(_errno.ETIMEDOUT)
        raise OSError(_errno.ETIMEDOUT, "ETIMEDOUT")
    t = int(t)
    return t - _Y2K if _time.gmtime(0)[0] == 2000 else t


def settime():
    """Set the RTC (UTC) from the world's time source."""
    t = time()
    import machine  # at call time, as the real module does

    tm = _time.gmtime(t)
    machine.RTC().datetime((tm[0], tm[1], tm[2], tm[6] + 1, tm[3], tm[4], tm[5], 0))
