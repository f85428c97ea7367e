"""The filter chain of a sensor quantity: value filters in list order, then the reporting gates."""

from app.errors import AppError
from app.filters import Chain
from compat import ticks_add
from wsutil import raises


def run(filters, values, step_ms=1000):
    """What push() returns for each value, one every step_ms from 0 (or (ms, value) pairs)."""
    chain = Chain(filters)
    out = []
    for i, v in enumerate(values):
        at, v = v if isinstance(v, tuple) else (i * step_ms, v)
        out.append(chain.push(v, at))
    return out


def bad(filters, *words):
    e = raises(AppError, Chain, filters)
    assert e.code == "config_invalid", e
    for w in words:
        assert w in e.message, (w, e.message)


# ---- value filters


def test_no_filters_report_every_value():
    assert run([], [20.0, 20.0, 21.5]) == [20.0, 20.0, 21.5]
    assert Chain().push(3, 0) == 3 and Chain(None).push(4, 0) == 4


def test_median_over_a_sliding_window_from_the_first_value():
    assert run([{"median": 3}], [10, 30, 20, 100, 25, 24]) == [10, 20.0, 20, 30, 25, 25]


def test_median_of_one_is_the_value_and_an_even_window_averages_the_middle_two():
    assert run([{"median": 1}], [5, 1, 9]) == [5, 1, 9]
    assert run([{"median": 4}], [4, 8, 1, 3, 100]) == [4, 6.0, 4, 3.5, 5.5]


def test_average_over_a_sliding_window_from_the_first_value():
    assert run([{"average": 3}], [1, 2, 3, 10, 20]) == [1.0, 1.5, 2.0, 5.0, 11.0]


def test_calibrate_clamp_and_round():
    assert run([{"calibrate": [2, -1]}], [3, 0.5, -2]) == [5, 0.0, -5]
    assert run([{"clamp": [-40, 85]}], [100, -50, 20.5]) == [85, -40, 20.5]
    assert run([{"round": 1}], [21.37, 21.34, -3.06]) == [21.4, 21.3, -3.1]
    assert run([{"round": 0}], [2.4, 2.6]) == [2.0, 3.0]


def test_value_filters_run_in_list_order():
    assert run([{"calibrate": [10, 0]}, {"round": 0}], [1.26]) == [13.0]
    assert run([{"round": 0}, {"calibrate": [10, 0]}], [1.26]) == [10.0]
    assert run([{"clamp": [0, 10]}, {"calibrate": [2, 0]}], [7]) == [14]
    assert run([{"calibrate": [2, 0]}, {"clamp": [0, 10]}], [7]) == [10]


def test_a_median_removes_a_spike_that_an_average_would_smear():
    spiky = [20, 20, 95, 20, 20]
    assert run([{"median": 3}], spiky) == [20, 20.0, 20, 20, 20]
    assert run([{"average": 3}], spiky) == [20.0, 20.0, 45.0, 45.0, 45.0]


# ---- gates


def test_delta_reports_only_changes_from_the_last_reported_value():
    got = run([{"delta": 0.5}], [20.0, 20.3, 20.5, 20.2, 20.9, 21.3, 21.4, 20.4])
    assert got == [20.0, None, 20.5, None, None, 21.3, None, 20.4]


def test_delta_counts_a_change_of_exactly_d_despite_binary_fractions():
    assert run([{"delta": 0.2}], [20.0, 20.2, 20.3, 20.4]) == [20.0, 20.2, None, 20.4]
    assert run([{"delta": 0.1}], [1013.2, 1013.3, 1013.3]) == [1013.2, 1013.3, None]


def test_a_slow_drift_is_reported_once_it_adds_up_to_delta():
    got = run([{"delta": 1}], [20.0, 20.4, 20.8, 21.2, 21.6, 22.0, 22.4])
    assert got == [20.0, None, None, 21.2, None, None, 22.4]


def test_throttle_reports_at_most_once_per_period():
    values = [(0, 1), (10000, 2), (29999, 3), (30000, 4), (40000, 5), (59999, 6), (61000, 7)]
    assert run([{"throttle": 30}], values) == [1, None, None, 4, None, None, 7]


