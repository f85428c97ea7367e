"""The one place where MicroPython and CPython differ in basic names (const, ticks)."""

try:
    from micropython import const
except ImportError:  # CPython without the simulator's fakes

    def const(x):
        return x


try:
    from time import sleep_ms, ticks_add, ticks_diff, ticks_ms
except ImportError:  # CPython: the same semantics on a monotonic clock
    import time as _time

    _PERIOD = 1 << 30  # MicroPython's ticks wrap at 2**30 ms on every port

    def ticks_ms():
        return int(_time.monotonic() * 1000) & (_PERIOD - 1)

    def ticks_add(ticks, delta):
        return (ticks + delta) & (_PERIOD - 1)

    def ticks_diff(end, start):
        d = (end - start) & (_PERIOD - 1)
        return d - _PERIOD if d >= _PERIOD // 2 else d

    def sleep_ms(ms):
        _time.sleep(ms / 1000)
