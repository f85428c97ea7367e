"""MicroPython's `micropython` module for CPython (on MicroPython the built-in module wins).

Only names the ESP32 port has (micropython-esp32-stubs), with CPython stand-ins: const and native
return what they are given; heap_lock counts its depth but cannot stop CPython allocating;
schedule runs the function at once unless a scheduled function is already running.
`viper`, `asm_thumb` and `asm_xtensa` are deliberately absent: code written for those emitters
(compiled by firmware/ws/mask.py) must fail on CPython (AttributeError) so its portable
fallback is used.
"""

import operator
import signal
import sys
import threading

_UNSET = object()  # tells opt_level() from opt_level(None), which MicroPython rejects
_SCHEDULE_DEPTH = 4  # MICROPY_SCHEDULER_DEPTH of the ESP32 port
_STACK_SIZE = 15360  # what mem_info() reports as the ESP32 main task's stack
_FRAME_BYTES = 96  # stack a Python call takes on the ESP32, roughly

_heap_depth = 0
_opt_level = 0
_emergency_buf = 0
_kbd_char = 3
_pending = []
_pending_lock = threading.Lock()
_runner = threading.Lock()  # held while scheduled functions run: none preempts another


def const(expr):
    """The value itself: MicroPython's compiler inlines it, CPython just returns it."""
    return expr


def native(func):
    """The function unchanged: CPython has no native emitter."""
    return func


def heap_lock():
    """Deepen the heap lock (CPython keeps allocating: the depth is only counted)."""
    global _heap_depth
    _heap_depth += 1


def heap_unlock():
    """Undo one heap_lock(); the remaining depth (0: unlocked)."""
    global _heap_depth
    if _heap_depth:
        _heap_depth -= 1
    return _heap_depth


def mem_info(verbose=_UNSET):
    """Print stack and heap use as the ESP32 port does (heap figures from gc.mem_alloc/mem_free)."""
    import gc

    print("stack: %d out of %d" % (stack_use(), _STACK_SIZE))
    alloc = getattr(gc, "mem_alloc", None)
    free = getattr(gc, "mem_free", None)
    if alloc is None or free is None:
        print("GC: not simulated (simulator.cpython.install() adds gc.mem_alloc and gc.mem_free)")
        return
    used, left = alloc(), free()
    print("GC: total: %d, used: %d, free: %d" % (used + left, used, left))
    print(
        " No. of 1-blocks: %d, 2-blocks: %d, max blk sz: %d, max free sz: %d"
        % (used // 48, used // 160, 32, left // 16)
    )
    if verbose is not _UNSET:
        print("GC memory layout; (the simulated heap has no block map)")


def qstr_info(verbose=_UNSET):
    """Print interned-string figures in the port's format (CPython's interning is not counted)."""
    n = len(sys.modules)
    print("qstr pool: n_pool=1, n_qstr=%d, n_str_data_bytes=%d, n_total_bytes=%d" % (n, n * 8, n * 24))
    if verbose is not _UNSET:
        for name in sorted(sys.modules):
            print("Q(%s)" % name)


def opt_level(level=_UNSET):
    """The optimisation level, or set it (recorded only: CPython's -O cannot change at run time)."""
    global _opt_level
    if level is _UNSET:
        return _opt_level
    _opt_level = operator.index(level)


def alloc_emergency_exception_buf(size):
    """Record the emergency exception buffer size (CPython needs none)."""
    global _emergency_buf
    _emergency_buf = operator.index(size)


def kbd_intr(chr):
    """Set the character that raises KeyboardInterrupt: -1 ignores Ctrl-C, 3 restores it.

    CPython sees Ctrl-C as SIGINT, so only -1 and 3 change anything (and only in the main thread).
    """
    global _kbd_char
    _kbd_char = operator.index(chr)
    if threading.current_thread() is threading.main_thread():
        if _kbd_char == -1:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        elif _kbd_char == 3:
            signal.signal(signal.SIGINT, signal.default_int_handler)


def schedule(func, arg):
    """Run func(arg) "very soon": at once, or after the scheduled function now running returns.

    RuntimeError when the queue is full, as on the board; schedule(kbd_intr, None) raises
    KeyboardInterrupt in the main thread.
    """
    with _pending_lock:
        if len(_pending) >= _SCHEDULE_DEPTH:
            raise RuntimeError("schedule queue full")
        _pending.append((func, arg))
    while _runner.acquire(False):
        try:
            _run_pending()
        finally:
            _runner.release()
        if not _pending:  # another thread may have queued one while the runner was being released
            break


def _run_pending():
    while True:
        with _pending_lock:
            if not _pending:
                return
            func, arg = _pending.pop(0)
        if func is kbd_intr:
            if threading.current_thread() is threading.main_thread():
                raise KeyboardInterrupt
            import _thread

            _thread.interrupt_main()
        else:
            func(arg)


def stack_use():
    """Stack in use, in bytes: grows with the Python call depth as it would on the board."""
    depth = 0
    f = sys._getframe(1)
    while f is not None:
        depth += 1
        f = f.f_back
    return depth * _FRAME_BYTES


class RingIO:
    """A byte ring buffer with the stream methods of MicroPython's RingIO (non-blocking)."""

    def __init__(self, size):
        if isinstance(size, int):
            if size < 1:
                raise ValueError()
            self._cap = size
        else:
            # A caller-supplied buffer of n bytes holds n - 1, as in MicroPython.
            view = memoryview(size)
            if view.readonly:
                raise TypeError("can't convert %s to int" % type(size).__name__)
            self._cap = view.nbytes - 1
            if self._cap < 1:
                raise ValueError()
        self._data = bytearray()

    def any(self):
        """How many bytes can be read."""
        return len(self._data)

    def write(self, buf):
        """Append as much of buf as fits; the number of bytes written."""
        if isinstance(buf, str):
            buf = buf.encode()
        n = min(len(buf), self._cap - len(self._data))
        self._data += memoryview(buf)[:n]
        return n

    def read(self, nbytes=None):
        """Up to nbytes (default: all) available bytes; b"" when empty."""
        return self._take(len(self._data) if nbytes is None else nbytes)

    def readline(self, nbytes=None):
        """Bytes up to and including a newline, or all available; at most nbytes."""
        end = self._data.find(b"\n")
        n = len(self._data) if end < 0 else end + 1
        return self._take(n if nbytes is None else min(n, nbytes))

    def readinto(self, buf, nbytes=None):
        """Read into buf, at most len(buf) or nbytes bytes; the number read."""
        n = len(buf) if nbytes is None else min(len(buf), nbytes)
        data = self._take(n)
        buf[: len(data)] = data
        return len(data)

    def close(self):
        """Nothing to release (the stream interface asks for it)."""

    def _take(self, n):
        n = max(0, min(n, len(self._data)))
        data = bytes(self._data[:n])
        self._data[:n] = b""
        return data
