"""The board's flash as littlefs keeps it: a file's new content is committed when it is closed or flushed.

littlefs is copy-on-write: until a file opened for writing is closed or flushed, a power loss
leaves it as it was before the open (a file that open created exists, empty), and os.rename is
atomic. install() gives the board's code (boot.py, main.py, the REPL, mpremote) an open() that
keeps those rules for the files of the flash folder: a file opened for writing is a shadow copy
in FLASH.shadow/, copied over the real file (a copy, then an atomic rename) at every flush() and
close(). Shadows that a power loss left behind are dropped at the next boot, as littlefs forgets
uncommitted blocks. A file never closed is never committed. Reads, and files outside the flash
folder (NVS, the simulator's own), go straight to the host.

arm() sets up a power cut in the middle of a write; power_cut() ends the process at once (SIGKILL:
nothing is cleaned up or committed), which the simulator reports as a power loss and boots again.
Portable: CPython and the MicroPython unix interpreter.
"""

import builtins
import io
import os

_open = open  # the host's
_flash = None  # the flash folder, once installed
_shadows = None
_count = 0
_cut = None  # [file name, nth opening for writing, bytes or None, openings seen]


def install(flash):
    """Give the board's code littlefs's open() for the files of flash; drop uncommitted shadows."""
    global _flash, _shadows
    _flash = flash.rstrip("/")
    _shadows = _flash + ".shadow"
    try:
        os.mkdir(_shadows)
    except OSError:  # it exists: what is in it was never committed
        for name in os.listdir(_shadows):
            os.remove(_shadows + "/" + name)
    builtins.open = open


def uninstall():
    """The host's open() again (tests)."""
    global _flash
    builtins.open = _open
    _flash = None


def arm(name, nth=1, nbytes=None):
    """Cut the power during the nth opening for writing of the file name (from now on): once
    nbytes bytes of it reached the flash, else just before its content would be committed.
    name None disarms."""
    global _cut
    _cut = None if name is None else [name, nth, nbytes, 0]


def armed():
    """(name, nth, bytes) of the armed power cut, or None."""
    return None if _cut is None else tuple(_cut[:3])


def power_cut():
    """The power is gone: the process ends at once (SIGKILL), no finally, no commit."""
    kill = getattr(os, "kill", None)
    if kill is not None:
        kill(os.getpid(), 9)
    os.system("kill -9 $PPID")  # MicroPython's os has no kill(): the shell's parent is this process
    while True:  # the signal is on its way
        pass


def _copy(src, dst):
    with _open(src, "rb") as a, _open(dst, "wb") as b:
        while True:
            chunk = a.read(256)  # small: this runs in the application's heap
            if not chunk:
                break
            b.write(chunk)


def open(path, mode="r", *args, **kwargs):
    """The builtin open(), with littlefs's commit on flush/close for the flash's files written to."""
    writing = "w" in mode or "a" in mode or "x" in mode or "+" in mode
    inside = isinstance(path, str) and (path[:1] != "/" or path.startswith(_flash + "/"))
    if not (writing and inside and _flash is not None):
        return _open(path, mode, *args, **kwargs)
    if "x" in mode:  # exclusive creation, which MicroPython's unix open() ignores
        try:
            os.stat(path)
        except OSError:
            pass
        else:
            raise OSError(17, "EEXIST")
    # The host's errors for a bad path; a new file exists at once (littlefs commits the new name
    # at open), an existing one is not touched.
    _open(path, "rb" if "r" in mode else "ab").close()
    global _count
    _count += 1
    shadow = "%s/%d" % (_shadows, _count)
    if "a" in mode or "r" in mode:
        _copy(path, shadow)
    f = _open(shadow, mode.replace("x", "w"), *args, **kwargs)
    cut = None
    c = _cut
    if c is not None and (path == c[0] or path.endswith("/" + c[0])):
        c[3] += 1
        if c[3] == c[1]:
            cut = -1 if c[2] is None else c[2]  # -1: at the commit
    return File(path, shadow, f, cut)


class File(io.IOBase):
    """A flash file open for writing: its shadow, committed to the real file on flush and close."""

    def __init__(self, path, shadow, f, cut):
        self._path = path
        self._shadow = shadow
        self._f = f
        self._cut = cut  # bytes after which the power goes (-1: at the commit), or None
        self._n = 0  # bytes (characters in text mode) written so far

    def write(self, data):
        cut = self._cut
        if cut is not None and cut >= 0 and self._n + len(data) >= cut:
            self._f.write(data[: cut - self._n])
            self._f.flush()
            power_cut()
        self._n += len(data)
        return self._f.write(data)

    def flush(self):
        self._f.flush()
        if self._cut is not None:
            power_cut()
        _copy(self._shadow, self._shadow + "~")
        os.rename(self._shadow + "~", self._path)

    def close(self):
        if self._f is not None:
            self.flush()
            self._f.close()
            self._f = None
            os.remove(self._shadow)

    def read(self, *size):
        return self._f.read(*size)

    def readinto(self, buf):
        return self._f.readinto(buf)

    def readline(self, *size):
        return self._f.readline(*size)

    def seek(self, *args):
        return self._f.seek(*args)

    def tell(self):
        return self._f.tell()

    def __iter__(self):
        return iter(self._f)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        pass  # garbage is not a commit (CPython's IOBase would close, and so commit, here)
