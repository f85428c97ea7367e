"""Masking compiled to machine code by MicroPython's viper emitter (imported only where it works)."""

import micropython


@micropython.viper
def mask16(buf, n: int):
    """XOR buf[16:16+n] with the key in buf[12:16], a word at a time (buf is word-aligned)."""
    w = ptr32(buf)  # noqa: F821 (a viper built-in)
    b = ptr8(buf)  # noqa: F821
    k = w[3]
    i = 4
    e = 4 + (n >> 2)
    while i < e:
        w[i] = w[i] ^ k
        i += 1
    j = i << 2
    t = 16 + n
    while j < t:
        b[j] = b[j] ^ b[12 + (j & 3)]
        j += 1
