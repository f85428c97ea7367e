"""MicroPython only: give the code under test exactly N bytes of the interpreter's heap, in one piece.

What runs before it (the simulator's fakes, which stand for the chip's C modules; a ROMFS image,
which stands for flash) shares the heap given with `-X heapsize`. set_aside(n) sets a block of n
bytes aside, fills everything else (the holes earlier code left first, largest pieces first) and
gives the block back: from then on the heap has n bytes free, in one piece, as a board's heap is
after boot. Handing over the holes instead would fragment the heap as no board's is.

Names are the other thing earlier code leaves. MicroPython interns every name in qstr pools, each
twice as large as the one before (about 11 bytes a name on a 64-bit interpreter); on the chip the
built-in modules' names are in flash and the application's fill pools of their own: about 7 KiB
for 600 names, the largest pool 3.5 KiB. When Python fakes have filled those pools already, the
application's names would need the next pool, 14 KiB in one piece, at whatever moment a name first
overflows the last one. With names=True that pool is made first, outside the application's heap,
and what the application's names would take on the chip (NAMES_CHARGE) is charged to its heap.
"""

import gc

NAMES_CHARGE = 7 * 1024


def _new_name_pool():
    anything = object()
    for i in range(8000):
        before = gc.mem_alloc()
        getattr(anything, "_heaproom%d" % i, None)  # interns the name
        if gc.mem_alloc() - before > 8192:  # a new pool: room for thousands of names
            return


def set_aside(want, names=False):
    """Leave exactly `want` bytes free in one block; what holds the rest (keep it referenced).
    Raises MemoryError with what is left when there is not that much room."""
    if names:
        _new_name_pool()
    gc.collect()
    if gc.mem_free() <= want:
        raise MemoryError("only %d bytes of heap left, not %d" % (gc.mem_free(), want))
    region = bytearray(want)  # MemoryError: no single block that large
    fill = None  # a chain of (rest, piece): filling needs no list that grows
    for _ in range(4):  # a collection may free more: what stale pointers kept alive until then
        for size in (16384, 2048, 256, 32, 1):
            while gc.mem_free() > size + 64:
                try:
                    fill = (fill, bytearray(size))
                except MemoryError:
                    break
        gc.collect()
        if gc.mem_free() < 1024:
            break
    region = None  # noqa: F841 -- given back, in one piece
    gc.collect()
    if names:
        fill = (fill, bytearray(NAMES_CHARGE))
    return fill
