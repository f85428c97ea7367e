"""A microsecond clock on both runtimes: ticks() and elapsed(end, start), no allocation on MicroPython."""

try:
    from time import ticks_diff, ticks_us

    TICK_NS = 1000  # ticks_us: small ints, so reading the clock allocates nothing

    def ticks():
        return ticks_us()

    def elapsed(end, start):
        return ticks_diff(end, start)

except ImportError:  # CPython: nanoseconds
    from time import perf_counter_ns

    TICK_NS = 1

    def ticks():
        return perf_counter_ns()

    def elapsed(end, start):
        return end - start
