"""`make bench`: our WebSocket client against a raw-frame floor, on MicroPython and CPython.

Run with `python -m bench` from the repository root (see docs/benchmarks.md).
"""
