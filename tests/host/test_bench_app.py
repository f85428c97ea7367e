"""bench/app.py's arithmetic: the heap growth along the trend of the free-heap samples."""

import shutil

import pytest

from bench.app import growth_trend


def test_a_steady_loss_is_the_growth_and_one_dipping_sample_does_not_make_one():
    assert growth_trend([100_000, 99_000, 98_000, 97_000, 96_000, 95_000]) == 5000
    assert growth_trend([96_000, 96_000, 93_000, 96_000, 96_000, 96_000]) == 0
    assert growth_trend([96_000, 96_100, 95_900, 96_000, 96_050, 96_000]) == 0


def test_memory_given_back_is_negative_growth_and_one_sample_has_none():
    assert growth_trend([90_000, 92_000, 94_000]) == -4000
    assert growth_trend([90_000]) == 0


def test_the_growth_verdict_allows_under_ten_blocks_and_no_steady_loss_beyond():
    from bench.app import report

    def verdict(growth):
        r = {"median_us": 500, "p99_us": 900, "growth_bytes": growth, "growth_count": 5000, "heap_series": []}
        line = [
            x for x in report({"micropython": r}, {"micropython": 200}).splitlines() if "heap growth" in x
        ]
        return line[0].rsplit(" ", 1)[1]

    assert verdict(0) == "PASS" and verdict(150) == "PASS"
    assert verdict(160) == "MISSED" and verdict(4000) == "MISSED"


def test_the_round_trip_verdict_is_the_median_of_the_rounds_ratios_next_to_their_own_echo():
    from bench.app import report

    r = {
        "median_us": 400,
        "p99_us": 900,
        "echo_us": 150,
        "ratios": [2.1, 3.4, 2.9, 2.8, 3.3],
        "ratio": 2.9,
        "round_count": 200,
    }
    lines = report({"micropython": r}, {"micropython": 120}).splitlines()
    first = [x for x in lines if "command round trip" in x][0]
    assert "echo 150 us" in first and "ratio 2.90x" in first and first.endswith("PASS")
    assert any("2.10x 3.40x 2.90x 2.80x 3.30x" in x for x in lines)
    assert any("the client's table has 120 us: 3.33x" in x for x in lines)  # reported, not judged
    r["ratio"] = 3.1
    assert [x for x in report({"micropython": r}, {}).splitlines() if "round trip" in x][0].endswith("MISSED")


@pytest.mark.parametrize("runtime", ["cpython", "micropython"])
def test_the_plain_echo_is_timed_one_message_after_the_other(runtime):
    # mp_client.py echo against the bench's websockets echo server on loopback, on both runtimes.
    from bench.run import EchoServer, run_script

    with EchoServer() as server:
        r = run_script(runtime, ("echo", server.port, 32, 50, 5), shutil.which("micropython"), timeout=60)
    assert r["runtime"] == runtime and r["size"] == 32 and r["count"] == 50
    assert len(r["times"]["client"]) == 50 and all(t > 0 for t in r["times"]["client"])


def test_the_heap_target_is_judged_on_the_romfs_layout_and_the_mpy_one_reported():
    from bench.app import report

    def lines(**results):
        return [x for x in report(results, {}).splitlines() if "smallest application heap" in x]

    romfs, mpy = lines(smallest_heap_romfs_kib=63, smallest_heap_kib=98)
    assert "code in ROMFS (make image ROMFS=1): 63 KiB (target <= 64 KiB) PASS" in romfs
    assert "(make deploy): 98 KiB (reported" in mpy and "PASS" not in mpy and "MISSED" not in mpy
    assert lines(smallest_heap_romfs_kib=67)[0].endswith("MISSED")
    assert lines(smallest_heap_romfs_kib=None)[0].endswith("more than 256 KiB (target <= 64 KiB) MISSED")
