"""Make CPython look like MicroPython on an ESP32 for the names firmware uses.

Most MicroPython modules are fakes in simulator/fakes/, which install() puts first on sys.path.
CPython's `time` and `gc` are built in and cannot be shadowed by files, so their MicroPython-only
names are added to them here:

- time.ticks_ms/ticks_us/ticks_cpu/ticks_add/ticks_diff/sleep_ms/sleep_us with the ESP32's
  semantics: ticks wrap at 2**30, ticks_diff is signed in [-2**29, 2**29), ticks_add refuses a
  delta ticks_diff could not give back (OverflowError). ticks_ms is firmware/compat.py's
  fallback formula, so both agree;
- os.ilistdir, which mpremote's `fs` commands and firmware use to list the flash;
- gc.mem_free/gc.mem_alloc/gc.threshold over a simulated heap: HEAP_SIZE bytes (110 KiB, what an
  ESP32 without PSRAM leaves MicroPython; env SIMULATOR_HEAPSIZE, e.g. "64k", or install()'s
  heap_size) of which BOOT_ALLOC bytes are in use. CPython's real allocation says nothing about
  the board's, so the figures stay put until set_heap() changes them (memory-pressure tests).

Existing CPython names are never replaced, so host code sharing the process keeps working.
"""

import asyncio
import gc
import operator
import os
import sys
import time

FAKES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fakes")

TICKS_PERIOD = 1 << 30  # every ticks_* value of the ESP32 port wraps here
_MASK = TICKS_PERIOD - 1
_HALF = TICKS_PERIOD // 2
CPU_MHZ = 240  # ticks_cpu counts the cycles of a 240 MHz core

HEAP_SIZE = 110 * 1024  # simulator/__main__.py gives the MicroPython runtime the same -X heapsize
BOOT_ALLOC = 8 * 1024  # in use after boot on the board, give or take

_heap = {"size": HEAP_SIZE, "used": BOOT_ALLOC, "threshold": -1}


def ticks_ms():
    """Milliseconds from an arbitrary point, wrapping at 2**30."""
    return int(time.monotonic() * 1000) & _MASK


def ticks_us():
    """Microseconds from an arbitrary point, wrapping at 2**30."""
    return (time.monotonic_ns() // 1000) & _MASK


def ticks_cpu():
    """CPU cycles from an arbitrary point, wrapping at 2**30 (every ~4.5 s at 240 MHz)."""
    return (time.monotonic_ns() * CPU_MHZ // 1000) & _MASK


def ticks_add(ticks, delta):
    """ticks moved by delta, wrapped; OverflowError unless -2**29 < delta < 2**29."""
    if not -_HALF < delta < _HALF:
        raise OverflowError("ticks interval overflow")
    return (ticks + delta) & _MASK


def ticks_diff(ticks1, ticks2):
    """Signed ticks1 - ticks2 across the wrap, in [-2**29, 2**29)."""
    d = (ticks1 - ticks2) & _MASK
    return d - TICKS_PERIOD if d >= _HALF else d


def sleep_ms(ms):
    """Sleep ms milliseconds; an int (TypeError otherwise), nothing when negative."""
    ms = operator.index(ms)
    if ms > 0:
        time.sleep(ms / 1000)


def sleep_us(us):
    """Sleep us microseconds; an int (TypeError otherwise), nothing when negative."""
    us = operator.index(us)
    if us > 0:
        time.sleep(us / 1_000_000)


def mem_alloc():
    """Bytes of the simulated heap in use."""
    return _heap["used"]


def mem_free():
    """Bytes of the simulated heap still free."""
    return _heap["size"] - _heap["used"]


def threshold(amount=None):
    """The GC allocation threshold (-1: none), or set it (a negative amount removes it)."""
    if amount is None:
        return _heap["threshold"]
    amount = operator.index(amount)
    _heap["threshold"] = amount if amount >= 0 else -1


def set_heap(size=None, used=None):
    """Change the simulated heap: its total size and the bytes in use (for memory-pressure tests)."""
    size = _heap["size"] if size is None else int(size)
    used = _heap["used"] if used is None else int(used)
    if not 0 <= used <= size:
        raise ValueError("heap use %d must be between 0 and the heap size %d" % (used, size))
    _heap["size"], _heap["used"] = size, used


def parse_size(text):
    """Bytes from a size as -X heapsize takes it: "112640", "110k", "2m"."""
    text = text.strip().lower()
    scale = {"k": 1024, "m": 1024 * 1024}.get(text[-1:], 1)
    digits = text[:-1] if scale > 1 else text
    if not digits.isdigit():
        raise ValueError("heap size %r: expected a number of bytes, optionally with k or m" % text)
    return int(digits) * scale


def ilistdir(path="."):
    """Entries of a directory as MicroPython's littlefs gives them: (name, type, inode, size),
    type 0x4000 for a directory and 0x8000 for a file; names are bytes when path is."""
    with os.scandir(path) as it:
        for e in it:
            is_dir = e.is_dir()
            yield (e.name, 0x4000 if is_dir else 0x8000, e.inode(), 0 if is_dir else e.stat().st_size)


_TIME = (ticks_ms, ticks_us, ticks_cpu, ticks_add, ticks_diff, sleep_ms, sleep_us)


def _asyncio_sleep_ms(ms):
    return asyncio.sleep(ms / 1000)


_asyncio_sleep_ms.__name__ = "sleep_ms"
_GC = (mem_alloc, mem_free, threshold)


def _add(module, funcs):
    for f in funcs:
        current = getattr(module, f.__name__, None)
        if current is None or getattr(current, "__module__", None) == __name__:
            setattr(module, f.__name__, f)


def install(heap_size=None):
    """Add MicroPython's names to time, gc and os and put the fakes first on sys.path (idempotent).

    heap_size: bytes of the simulated heap; default env SIMULATOR_HEAPSIZE, else HEAP_SIZE.
    """
    if heap_size is None:
        env = os.environ.get("SIMULATOR_HEAPSIZE")
        heap_size = parse_size(env) if env else _heap["size"]
    set_heap(size=heap_size, used=min(_heap["used"], heap_size))
    _add(time, _TIME)
    _add(gc, _GC)
    _add(os, (ilistdir,))
    _add(asyncio, (_asyncio_sleep_ms,))  # MicroPython's asyncio.sleep_ms
    sys.path[:] = [p for p in sys.path if not (isinstance(p, str) and p and os.path.abspath(p) == FAKES)]
    sys.path.insert(0, FAKES)
