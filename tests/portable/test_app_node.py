"""The node's tasks restart themselves: a loop that fails starts again after a pause, and five
failures in a row, each within a minute of the loop's start, reboot the board."""

import asyncio
import sys

if sys.implementation.name == "cpython":  # asyncio.sleep_ms and the rest of MicroPython's names
    from simulator import cpython

    cpython.install()

from app import log, node  # noqa: E402


class Reboot(BaseException):
    pass


class Stop(BaseException):
    pass


class Bare(node.Node):
    """A node with nothing set up: the test gives it what the loop reads."""

    def __init__(self):
        pass


class Machine:
    """Stands for machine in app.node: a reset is what the test waits for."""

    def reset(self):
        raise Reboot()


def run_sensor_loop(read_sensor, now=None):
    """Node.sensor_loop on a node with one sensor whose read_sensor is given; the calls made
    and the log's recent error lines, once the loop ends (Stop or Reboot, raised out of it)."""
    n = Bare()
    n.up, n.t0 = 0, 0
    if now is not None:
        n.now = now
    n.sensors = [[None, None, 0, None]]
    calls = []

    async def read(s):
        calls.append(s)
        await read_sensor(len(calls))

    n.read_sensor = read
    machine, pause, keep = node.machine, node.RESTART_MS, log._KEEP
    node.machine, node.RESTART_MS, log._KEEP = Machine(), 5, 10
    del log.recent[:]
    try:
        asyncio.run(n.sensor_loop())
    except (Stop, Reboot) as e:
        ended = type(e).__name__
    finally:
        node.machine, node.RESTART_MS, log._KEEP = machine, pause, keep
    return len(calls), ended, [line.split("ERROR ")[1] for line in log.recent]


def test_a_loop_that_fails_starts_again():
    async def read(n):
        if n < 3:
            raise ValueError("boom %d" % n)
        raise Stop()  # the third run: the loop is going again

    calls, ended, lines = run_sensor_loop(read)
    assert (calls, ended) == (3, "Stop")
    assert lines == ["sensors: task failed (%d): %r" % (i, ValueError("boom %d" % i)) for i in (1, 2)]


def test_five_quick_failures_in_a_row_reboot_the_board():
    async def read(n):
        raise MemoryError("memory allocation failed")

    calls, ended, lines = run_sensor_loop(read)
    assert (calls, ended) == (5, "Reboot")
    assert [line.split(" (")[1][:2] for line in lines] == ["1)", "2)", "3)", "4)", "5)"]


def test_failures_a_minute_apart_do_not_add_up():
    clock = [0]

    async def read(n):
        if n > 6:
            raise Stop()
        clock[0] += node.STABLE_MS  # the loop ran a minute before this failure
        raise OSError(5)

    calls, ended, lines = run_sensor_loop(read, now=lambda: clock[0])
    assert (calls, ended) == (7, "Stop")
    assert lines[-6:] == ["sensors: task failed (1): %r" % OSError(5)] * 6
