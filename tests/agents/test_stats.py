"""agents.stats: IQM, stratified bootstrap intervals, probability of improvement."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.stats import (
    StatsError,
    iqm,
    iqm_interval,
    probability_of_improvement,
    probability_of_improvement_interval,
)


def test_iqm_known_values():
    assert iqm(np.arange(1.0, 9.0)) == pytest.approx(4.5)  # mean of 3, 4, 5, 6
    # 10 values: a quarter is 2.5, cut 2 from each end (rliable's rounding) -> mean of 3..8
    assert iqm(np.arange(1.0, 11.0)) == pytest.approx(5.5)
    # outliers at both ends do not move it
    assert iqm([-1e9, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 1e9]) == pytest.approx(3.5)
    # (runs, tasks): all runs of all tasks are pooled
    assert iqm(np.arange(1.0, 9.0).reshape(4, 2)) == pytest.approx(4.5)


def test_iqm_interval_contains_point_and_is_reproducible():
    x = np.random.default_rng(1).normal(size=(12, 3))
    a = iqm_interval(x, np.random.default_rng(5), resamples=500)
    b = iqm_interval(x, np.random.default_rng(5), resamples=500)
    assert a == b
    assert a.low < a.point < a.high and a.runs == 12
    assert a.point == pytest.approx(iqm(x))


def test_constant_scores_give_a_zero_width_interval():
    ci = iqm_interval([1.0, 1.0, 1.0], np.random.default_rng(0))
    assert (ci.point, ci.low, ci.high) == (1.0, 1.0, 1.0)


def test_stratified_bootstrap_keeps_tasks_apart():
    # task 0 is always 0, task 1 always 1: resampling within tasks never changes the pooled IQM;
    # an unstratified bootstrap over all 8 values would.
    x = np.column_stack([np.zeros(4), np.ones(4)])
    ci = iqm_interval(x, np.random.default_rng(0), resamples=300)
    assert (ci.low, ci.high) == (0.5, 0.5)


def test_iqm_interval_coverage_about_95_percent():
    # True IQM of a normal distribution = its mean (symmetric): the 95 % interval should contain it
    # in about 95 % of repetitions (percentile bootstrap on 30 runs, 200 repetitions).
    rng = np.random.default_rng(2021)
    true_mean = 3.0
    hits = 0
    reps = 200
    for _ in range(reps):
        sample = rng.normal(true_mean, 2.0, size=30)
        ci = iqm_interval(sample, rng, resamples=1000)
        hits += ci.low <= true_mean <= ci.high
    assert 0.90 <= hits / reps <= 0.99


def test_probability_of_improvement_hand_cases():
    assert probability_of_improvement([3.0, 4.0], [1.0, 2.0]) == 1.0
    assert probability_of_improvement([1.0, 2.0], [3.0, 4.0]) == 0.0
    assert probability_of_improvement([1.0], [1.0]) == 0.5
    # pairs (x, y): (1,2)<, (1,2)<, (2,2)=, (2,2)=, (3,2)>, (3,2)>  ->  (2 + 0.5 * 2) / 6
    assert probability_of_improvement([1.0, 2.0, 3.0], [2.0, 2.0]) == pytest.approx(0.5)
    # x = [0, 5, 5], y = [1, 5]: greater (5,1)x2 = 2, equal (5,5)x2 = 2 -> (2 + 1) / 6
    assert probability_of_improvement([0.0, 5.0, 5.0], [1.0, 5.0]) == pytest.approx(0.5)
    # x = [2, 3], y = [1, 2, 4]: greater (2,1) (3,1) (3,2) = 3, equal (2,2) = 1 -> 3.5 / 6
    assert probability_of_improvement([2.0, 3.0], [1.0, 2.0, 4.0]) == pytest.approx(3.5 / 6)
    # two tasks: averaged over tasks
    x = np.array([[1.0, 0.0], [1.0, 0.0]])
    y = np.array([[0.0, 1.0], [0.0, 1.0]])
    assert probability_of_improvement(x, y) == pytest.approx(0.5)


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.integers(0, 4), min_size=1, max_size=6),
    st.lists(st.integers(0, 4), min_size=1, max_size=6),
)
def test_probability_of_improvement_matches_pair_count(x, y):
    greater = sum(a > b for a in x for b in y)
    equal = sum(a == b for a in x for b in y)
    expected = (greater + 0.5 * equal) / (len(x) * len(y))
    assert probability_of_improvement(x, y) == pytest.approx(expected)
    assert probability_of_improvement(y, x) == pytest.approx(1.0 - expected)


def test_probability_of_improvement_interval():
    rng = np.random.default_rng(0)
    better, worse = rng.normal(1.0, 1.0, 20), rng.normal(0.0, 1.0, 20)
    ci = probability_of_improvement_interval(better, worse, np.random.default_rng(1), resamples=500)
    assert ci.point == pytest.approx(probability_of_improvement(better, worse))
    assert 0.5 < ci.low <= ci.point <= ci.high <= 1.0


@pytest.mark.parametrize(
    "scores, match",
    [([], "runs >= 1"), ([1.0, float("nan")], "NaN"), (np.zeros((2, 2, 2)), "shape")],
)
def test_bad_scores_are_named(scores, match):
    with pytest.raises(StatsError, match=match):
        iqm(scores)


def test_poi_needs_the_same_tasks():
    with pytest.raises(StatsError, match="same tasks"):
        probability_of_improvement(np.zeros((2, 2)), np.zeros((2, 3)))


def test_interval_against_a_one_run_baseline_resamples_only_the_other_side():
    # the expert is deterministic: one run; P(X > 1.0) counts ties as one half
    x = [0.99, 0.98, 1.0, 0.97, 0.99]
    ci = probability_of_improvement_interval(x, [1.0], np.random.default_rng(0), resamples=400)
    assert ci.point == pytest.approx(0.1) and 0.0 <= ci.low <= ci.point <= ci.high <= 0.5
    assert ci.low < ci.high  # x varies, so the interval has a width
    # the other way round, and a one-run sample on both sides (nothing to resample)
    back = probability_of_improvement_interval([1.0], x, np.random.default_rng(0), resamples=400)
    assert back.point == pytest.approx(0.9) and back.low <= back.point <= back.high
    both = probability_of_improvement_interval([0.5], [0.2], np.random.default_rng(0))
    assert (both.low, both.point, both.high) == (1.0, 1.0, 1.0)
