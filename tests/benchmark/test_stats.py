"""Tests of recgym/benchmark/stats.py against hand computations and independent formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest

from recgym.benchmark.stats import (
    bootstrap_p_value,
    holm,
    iqm,
    iqm_interval,
    mean_interval,
    session_bootstrap,
    welch_difference,
)


def test_mean_interval_by_hand():
    # values 1, 2, 3, 4: mean 2.5, s = sqrt(5/3), t(0.975, 3) = 3.182446305284263
    interval = mean_interval([1.0, 2.0, 3.0, 4.0])
    half = 3.182446305284263 * math.sqrt(5 / 3) / 2
    assert interval.estimate == pytest.approx(2.5)
    assert (interval.low, interval.high) == pytest.approx((2.5 - half, 2.5 + half))


def test_mean_interval_of_one_value_has_no_bounds_and_nan_is_ignored():
    interval = mean_interval([0.3, float("nan")])
    assert interval.estimate == pytest.approx(0.3) and math.isnan(interval.low) and math.isnan(interval.high)


def test_welch_difference_by_hand():
    a, b = [1.0, 2.0, 3.0], [2.0, 4.0, 6.0, 8.0]
    # var a = 1, var b = 20/3; se^2 = 1/3 + 5/3 = 2; df = 4 / ((1/3)^2/2 + (5/3)^2/3)
    diff, se = 2.0 - 5.0, math.sqrt(2.0)
    df = 4.0 / ((1 / 9) / 2 + (25 / 9) / 3)
    from scipy import stats

    expected_p = 2 * stats.t.sf(abs(diff) / se, df)
    half = stats.t.ppf(0.975, df) * se
    d = welch_difference(a, b)
    assert d.estimate == pytest.approx(diff)
    assert (d.low, d.high) == pytest.approx((diff - half, diff + half))
    assert d.p_value == pytest.approx(expected_p)
    assert d.p_value == pytest.approx(stats.ttest_ind(a, b, equal_var=False).pvalue)  # scipy's own Welch test
    assert d.significant == (d.high < 0)


def test_welch_difference_of_constant_samples_is_exact():
    same = welch_difference([0.5, 0.5], [0.5, 0.5])
    assert (same.estimate, same.low, same.high, same.p_value, same.significant) == (0.0, 0.0, 0.0, 1.0, False)
    apart = welch_difference([0.7, 0.7], [0.5, 0.5])
    assert apart.p_value == 0.0 and apart.significant and apart.low == pytest.approx(0.2)


def test_welch_difference_needs_two_values_a_side():
    d = welch_difference([1.0], [1.0, 2.0])
    assert d.estimate == pytest.approx(-0.5) and math.isnan(d.p_value) and not d.significant


def test_iqm_is_the_mean_of_the_middle_half():
    assert iqm(np.array([1.0, 2.0, 3.0, 4.0, 100.0, -50.0, 5.0, 6.0])) == pytest.approx(np.mean([2, 3, 4, 5]))


def test_iqm_interval_contains_the_estimate_and_is_seeded():
    scores = {"a": [0.9, 1.0, 1.1, 1.05, 0.95], "b": [1.2, 1.3, 1.1, 1.25, 1.15]}
    first, second = iqm_interval(scores, seed=3), iqm_interval(scores, seed=3)
    assert first == second
    assert first.low <= first.estimate <= first.high
    assert first.estimate == pytest.approx(iqm(np.concatenate([scores["a"], scores["b"]])))
    # a bootstrap resample never leaves the range of the data
    assert first.low >= 0.9 and first.high <= 1.3


def test_holm_by_hand():
    # sorted 0.005, 0.01, 0.03, 0.04 -> 4 x 0.005, 3 x 0.01, 2 x 0.03, max(1 x 0.04, 0.06): 0.02, 0.03, 0.06, 0.06
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02])
    adjusted = holm([0.5, float("nan"), 0.2])  # NaN is not in the family
    assert np.isnan(adjusted[1]) and adjusted.tolist()[::2] == [0.5, 0.4]
    assert holm([0.9, 0.8]).tolist() == [1.0, 1.0]  # capped at 1


def ratio(summed: np.ndarray) -> np.ndarray:
    """Column 0 over column 1: a per-event mean from per-session sums, as HR is."""
    return summed[..., :1] / summed[..., 1:2]


def test_session_bootstrap_of_one_run_has_the_standard_error_of_a_mean_over_sessions():
    rng = np.random.default_rng(0)
    values = rng.normal(3.0, 2.0, size=800)
    parts = np.stack([values, np.ones_like(values)], axis=1)  # one event per session: the ratio is a plain mean
    replicates = session_bootstrap({"a": [parts]}, ratio, n_resamples=4000, seed=1)["a"][:, 0]
    closed_form = values.std(ddof=0) / np.sqrt(len(values))
    assert replicates.std() == pytest.approx(closed_form, rel=0.06)
    assert replicates.mean() == pytest.approx(values.mean(), abs=3 * closed_form / np.sqrt(4000) + 1e-3)


def test_session_bootstrap_over_runs_alone_has_the_spread_of_a_mean_of_runs():
    levels = np.array([1.0, 2.0, 4.0, 7.0])  # each run gives every session the same value: only runs vary
    runs = [np.stack([np.full(300, level), np.ones(300)], axis=1) for level in levels]
    replicates = session_bootstrap({"a": runs}, ratio, n_resamples=6000, seed=2)["a"][:, 0]
    closed_form = levels.std(ddof=0) / np.sqrt(len(levels))  # a mean of R draws with replacement from R values
    assert replicates.std() == pytest.approx(closed_form, rel=0.05)


def test_differences_are_paired_over_sessions_and_deterministic():
    rng = np.random.default_rng(3)
    values = rng.normal(size=500)
    parts = np.stack([values, np.ones(500)], axis=1)
    shifted = np.stack([values + 0.01, np.ones(500)], axis=1)  # the same sessions, a tiny constant gain
    replicates = session_bootstrap({"base": [parts], "better": [shifted]}, ratio, n_resamples=500, seed=4)
    differences = replicates["better"] - replicates["base"]
    np.testing.assert_allclose(differences, 0.01, atol=1e-12)  # session noise cancels in a paired difference
    assert bootstrap_p_value(differences)[0] == pytest.approx(2 / 501)
    again = session_bootstrap({"base": [parts], "better": [shifted]}, ratio, n_resamples=500, seed=4)
    np.testing.assert_array_equal(again["base"], replicates["base"])
    with pytest.raises(ValueError, match="the same test sessions"):
        session_bootstrap({"a": [parts], "b": [parts[:10]]}, ratio)


def test_bootstrap_p_value_by_hand():
    differences = np.array([[-1.0, 1.0], [2.0, 1.0], [3.0, -2.0], [4.0, 0.5]])
    # column 0: 1 replicate <= 0, 3 >= 0 -> 2 * (1 + 1) / 5; column 1: 1 <= 0, 3 >= 0 -> the same
    np.testing.assert_allclose(bootstrap_p_value(differences), [0.8, 0.8])
