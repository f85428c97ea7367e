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


# The viper emitter exists on the board and the unix port; CPython cannot even parse its
# annotations. Detected once, at import.
try:
    from ws._viper import mask16
except (ImportError, NameError, SyntaxError, AttributeError, ValueError):
    mask16 = mask16_portable
