"""bench/app.py's arithmetic: the heap growth along the trend of the free-heap samples."""

from bench.app import growth_trend


def test_a_steady_loss_is_the_growth_and_one_dipping_sample_does_not_make_one():
    assert growth_trend([100_000, 99_000, 98_000, 97_000, 96_000, 95_000]) == 5000
    assert growth_trend([96_000, 96_000, 93_000, 96_000, 96_000, 96_000]) == 0
    assert growth_trend([96_000, 96_100, 95_900, 96_000, 96_050, 96_000]) == 0


def test_memory_given_back_is_negative_growth_and_one_sample_has_none():
    assert growth_trend([90_000, 92_000, 94_000]) == -4000
    assert growth_trend([90_000]) == 0
