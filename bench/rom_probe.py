"""heap_probe with the firmware's code in a ROMFS image (flash on a board), not in the heap.

Usage: micropython -X heapsize=NNk rom_probe.py IMAGE HEAP_BYTES PORT COUNT SIZE DRIVER
Mounts IMAGE at /rom, leaves exactly HEAP_BYTES of the heap free in one piece (simulator/heaproom.py;
the image and this launcher stay outside it) and runs heap_probe from the image with the rest.
"""

import sys

import vfs

image, want = sys.argv[1], int(sys.argv[2])
with open(image, "rb") as f:
    vfs.mount(vfs.VfsRom(f.read()), "/rom")
sys.path.insert(0, sys.argv[0][: sys.argv[0].rfind("/")] + "/../simulator")
import heaproom  # noqa: E402

sys.path[:] = ["/rom", ".frozen"]
sys.argv[:] = ["heap_probe"] + sys.argv[3:]
keep = heaproom.set_aside(want)
import heap_probe  # noqa: E402, F401 (it runs at import)
