"""Strict UTF-8 (RFC 3629) validation, whole and incremental, without per-byte Python loops."""

# MicroPython's decoder only checks the byte structure: it lets overlong forms, surrogates and
# code points above U+10FFFF through. Detected once here; CPython's decoder is already strict.
try:
    b"\xed\xa0\x80".decode("utf-8")
    LAX = True
except UnicodeError:
    LAX = False

# Bytes that never occur in strict UTF-8 but pass a structural check.
_BANNED = (b"\xc0", b"\xc1", b"\xf5", b"\xf6", b"\xf7")
# Lead bytes whose second byte has a narrower range than 80..BF.
_SECOND = (
    (b"\xe0", 0xA0, 0xBF),  # overlong 3-byte forms
    (b"\xed", 0x80, 0x9F),  # UTF-16 surrogates
    (b"\xf0", 0x90, 0xBF),  # overlong 4-byte forms
    (b"\xf4", 0x80, 0x8F),  # above U+10FFFF
)


def strict_ok(buf, start, end):
    """After a structural decode: True unless buf[start:end] has an overlong, surrogate or >U+10FFFF."""
    # Only called on bytes that already passed the structural check, so a lead has a successor.
    for b in _BANNED:
        if buf.find(b, start, end) >= 0:
            return False
    for lead, lo, hi in _SECOND:
        i = buf.find(lead, start, end)
        while i >= 0:
            c = buf[i + 1]
            if c < lo or c > hi:
                return False
            i = buf.find(lead, i + 2, end)
    return True


def decode_utf8(buf, start=0, end=None):
    """Return buf[start:end] (bytes or bytearray) decoded as str, or None if not strict UTF-8."""
    if end is None:
        end = len(buf)
    s = decode_view(memoryview(buf)[start:end])
    # All-ASCII text has as many characters as bytes and needs no further check.
    if s is None or (LAX and len(s) != end - start and not strict_ok(buf, start, end)):
        return None
    return s


def decode_view(view):
    """str of a bytes-like object, or None; strict on CPython, structural only where LAX."""
    try:
        return str(view, "utf-8")
    except UnicodeError:
        return None


def _seq_len(c):
    if c < 0x80:
        return 1
    if c < 0xE0:
        return 2
    if c < 0xF0:
        return 3
    return 4


def _prefix_ok(t):
    # Can the incomplete sequence t still become a valid code point?
    c = t[0]
    if c < 0xC2 or c > 0xF4:
        return False
    if len(t) > 1:
        d = t[1]
        lo = 0xA0 if c == 0xE0 else 0x90 if c == 0xF0 else 0x80
        hi = 0x9F if c == 0xED else 0x8F if c == 0xF4 else 0xBF
        if d < lo or d > hi:
            return False
    for d in t[2:]:
        if d & 0xC0 != 0x80:
            return False
    return True


def _incomplete_start(buf, start, end):
    # Index where a trailing, not yet complete sequence starts (end if there is none).
    i = end - 1
    lo = end - 3 if end - 3 > start else start
    while i >= lo:
        c = buf[i]
        if c >= 0xC0:
            return i if end - i < _seq_len(c) else end
        if c < 0x80:
            return end
        i -= 1
    return end


class Utf8Validator:
    """Validates a text message fed in pieces split anywhere; fails at the first bad byte."""

    def __init__(self):
        self.tail = b""

    def reset(self):
        self.tail = b""

    def feed(self, buf, start=0, end=None):
        """Check buf[start:end]; False as soon as the bytes cannot be valid UTF-8."""
        if end is None:
            end = len(buf)
        if self.tail:
            t = self.tail
            need = _seq_len(t[0]) - len(t)
            take = need if need < end - start else end - start
            t = t + bytes(buf[start : start + take])
            start += take
            if len(t) < _seq_len(t[0]):
                self.tail = t
                return _prefix_ok(t)
            self.tail = b""
            if decode_utf8(t) is None:
                return False
        cut = _incomplete_start(buf, start, end)
        if cut < end:
            t = bytes(buf[cut:end])
            if not _prefix_ok(t):
                return False
            self.tail = t
            end = cut
        return end <= start or decode_utf8(buf, start, end) is not None

    def finish(self):
        """True if the text ended on a code point boundary."""
        return not self.tail
