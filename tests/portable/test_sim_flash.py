"""The simulated flash keeps littlefs's rules on both runtimes: what is written to a file is
committed when it is closed or flushed, never before; power cuts armed for a write happen there."""

import errno
import json
import os
import time

import simflash

from wsutil import raises

_made = [0]


class PowerCut(Exception):
    pass


def _cut():
    raise PowerCut()


def with_flash(test):
    """Run test(folder) with simflash installed on a new folder under /tmp, then undo it."""
    _made[0] += 1
    folder = "/tmp/sim-flash-%d-%d" % (time.time_ns() // 1000, _made[0])
    os.mkdir(folder)
    simflash.install(folder)
    try:
        test(folder)
    finally:
        simflash.uninstall()
        simflash.arm(None)
        simflash.power_cut = _real_cut
        for f in (folder, folder + ".shadow"):
            for name in os.listdir(f):
                os.remove(f + "/" + name)
            os.rmdir(f)


_real_cut = simflash.power_cut


def read(path):
    with open(path) as f:
        return f.read()


def test_sim_flash_new_content_is_committed_on_close():
    def test(d):
        f = open(d + "/a.txt", "w")
        f.write("hello")
        assert read(d + "/a.txt") == ""  # created at open, empty until the commit
        f.close()
        assert read(d + "/a.txt") == "hello"
        with open(d + "/a.txt", "w") as f:
            f.write("new")
            assert read(d + "/a.txt") == "hello"  # the old content, whole
        assert read(d + "/a.txt") == "new"
        assert os.listdir(d + ".shadow") == []

    with_flash(test)


def test_sim_flash_flush_commits_what_was_written_so_far():
    def test(d):
        with open(d + "/log.txt", "w") as f:
            f.write("one\n")
        f = open(d + "/log.txt", "a")
        f.write("two\n")
        assert read(d + "/log.txt") == "one\n"
        f.flush()
        assert read(d + "/log.txt") == "one\ntwo\n"
        f.write("three\n")
        assert read(d + "/log.txt") == "one\ntwo\n"
        f.close()
        assert read(d + "/log.txt") == "one\ntwo\nthree\n"

    with_flash(test)


def test_sim_flash_a_file_never_closed_is_never_committed():
    def test(d):
        with open(d + "/s.json", "w") as f:
            f.write("{}")
        f = open(d + "/s.json", "w")
        f.write('{"n": 2}')
        f = None
        import gc

        gc.collect()
        assert read(d + "/s.json") == "{}"
        assert len(os.listdir(d + ".shadow")) == 1
        simflash.install(d)  # the next boot forgets the uncommitted content
        assert os.listdir(d + ".shadow") == []
        assert read(d + "/s.json") == "{}"

    with_flash(test)


def test_sim_flash_modes_keep_their_meaning_and_errors():
    def test(d):
        with open(d + "/b.bin", "wb") as f:
            f.write(b"abcdef")
        with open(d + "/b.bin", "r+b") as f:
            assert f.read(2) == b"ab"
            f.seek(0)
            f.write(b"X")
        assert read(d + "/b.bin") == "Xbcdef"
        assert raises(OSError, open, d + "/b.bin", "x").errno == errno.EEXIST
        assert raises(OSError, open, d + "/none.bin", "r+b").errno == errno.ENOENT
        assert raises(OSError, open, d + "/no/dir.txt", "w").errno == errno.ENOENT
        with open(d + "/new.txt", "x") as f:
            f.write("made")
        assert read(d + "/new.txt") == "made"

    with_flash(test)


def test_sim_flash_json_and_print_write_through_it():
    def test(d):
        with open(d + "/c.json", "w") as f:
            json.dump({"k": [1, 2]}, f)
            print(" end", file=f)
        assert read(d + "/c.json") == '{"k": [1, 2]} end\n'

    with_flash(test)


def test_sim_flash_files_outside_the_flash_are_the_hosts():
    def test(d):
        path = d + "-host.txt"  # beside the flash folder, not in it
        f = open(path, "w")
        f.write("at once")
        f.flush()
        assert read(path) == "at once"
        f.close()
        os.remove(path)

    with_flash(test)


def test_sim_flash_power_cut_in_the_middle_of_the_nth_write():
    def test(d):
        simflash.power_cut = _cut
        simflash.arm("s.tmp", 2, 5)
        with open(d + "/s.tmp", "w") as f:  # the first opening: no cut
            f.write("first")
        assert simflash.armed() == ("s.tmp", 2, 5)
        f = open(d + "/s.tmp", "w")
        f.write("abc")
        raises(PowerCut, f.write, "defgh")  # once 5 bytes reached the flash
        assert read(d + "/s.tmp") == "first"

    with_flash(test)


def test_sim_flash_power_cut_before_the_commit():
    def test(d):
        simflash.power_cut = _cut
        with open(d + "/t.tmp", "w") as f:
            f.write("old")
        simflash.arm("t.tmp")
        f = open(d + "/t.tmp", "w")
        f.write("x" * 100)
        raises(PowerCut, f.close)
        assert read(d + "/t.tmp") == "old"

    with_flash(test)
