"""bench/app.py's arithmetic: the heap growth along the trend of the free-heap samples."""

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
