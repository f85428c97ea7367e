"""Transitional launcher: boardproc.py with the world of SIM_WORLD installed on its board.

Used by simulator/scenario.py only while boardproc.py does not call
simworld.install_from_env(board) itself; delete it once it does. Same arguments as boardproc.py.
Portable: CPython and the MicroPython interpreter.
"""

import sys

try:  # CPython: MicroPython's names first, as boardproc does
    from simulator import cpython

    cpython.install()
except ImportError:
    pass

import simboard  # noqa: E402
import simworld  # noqa: E402

_use = simboard.use


def _use_with_world(board):
    _use(board)
    simworld.install_from_env(board)
    return board


simboard.use = _use_with_world

import boardproc  # noqa: E402

sys.exit(boardproc.main(sys.argv))
