"""Host side of the benchmarks: the echo server process and the runs on each runtime."""

import json
import os
import platform
import select
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIRMWARE = os.path.join(ROOT, "firmware")
SCRIPT = os.path.join("bench", "mp_client.py")
# Runtime-side helpers compiled to .mpy next to the firmware for the heap runs.
_PROBE_FILES = ("heap_probe", "heap_live", "core_sync", "floor", "clock")


class BenchError(Exception):
    """Something actually failed (as opposed to a missed target)."""


def tool(name):
    """Path of a tool from the venv (on PATH under make), or None."""
    found = shutil.which(name)
    if found:
        return found
    local = os.path.join(ROOT, ".venv", "bin", name)
    return local if os.path.exists(local) else None


def micropython_version(mp):
    out = subprocess.run(
        [mp, "-c", "import sys; print('%d.%d.%d' % sys.implementation.version[:3])"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    return out.stdout.strip() or "?"


class EchoServer:
    """The `websockets` echo server in its own process on 127.0.0.1, an ephemeral port."""

    def __enter__(self):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.echo_server"], cwd=ROOT, stdout=subprocess.PIPE, text=True
        )
        ready, _, _ = select.select([self.proc.stdout], [], [], 30)
        line = self.proc.stdout.readline() if ready else ""
        if not line.strip().isdigit():
            self.stop()
            raise BenchError("the echo server did not start (got %r)" % line)
        self.port = int(line)
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        """Stop the server by its PID: SIGTERM, then SIGKILL if it lingers."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()


def _env(runtime):
    env = dict(os.environ)
    if runtime == "micropython":
        # .frozen holds asyncio on the unix port; MICROPYPATH replaces the default path.
        env["MICROPYPATH"] = FIRMWARE + ":.frozen"
    else:
        env["PYTHONPATH"] = FIRMWARE
    return env


def run_script(runtime, args, mp=None, timeout=240):
    """Run bench/mp_client.py on one runtime and return its JSON result."""
    exe = mp if runtime == "micropython" else sys.executable
    cmd = [exe, SCRIPT] + [str(a) for a in args]
    try:
        r = subprocess.run(cmd, cwd=ROOT, env=_env(runtime), capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise BenchError("%s %s timed out after %d s" % (runtime, " ".join(cmd[1:]), timeout))
    if r.returncode != 0 or not r.stdout.strip():
        # MicroPython prints its traceback on stdout.
        out = (r.stdout + r.stderr).strip()[-3000:]
        raise BenchError("%s %s failed (exit %d):\n%s" % (runtime, " ".join(cmd[1:]), r.returncode, out))
    return json.loads(r.stdout.strip().splitlines()[-1])


def mpy_arch():
    """mpy-cross -march for this machine's MicroPython, or None if it has no native emitter here."""
    return {"x86_64": "x64", "amd64": "x64", "i686": "x86", "i386": "x86"}.get(platform.machine().lower())


# What a ws:// client keeps on the board, in import order, so each import's cost is its own; and
# what connect() loads and drops again (ws.tls only for wss://, ws._cpython never on the board).
RESIDENT = ("asyncio", "compat", "ws", "ws.protocol", "ws.client")
TRANSIENT = ("ws.dial", "ws.handshake")


class MpyTree:
    """The firmware (and the probes) compiled with mpy-cross into a temporary directory."""

    def __init__(self, mpy_cross, arch):
        self.dir = tempfile.mkdtemp(prefix="bench-mpy-")
        self.image = None  # the tree as a ROMFS image, made when first asked for
        sources = []
        for folder, _, files in os.walk(FIRMWARE):
            for f in files:
                if f.endswith(".py"):
                    path = os.path.relpath(os.path.join(folder, f), ROOT)
                    sources.append((path, os.path.relpath(path, "firmware")))
        for name in _PROBE_FILES:
            sources.append((os.path.join("bench", name + ".py"), name + ".py"))
        for src, rel in sources:
            out = os.path.join(self.dir, rel[:-3] + ".mpy")
            os.makedirs(os.path.dirname(out), exist_ok=True)
            # Relative source paths, as scripts/mpy.sh compiles them: the name is in the .mpy.
            r = subprocess.run(
                [mpy_cross, "-march=" + arch, "-o", out, src],
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=60,
            )
            if r.returncode != 0:
                raise BenchError("mpy-cross failed on %s:\n%s" % (rel, r.stderr))

    def run(self, mp, heap_kib, module, args, timeout=120):
        """(ok, output) of `micropython -X heapsize=NNk -m module args` on the compiled tree."""
        env = dict(os.environ)
        env["MICROPYPATH"] = self.dir + ":.frozen"
        cmd = [mp, "-X", "heapsize=%dk" % heap_kib, "-m", module] + [str(a) for a in args]
        try:
            r = subprocess.run(cmd, cwd=self.dir, env=env, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return False, "timed out after %d s" % timeout
        return r.returncode == 0, (r.stdout + r.stderr).strip()

    def run_rom(self, mp, heap_kib, args, timeout=120):
        """(ok, output) of heap_probe with the compiled tree as a ROMFS image outside the heap_kib
        the probe gets (bench/rom_probe.py)."""
        if self.image is None:
            from simulator.__main__ import romfs_image

            self.image = romfs_image(self.dir)
        total = heap_kib + os.path.getsize(self.image) // 1024 + 64  # the image and the launcher
        env = dict(os.environ)
        env["MICROPYPATH"] = ".frozen"
        launcher = os.path.join(ROOT, "bench", "rom_probe.py")
        cmd = [mp, "-X", "heapsize=%dk" % total, launcher, self.image, str(heap_kib * 1024)]
        cmd += [str(a) for a in args]
        try:
            r = subprocess.run(cmd, cwd=self.dir, env=env, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return False, "timed out after %d s" % timeout
        return r.returncode == 0, (r.stdout + r.stderr).strip()

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)
        if self.image:
            os.remove(self.image)


def smallest_heap(tree, mp, port, driver, count=1000, size=1024, lo=4, hi=512, rom=False):
    """Binary search (KiB) for the smallest heap in which `count` echoes of `size` bytes succeed;
    rom: with the code in a ROMFS image instead of .mpy files loaded into the heap.

    Returns (kib, why the next size down failed). BenchError if even `hi` KiB fails.
    """
    args = (port, count, size, driver)

    def probe(kib):
        return tree.run_rom(mp, kib, args) if rom else tree.run(mp, kib, "heap_probe", args)

    ok, out = probe(hi)
    if not ok or not out.endswith("OK"):
        raise BenchError("%d echoes with a %d KiB heap (%s) failed:\n%s" % (count, hi, driver, out[-2000:]))
    why = ""
    while hi - lo > 1:
        mid = (lo + hi) // 2
        ok, out = probe(mid)
        if ok and out.endswith("OK"):
            hi = mid
        else:
            lo = mid
            why = out.strip().splitlines()[-1] if out.strip() else "no output"
    return hi, why


def heap_live(tree, mp, port):
    """[(stage, bytes in use)]: after each import a ws:// client keeps, what each connect-time
    module takes while it is loaded, after connect, after 1000 echoes."""
    ok, out = tree.run(mp, 1024, "heap_live", (port, ",".join(RESIDENT), ",".join(TRANSIENT)))
    if not ok:
        raise BenchError("heap_live failed:\n%s" % out[-2000:])
    return json.loads(out.strip().splitlines()[-1])
