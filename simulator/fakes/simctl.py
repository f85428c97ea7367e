"""The board's end of fault control: the faults the simulator appends to the board's control file.

The simulator (simulator/fleet.py) writes one JSON object a line to the file named by SIM_CTL.
poll(), which simboard.board() runs before any fake looks at the board, reads what is new at
most every PERIOD_MS of the board's clock and applies it, so a fault lands the next time the
firmware touches its hardware, as scenario faults do:
- world faults, as scenario fault steps: {"sensor": name, "missing" | "crc"}, {"wifi": "drop" |
  "restore", "ssid"}, {"wifi": "rssi", "ssid", "dbm"} (no ssid: every access point), {"ntp"};
- {"wifi": "flap", "ssid", "period": s}: the access points go silent and come back in turn, each
  half of the period, until the next drop or restore;
- {"power": "write", "file", "nth", "bytes"}: a power cut in the middle of a write (simflash.arm);
- {"status": n}: the board writes its state as JSON to the control file's path + ".status".
At boot the file holds the faults still in force, so they outlive the board's resets.
Portable: CPython and the MicroPython unix interpreter.
"""

import json
import os
import time

import simboard
import simflash

PERIOD_MS = 100

_path = None
_at = 0  # bytes of the control file already applied
_next = 0  # board ticks of the next look
_busy = False
_flap = None  # [ssid or None, half period ms, ticks at start, silent now]


def install(board, path):
    """Apply path's faults in force now and from then on, as the board's fakes are used."""
    global _path, _at
    _path = path
    _at = 0
    board.poll = poll
    poll(True)


def poll(now=False):
    """Apply what is new in the control file (at most every PERIOD_MS unless now)."""
    global _next, _busy, _at
    t = time.ticks_ms()
    if _busy or not now and time.ticks_diff(t, _next) < 0:
        return
    _busy = True  # the world's fakes call board(), and so this, again
    try:
        _next = time.ticks_add(t, PERIOD_MS)
        try:
            size = os.stat(_path)[6]
        except OSError:
            size = 0
        if size > _at:
            with open(_path, "rb") as f:
                f.seek(_at)
                data = f.read()
            end = data.rfind(b"\n") + 1  # a line still being written waits
            _at += end
            for line in data[:end].split(b"\n"):
                if line:
                    apply(json.loads(line), t)
        if _flap is not None:
            _flapping(t)
    finally:
        _busy = False


def _world_fault(f):
    fault = getattr(simboard.BOARD.world, "fault", None)
    if fault is not None:  # the simulator sends world faults only to boards with a world
        fault(f)


def apply(f, t):
    """Apply one fault now (board ticks t)."""
    global _flap
    b = simboard.BOARD
    wifi = f.get("wifi")
    if "power" in f:
        simflash.arm(f.get("file"), f.get("nth", 1), f.get("bytes"))
    elif "status" in f:
        _status(b, f["status"])
    elif wifi == "flap":
        _flap = [f.get("ssid"), int(f.get("period", 10) * 500), t, False]
    elif wifi == "rssi" and f.get("ssid") is None:
        for ap in b.world.access_points():
            _world_fault({"wifi": "rssi", "ssid": ap[0], "dbm": f.get("dbm")})
    else:
        if wifi in ("drop", "restore"):
            _flap = None
        _world_fault(f)


def _flapping(t):
    ssid, half, start, silent = _flap
    now_silent = time.ticks_diff(t, start) // half % 2 == 0
    if now_silent != silent:
        _flap[3] = now_silent
        _world_fault({"wifi": "drop" if now_silent else "restore", "ssid": ssid})


def _status(b, n):
    r = b.wlan
    st = {"n": n, "board": b.board_id, "seed": b.seed, "reset_cause": b.reset_cause}
    st["air"] = {"dropped": b.air.dropped, "rssi": b.air.rssi, "flapping": _flap is not None}
    if r is not None:
        st["wifi"] = {"active": r.active[0], "connected": r.connected, "status": r.status()}
        if r.connected:
            st["wifi"]["ssid"], st["wifi"]["rssi"] = r.link[0], r.link[3]
    state = getattr(b.world, "state", None)
    if state is not None:
        st["world"] = state()
    st["armed"] = simflash.armed()
    with open(_path + ".status~", "w") as f:
        f.write(json.dumps(st))
    os.rename(_path + ".status~", _path + ".status")
