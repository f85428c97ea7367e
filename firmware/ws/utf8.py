"""Strict UTF-8 for tests and tools: decode_utf8, and Utf8Validator for text fed in pieces.

The core checks text in place (ws.protocol.utf8_cut over the bytes it holds anyway); this
validator keeps the few bytes of a sequence split between pieces itself.
"""

from ws.protocol import decode_utf8, utf8_cut  # noqa: F401 (decode_utf8 is this module's API)


class Utf8Validator:
    """Validates a text fed in pieces split anywhere; fails at the first impossible byte."""

    def __init__(self):
        self.tail = b""

    def reset(self):
        self.tail = b""

    def feed(self, buf, start=0, end=None):
        """Check buf[start:end]; False as soon as the bytes cannot be valid UTF-8."""
        t = self.tail + bytes(buf[start:end])
        cut = utf8_cut(t, 0, len(t))
        if cut < 0:
            return False
        self.tail = t[cut:]
        return True

    def finish(self):
        """True if the text ended on a code point boundary."""
        return not self.tail
