"""Statistics over seeds that tell a real difference from noise.

- A table cell: the mean over seeds with a Student-t 95% confidence interval, mean ± t(0.975, n−1)·s/√n. With the
  3–10 seeds of a benchmark a percentile bootstrap over seeds is too narrow (it cannot see beyond the observed
  spread); the t interval is the standard one for a mean of a few independent runs.
- An agent against the reference agent: the difference of means with Welch's unequal-variance t interval, and the
  two-sided p-value of Welch's t-test. Runs of two agents share the data split but not their random streams, so they
  are independent samples, not pairs.
- An aggregate over tasks (datasets × metrics): the interquartile mean (IQM) of normalised scores with a 95%
  stratified-bootstrap interval, as in rliable (Agarwal et al., NeurIPS 2021): seeds are resampled with replacement
  within each task, the IQM recomputed, and the 2.5 / 97.5 percentiles taken.
- Seeds and test sessions together (:func:`session_bootstrap`): a hierarchical bootstrap that resamples the runs of
  each agent and the test sessions (one draw shared by all agents), so an interval covers both the training noise
  and the noise of which sessions happen to be in the test split; differences are paired over sessions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as scipy_stats

__all__ = [
    "Difference",
    "Interval",
    "bootstrap_p_value",
    "holm",
    "iqm",
    "iqm_interval",
    "mean_interval",
    "session_bootstrap",
    "welch_difference",
]


@dataclass(frozen=True)
class Interval:
    """A point estimate with a confidence interval (NaN bounds when it cannot be computed, e.g. one seed)."""

    estimate: float
    low: float
    high: float


@dataclass(frozen=True)
class Difference:
    """Mean of ``a`` minus mean of ``b``, its confidence interval and the p-value of the test."""

    estimate: float
    low: float
    high: float
    p_value: float

    @property
    def significant(self) -> bool:
        """The interval excludes 0."""
        return bool(self.low > 0 or self.high < 0)


def mean_interval(values: Sequence[float], confidence: float = 0.95) -> Interval:
    """Mean and Student-t interval of independent values; NaN bounds for fewer than two values."""
    x = _finite(values)
    if len(x) == 0:
        return Interval(float("nan"), float("nan"), float("nan"))
    mean = float(x.mean())
    if len(x) < 2:
        return Interval(mean, float("nan"), float("nan"))
    half = scipy_stats.t.ppf(0.5 + confidence / 2, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x))
    return Interval(mean, mean - half, mean + half)


def welch_difference(a: Sequence[float], b: Sequence[float], confidence: float = 0.95) -> Difference:
    """mean(a) − mean(b) with Welch's t interval and two-sided p-value; NaN with fewer than two values on a side.

    When both samples have zero spread the difference is exact: the interval is that point and p is 1 for equal
    means, 0 otherwise.
    """
    x, y = _finite(a), _finite(b)
    if len(x) < 2 or len(y) < 2:
        nan = float("nan")
        return Difference(float(x.mean() - y.mean()) if len(x) and len(y) else nan, nan, nan, nan)
    diff = float(x.mean() - y.mean())
    vx, vy = x.var(ddof=1) / len(x), y.var(ddof=1) / len(y)
    se = float(np.sqrt(vx + vy))
    if se == 0.0:
        return Difference(diff, diff, diff, 1.0 if diff == 0 else 0.0)
    df = (vx + vy) ** 2 / (vx**2 / (len(x) - 1) + vy**2 / (len(y) - 1))
    half = float(scipy_stats.t.ppf(0.5 + confidence / 2, df)) * se
    p_value = float(2 * scipy_stats.t.sf(abs(diff) / se, df))
    return Difference(diff, diff - half, diff + half, p_value)


def iqm(values: np.ndarray) -> float:
    """Interquartile mean: the mean of the middle 50% (25% trimmed from each end, as scipy's trim_mean)."""
    return float(scipy_stats.trim_mean(np.asarray(values, dtype=float).ravel(), 0.25))


def iqm_interval(
    scores: Mapping[str, Sequence[float]], confidence: float = 0.95, n_resamples: int = 2000, seed: int = 0
) -> Interval:
    """IQM over all tasks' runs (task -> per-seed scores) with a stratified-bootstrap interval (seeded)."""
    tasks = [_finite(values) for values in scores.values()]
    tasks = [x for x in tasks if len(x)]
    if not tasks:
        return Interval(float("nan"), float("nan"), float("nan"))
    estimate = iqm(np.concatenate(tasks))
    rng = np.random.default_rng(seed)
    resampled = np.empty(n_resamples)
    for r in range(n_resamples):
        resampled[r] = iqm(np.concatenate([x[rng.integers(len(x), size=len(x))] for x in tasks]))
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(resampled, [tail, 100 - tail])
    return Interval(estimate, float(low), float(high))


def _finite(values: Sequence[float]) -> np.ndarray:
    x = np.asarray(values, dtype=float)
    return x[np.isfinite(x)]


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjustment of a family of p-values (NaN left out of the family and kept NaN): the i-th
    smallest of m becomes ``max over j <= i of min(1, (m - j + 1) p_(j))``. It controls the family-wise error rate."""
    p = np.asarray(p_values, dtype=np.float64)
    adjusted = np.full(p.shape, np.nan)
    finite = np.flatnonzero(np.isfinite(p))
    order = finite[np.argsort(p[finite], kind="stable")]
    scaled = (len(order) - np.arange(len(order))) * p[order]
    adjusted[order] = np.minimum(1.0, np.maximum.accumulate(scaled))
    return adjusted


def session_bootstrap(
    runs: Mapping[str, Sequence[np.ndarray]],
    statistic: Callable[[np.ndarray], np.ndarray],
    *,
    n_resamples: int = 2000,
    seed: int = 0,
    chunk: int = 250,
) -> dict[str, np.ndarray]:
    """Replicates of each agent's mean over runs of ``statistic`` under a two-level (hierarchical) bootstrap.

    ``runs[agent]``: one (S, C) array per run (seed) of per-session sums, the rows the same S test sessions in every
    run of every agent; ``statistic`` maps column sums (..., C) to metrics (..., M). Each replicate draws the test
    sessions with replacement (as multinomial counts, one draw shared by every agent: comparisons are paired over
    sessions) and, per agent, its runs with replacement (runs of two agents are independent trainings), and averages
    the statistic of the drawn sessions over the drawn runs. Returns agent -> (n_resamples, M); deterministic for a
    ``seed`` (drawn in chunks of ``chunk`` replicates, so memory stays bounded).
    """
    rng = np.random.default_rng(seed)
    n_sessions = {parts.shape[0] for group in runs.values() for parts in group}
    if len(n_sessions) != 1:
        raise ValueError(f"every run must have the same test sessions, got row counts {sorted(n_sessions)}")
    (size,) = n_sessions
    replicates: dict[str, list[np.ndarray]] = {agent: [] for agent in runs}
    for start in range(0, n_resamples, chunk):
        count = min(chunk, n_resamples - start)
        weights = rng.multinomial(size, np.full(size, 1.0 / size), size=count).astype(np.float64)
        for agent, group in runs.items():
            per_run = np.stack([statistic(weights @ parts) for parts in group], axis=1)  # (count, R, M)
            drawn = rng.integers(0, len(group), size=(count, len(group)))
            replicates[agent].append(np.take_along_axis(per_run, drawn[..., None], axis=1).mean(axis=1))
    return {agent: np.concatenate(chunks) for agent, chunks in replicates.items()}


def bootstrap_p_value(replicates: np.ndarray) -> np.ndarray:
    """Two-sided bootstrap p-value of "no difference" per column of (B, M) difference replicates:
    ``min(1, 2 min(#(d <= 0) + 1, #(d >= 0) + 1) / (B + 1))`` (NaN replicates left out)."""
    finite = np.isfinite(replicates)
    below = ((replicates <= 0) & finite).sum(axis=0) + 1
    above = ((replicates >= 0) & finite).sum(axis=0) + 1
    return np.minimum(1.0, 2 * np.minimum(below, above) / (finite.sum(axis=0) + 1))
