"""Masking without viper: mask16_portable, what ws.protocol uses on CPython; mask16 is the
core's own (viper machine code on MicroPython), for tests and the bench to compare."""


def mask16_portable(buf, n):
    """XOR buf[16:16+n] with the key in buf[12:16] (two big integers: about 3n bytes)."""
    if n:
        mv = memoryview(buf)
        key = bytes(mv[12:16]) * ((n >> 2) + 1)
        v = int.from_bytes(mv[16 : 16 + n], "little") ^ int.from_bytes(key[:n], "little")
        mv[16 : 16 + n] = v.to_bytes(n, "little")


try:
    from ws.protocol import mask16
except ImportError:  # ws.protocol is importing this module for its fallback: the same function
    mask16 = mask16_portable
