"""Client-side masking of a frame payload in place (RFC 6455 5.3), never byte by byte in Python.

The frame writer keeps the 4-byte key at buf[12:16] and the payload from buf[16], so the
payload is word-aligned for the viper version; the portable version XORs two big integers.
"""


def mask16_portable(buf, n):
    """XOR buf[16:16+n] with the key in buf[12:16] (allocates about 3n bytes)."""
    if n:
        mv = memoryview(buf)
        key = bytes(mv[12:16]) * ((n >> 2) + 1)
        v = int.from_bytes(mv[16 : 16 + n], "little") ^ int.from_bytes(key[:n], "little")
        mv[16 : 16 + n] = v.to_bytes(n, "little")


# The viper version is compiled on the device itself, where the interpreter knows its own
# machine: the .mpy of this file stays architecture-independent (plain mpy-cross compiles it)
# and one deployment serves ESP32, S3 and C3 alike.
_VIPER = """
@micropython.viper
def mask16(buf, n: int):
    w = ptr32(buf)
    b = ptr8(buf)
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
"""

# Detected once, at import: the emitter exists on the board and the unix port; CPython has no
# micropython.viper (and cannot evaluate the viper annotations).
try:
    import micropython

    _scope = {"micropython": micropython}
    exec(_VIPER, _scope)
    mask16 = _scope["mask16"]
    del _scope
    import gc

    gc.collect()  # the compiler's garbage goes now, before buffers need contiguous blocks
except (ImportError, NameError, SyntaxError, AttributeError, ValueError):
    mask16 = mask16_portable