def test_heartbeat_reports_an_unchanged_value_every_period():
    values = [(0, 20.0), (100000, 20.0), (299999, 20.1), (300000, 20.1), (301000, 20.0), (600000, 20.0)]
    got = run([{"delta": 1}, {"heartbeat": 300}], values)
    assert got == [20.0, None, None, 20.1, None, 20.0]


def test_heartbeat_counts_from_the_last_report_of_any_kind():
    values = [(0, 20), (200000, 25), (400000, 25), (500000, 25)]
    assert run([{"delta": 1}, {"heartbeat": 300}], values) == [20, 25, None, 25]


def test_heartbeat_alone_suppresses_nothing():
    assert run([{"heartbeat": 60}], [1, 1, 1]) == [1, 1, 1]


def test_a_change_held_back_by_throttle_is_reported_when_the_period_ends():
    values = [(0, 20.0), (5000, 25.0), (30000, 25.0), (35000, 25.1)]
    assert run([{"delta": 1}, {"throttle": 30}], values) == [20.0, None, 25.0, None]


def test_gates_judge_the_filtered_value():
    # raw 20.04 and 20.06 differ by 0.02 but round to 20.0 and 20.1, which differ by delta
    assert run([{"round": 1}, {"delta": 0.1}], [20.04, 20.06]) == [20.0, 20.1]
    # the window keeps every value, reported or not: 0, 4, 4 then 12 averages to 8
    assert run([{"average": 2}, {"delta": 5}], [0, 4, 4, 12]) == [0.0, None, None, 8.0]


def test_the_full_chain_of_the_example():
    filters = [
        {"median": 5},
        {"average": 3},
        {"calibrate": [1.0, -0.5]},
        {"clamp": [-40, 85]},
        {"round": 1},
        {"delta": 0.2},
        {"throttle": 30},
        {"heartbeat": 300},
    ]
    values = [(0, 20), (10000, 120), (40000, 20), (70000, 20), (100000, 21), (130000, 21), (160000, 21)]
    values += [(190000, 21), (220000, 21), (400000, 21), (490000, 21)]
    # medians of 5: 20, 70, 20, 20, 20, 21, 21...; their averages of 3: 20, 45, 36.67, 36.67, 20,
    # 20.33, 20.67, 21; calibrated and rounded: 19.5, 44.5 (throttled), 36.2, 36.2 (no change),
    # 19.5, 19.8, 20.2, 20.5, then 20.5 unchanged until the heartbeat
    assert run(filters, values) == [19.5, None, 36.2, None, 19.5, 19.8, 20.2, 20.5, None, None, 20.5]


def test_time_is_compared_across_the_tick_counters_wrap():
    start = ticks_add(0, -1000)  # just before the counter wraps
    chain = Chain([{"throttle": 1}])
    assert chain.push(1, start) == 1
    assert chain.push(2, ticks_add(start, 999)) is None
    assert chain.push(3, ticks_add(start, 1500)) == 3


# ---- bad specs


def test_bad_filters_are_config_errors_that_name_the_filter():
    bad({"median": 5}, "'filters'", "list")
    bad([{"mean": 3}], "filter 1", "'mean'", "median, average, calibrate")
    bad([{"median": 3, "average": 3}], "filter 1")
    bad(["median"], "filter 1", "'median'")
    bad([{"round": 1}, {"median": 0}], "filter 2", "'median'", "1..64")
    bad([{"average": 2.5}], "'average'", "1..64")
    bad([{"median": True}], "'median'")
    bad([{"calibrate": [1]}], "'calibrate'", "[a, b]")
    bad([{"calibrate": ["1", 0]}], "'calibrate'")
    bad([{"clamp": [85, -40]}], "'clamp'", "lo <= hi")
    bad([{"round": -1}], "'round'", "0..9")
    bad([{"round": 1.5}], "'round'")
    bad([{"delta": 0}], "'delta'", "> 0")
    bad([{"throttle": "30"}], "'throttle'", "seconds")
    bad([{"heartbeat": -1}], "'heartbeat'", "seconds")


def test_value_filters_after_a_gate_or_a_gate_twice_are_config_errors():
    bad([{"delta": 1}, {"round": 1}], "filter 2", "'round'", "before delta")
    bad([{"delta": 1}, {"throttle": 5}, {"delta": 2}], "filter 3", "once")
    bad([{"throttle": 300}, {"heartbeat": 60}], "heartbeat", "longer than throttle")
