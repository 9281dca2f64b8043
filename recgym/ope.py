"""Off-policy estimators: what a target policy would earn, estimated from logs written by another (logging) policy.

Every estimator is a pure function of arrays over episodes (rows) and their steps (columns; a bandit log has one
step), and returns an :class:`Estimate`: the value and a percentile-bootstrap interval that resamples episodes, or
whole clusters of them when ``clusters`` is given (e.g. the user or the agent behind each episode), so that
correlated episodes are not counted as independent. Notation, per episode ``i`` and step ``t``:

- ``r_t`` the reward, ``γ`` the discount (``gamma``);
- ``w_t = π_e(a_t | s_t) / π_b(a_t | s_t)``: the target policy's probability of the logged action (``target``) over
  the logging policy's (``propensities``, in (0, 1]);
- ``ρ_t = w_0 ⋯ w_t`` (``ρ_{-1} = 1``), and ``W = ρ_{T-1}`` the whole episode's weight;
- ``q̂_t`` a model's estimate of the return from step ``t`` after the logged action, ``v̂_t = Σ_a π_e(a | s_t)
  q̂(s_t, a)`` its value of the target policy at ``s_t`` (:func:`expected_values`).

Shorter episodes are right-padded: ``mask`` marks the steps that exist; a padded step has ``w = 1`` and ``r = q̂ =
v̂ = 0``. An estimator that needs propensities refuses a log without them in one line; the target policy's action
probabilities come from its scores by :func:`action_distribution` (greedy, uniform over its top-k slate, or softmax).
IS estimators are unbiased only where ``π_b > 0`` wherever ``π_e > 0``: a log cannot show the actions its logging
policy never takes, so that is an assumption about the logger, not something these functions can check.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Literal

import numpy as np
import torch

from recgym.checks import check_number
from recgym.errors import InvalidOptionError
from recgym.ranking import top_k

__all__ = [
    "Bootstrap",
    "Estimate",
    "action_distribution",
    "dm",
    "dr",
    "expected_values",
    "ips",
    "pdis",
    "slate_ips",
    "slate_ips_terms",
    "sndr",
    "snips",
]

_CHUNK_CELLS = 4_000_000  # bootstrap resamples are evaluated in chunks of at most this many (resample, episode) cells


@dataclasses.dataclass(frozen=True)
class Estimate:
    """An estimated policy value with its percentile-bootstrap interval (over episodes, or clusters when given)."""

    value: float
    low: float
    high: float
    confidence: float
    n_episodes: int
    n_clusters: int

    def __str__(self) -> str:
        return f"{self.value:.4g} [{self.low:.4g}, {self.high:.4g}]"


@dataclasses.dataclass(frozen=True)
class Bootstrap:
    """How an estimator's interval is drawn: ``n_resamples`` percentile-bootstrap resamples of the episodes (or of the
    distinct ``clusters`` labels an estimator is given, each with all its episodes), drawn with replacement from
    ``numpy.random.default_rng(seed)``, at ``confidence``."""

    n_resamples: int = 1000
    confidence: float = 0.95
    seed: int = 0

    def __post_init__(self) -> None:
        check_number("n_resamples", self.n_resamples, at_least=1, integer=True)
        check_number("confidence", self.confidence, above=0, below=1)
        check_number("seed", self.seed, at_least=0, integer=True)

    def estimate(
        self, value: Callable[[np.ndarray], np.ndarray], n_episodes: int, clusters: np.ndarray | None = None
    ) -> Estimate:
        """The :class:`Estimate` of ``value`` (episode weights (B, n) → B estimates; the estimate is ``value`` at
        weights 1), a resample being the weights that count how often each episode was drawn."""
        if clusters is None:
            inverse, n_clusters = np.arange(n_episodes), n_episodes
        else:
            labels = np.asarray(clusters).reshape(-1)
            if len(labels) != n_episodes:
                raise InvalidOptionError(f"clusters has {len(labels)} labels for {n_episodes} episodes")
            _, inverse = np.unique(labels, return_inverse=True)
            n_clusters = int(inverse.max()) + 1
        point = float(value(np.ones((1, n_episodes)))[0])
        rng = np.random.default_rng(self.seed)
        shares = np.full(n_clusters, 1.0 / n_clusters)
        chunk = max(1, _CHUNK_CELLS // max(n_episodes, n_clusters))
        draws = np.concatenate(
            [value(rng.multinomial(n_clusters, shares, size=min(chunk, self.n_resamples - start))[:, inverse]
                   .astype(np.float64))
             for start in range(0, self.n_resamples, chunk)]
        )  # fmt: skip
        tail = (1.0 - self.confidence) / 2.0
        low, high = np.nanquantile(draws, [tail, 1.0 - tail]) if np.isfinite(draws).any() else (np.nan, np.nan)
        return Estimate(point, float(low), float(high), self.confidence, int(n_episodes), int(n_clusters))


DEFAULT_BOOTSTRAP = Bootstrap()


def action_distribution(
    scores: np.ndarray, rule: Literal["greedy", "top_k", "softmax"] = "greedy", *, k: int = 1, temperature: float = 1.0
) -> np.ndarray:
    """The probabilities (B, n_actions) with which a policy of ``scores`` (B, n_actions) takes each action.

    ``greedy``: 1 on the best action (ties: the lower id, as everywhere in recgym); ``top_k``: ``1 / k`` on each of the
    ``k`` best (a uniform pick from the slate the policy would show); ``softmax``: ``exp(score / temperature)``
    normalised.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2 or not scores.shape[1]:
        raise InvalidOptionError(f"scores must have shape (batch, n_actions), got {scores.shape}")
    if rule == "softmax":
        check_number("temperature", temperature, above=0)
        logits = scores / temperature
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return exp / exp.sum(axis=1, keepdims=True)
    if rule not in ("greedy", "top_k"):
        raise InvalidOptionError(f"unknown rule {rule!r}; expected greedy, top_k or softmax")
    k = 1 if rule == "greedy" else k
    check_number(f"k (of {scores.shape[1]} actions)", k, at_least=1, at_most=scores.shape[1], integer=True)
    probabilities = np.zeros_like(scores)
    best = top_k(torch.as_tensor(scores), k).numpy()
    np.put_along_axis(probabilities, best, 1.0 / k, axis=1)
    return probabilities


def expected_values(distribution: np.ndarray, q_values: np.ndarray) -> np.ndarray:
    """``v̂(s) = Σ_a π_e(a | s) q̂(s, a)``: (..., n_actions) probabilities and estimates to (...) values."""
    distribution, q_values = np.asarray(distribution, dtype=np.float64), np.asarray(q_values, dtype=np.float64)
    if distribution.shape != q_values.shape:
        raise InvalidOptionError(f"distribution {distribution.shape} and q_values {q_values.shape} differ in shape")
    return (distribution * q_values).sum(axis=-1)


@dataclasses.dataclass(frozen=True)
class _Log:
    """A log's arrays as (n, T) float64, padded steps neutralised (module docstring)."""

    rewards: np.ndarray
    weights: np.ndarray
    mask: np.ndarray

    @property
    def cumulative(self) -> np.ndarray:
        """ρ_t = w_0 ⋯ w_t, (n, T)."""
        return np.cumprod(self.weights, axis=1)

    def doubly_robust_terms(self, q_logged: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, ...]:
        """ρ_t, ρ_{t−1}, ρ_t (r_t − q̂_t) and ρ_{t−1} v̂_t, each (n, T)."""
        rho = self.cumulative
        before = np.concatenate([np.ones((len(rho), 1)), rho[:, :-1]], axis=1)
        residual = rho * (self.rewards - _model("q_logged", q_logged, self))
        return rho, before, residual, before * _model("values", values, self)

    def discounts(self, gamma: float) -> np.ndarray:
        return gamma ** np.arange(self.rewards.shape[1])


def _steps(name: str, values: np.ndarray | None, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """``values`` as a finite (n, T) float64 array (a 1-d array is a bandit log of one step)."""
    if values is None:
        raise InvalidOptionError(f"this estimator needs {name}; the log has none")
    array = np.asarray(values, dtype=np.float64)
    array = array[:, None] if array.ndim == 1 else array
    if array.ndim != 2 or not array.size:
        raise InvalidOptionError(
            f"{name} must be a non-empty (episodes,) or (episodes, steps) array, got {array.shape}"
        )
    if shape is not None and array.shape != shape:
        raise InvalidOptionError(f"{name} has shape {array.shape}, the rewards {shape}")
    if not np.isfinite(array).all():
        raise InvalidOptionError(f"{name} has {int((~np.isfinite(array)).sum())} non-finite value(s)")
    return array


def _log(
    rewards: np.ndarray, target: np.ndarray | None, propensities: np.ndarray | None, mask: np.ndarray | None
) -> _Log:
    """Checked arrays: propensities in (0, 1] and target probabilities in [0, 1] on every step that exists."""
    reward = _steps("rewards", rewards)
    exists = np.ones(reward.shape, dtype=bool) if mask is None else np.asarray(mask, dtype=bool).reshape(reward.shape)
    logged = _steps("logging propensities", propensities, reward.shape)
    wanted = _steps("target probabilities", target, reward.shape)
    bad = exists & ((logged <= 0) | (logged > 1))
    if bad.any():
        raise InvalidOptionError(f"{int(bad.sum())} logging propensities outside (0, 1], e.g. {logged[bad][0]!r}")
    bad = exists & ((wanted < 0) | (wanted > 1))
    if bad.any():
        raise InvalidOptionError(f"{int(bad.sum())} target probabilities outside [0, 1], e.g. {wanted[bad][0]!r}")
    weights = np.where(exists, wanted / np.where(exists, logged, 1.0), 1.0)
    return _Log(np.where(exists, reward, 0.0), weights, exists)


def _model(name: str, values: np.ndarray, log: _Log) -> np.ndarray:
    return np.where(log.mask, _steps(name, values, log.rewards.shape), 0.0)


def ips(
    rewards: np.ndarray,
    target: np.ndarray,
    propensities: np.ndarray | None,
    *,
    mask: np.ndarray | None = None,
    gamma: float = 1.0,
    clusters: np.ndarray | None = None,
    interval: Bootstrap = DEFAULT_BOOTSTRAP,
) -> Estimate:
    """Trajectory-wise importance sampling: ``mean_i W_i Σ_t γ^t r_t``. Unbiased; variance grows with the horizon."""
    log = _log(rewards, target, propensities, mask)
    contribution = log.cumulative[:, -1] * (log.rewards @ log.discounts(_gamma(gamma)))
    return interval.estimate(_mean_of(contribution), len(contribution), clusters)


def snips(
    rewards: np.ndarray,
    target: np.ndarray,
    propensities: np.ndarray | None,
    *,
    mask: np.ndarray | None = None,
    gamma: float = 1.0,
    clusters: np.ndarray | None = None,
    interval: Bootstrap = DEFAULT_BOOTSTRAP,
) -> Estimate:
    """Self-normalised IPS: ``Σ_i W_i G_i / Σ_i W_i`` (``G_i = Σ_t γ^t r_t``). Biased, consistent, bounded by the
    rewards; undefined when no logged episode has a positive weight."""
    log = _log(rewards, target, propensities, mask)
    weight = log.cumulative[:, -1]
    if not weight.any():
        raise InvalidOptionError(
            "no logged episode has a positive target probability: the self-normalised IPS is undefined"
        )
    returns = weight * (log.rewards @ log.discounts(_gamma(gamma)))
    return interval.estimate(lambda u: _ratio(u @ returns, u @ weight), len(weight), clusters)


def pdis(
    rewards: np.ndarray,
    target: np.ndarray,
    propensities: np.ndarray | None,
    *,
    mask: np.ndarray | None = None,
    gamma: float = 1.0,
    clusters: np.ndarray | None = None,
    interval: Bootstrap = DEFAULT_BOOTSTRAP,
) -> Estimate:
    """Per-decision importance sampling: ``mean_i Σ_t γ^t ρ_t r_t`` (a reward is weighted by the actions before it
    only). Unbiased, lower variance than :func:`ips`; equal to it on one-step logs."""
    log = _log(rewards, target, propensities, mask)
    contribution = (log.cumulative * log.rewards) @ log.discounts(_gamma(gamma))
    return interval.estimate(_mean_of(contribution), len(contribution), clusters)


def dm(values: np.ndarray, *, clusters: np.ndarray | None = None, interval: Bootstrap = DEFAULT_BOOTSTRAP) -> Estimate:
    """Direct method: ``mean_i v̂_0`` (``values``, the model's value of the target policy at each episode's first
    state, e.g. by :func:`expected_values`). No propensities; as biased as the model."""
    first = _steps("values", values)[:, 0]
    return interval.estimate(_mean_of(first), len(first), clusters)


def dr(
    rewards: np.ndarray,
    target: np.ndarray,
    propensities: np.ndarray | None,
    q_logged: np.ndarray,
    values: np.ndarray,
    *,
    mask: np.ndarray | None = None,
    gamma: float = 1.0,
    clusters: np.ndarray | None = None,
    interval: Bootstrap = DEFAULT_BOOTSTRAP,
) -> Estimate:
    """Doubly robust (per decision): ``mean_i Σ_t γ^t [ρ_t (r_t − q̂_t) + ρ_{t−1} v̂_t]``, ``q_logged`` = q̂ at the
    logged actions, ``values`` = v̂. Unbiased when the propensities are right, whatever the model; lower variance
    than :func:`pdis` when the model is good."""
    log = _log(rewards, target, propensities, mask)
    _, _, residual, baseline = log.doubly_robust_terms(q_logged, values)
    contribution = (residual + baseline) @ log.discounts(_gamma(gamma))
    return interval.estimate(_mean_of(contribution), len(contribution), clusters)


def sndr(
    rewards: np.ndarray,
    target: np.ndarray,
    propensities: np.ndarray | None,
    q_logged: np.ndarray,
    values: np.ndarray,
    *,
    mask: np.ndarray | None = None,
    gamma: float = 1.0,
    clusters: np.ndarray | None = None,
    interval: Bootstrap = DEFAULT_BOOTSTRAP,
) -> Estimate:
    """Self-normalised DR: :func:`dr` with each ``ρ_t`` divided by its mean over episodes at step ``t``
    (``Σ_t γ^t [Σ_i ρ_it (r_it − q̂_it) / Σ_i ρ_it + Σ_i ρ_i,t−1 v̂_it / Σ_i ρ_i,t−1]``). Biased, consistent, and
    stable where a few weights are huge."""
    log = _log(rewards, target, propensities, mask)
    rho, before, residual, baseline = log.doubly_robust_terms(q_logged, values)
    if not rho[:, -1].any():
        raise InvalidOptionError(
            "no logged episode has a positive target probability: the self-normalised DR is undefined"
        )
    discounts = log.discounts(_gamma(gamma))

    def value(u: np.ndarray) -> np.ndarray:
        return (_ratio(u @ residual, u @ rho) + _ratio(u @ baseline, u @ before)) @ discounts

    return interval.estimate(value, len(rho), clusters)


def slate_ips(
    rewards: np.ndarray,
    target: np.ndarray,
    propensities: np.ndarray | None,
    *,
    interaction: Literal["independent", "cascade"] = "independent",
    clusters: np.ndarray | None = None,
    interval: Bootstrap = DEFAULT_BOOTSTRAP,
) -> Estimate:
    """IPS for slates, arrays (episodes, positions) of the reward at each position and the target's and logger's
    probabilities of the item shown there.

    ``independent`` (IIPS): ``mean_i Σ_k w_k r_k``, unbiased when a position's reward depends on its own item only;
    ``cascade`` (reward-interaction IPS): ``mean_i Σ_k (w_1 ⋯ w_k) r_k``, unbiased when it depends on the items at and
    above it (a user who scans the slate top down).
    """
    contribution = slate_ips_terms(rewards, target, propensities, interaction=interaction)
    return interval.estimate(_mean_of(contribution), len(contribution), clusters)


def slate_ips_terms(
    rewards: np.ndarray,
    target: np.ndarray,
    propensities: np.ndarray | None,
    *,
    interaction: Literal["independent", "cascade"] = "independent",
) -> np.ndarray:
    """Each episode's term of :func:`slate_ips` (its mean is the estimate), (episodes,) float64."""
    if interaction not in ("independent", "cascade"):
        raise InvalidOptionError(f"unknown interaction {interaction!r}; expected independent or cascade")
    log = _log(rewards, target, propensities, None)
    weights = log.weights if interaction == "independent" else log.cumulative
    return (weights * log.rewards).sum(axis=1)


def _mean_of(contribution: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    return lambda u: (u @ contribution) / u.sum(axis=1)


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, NaN where a resample left the denominator 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 0, numerator / np.where(denominator > 0, denominator, 1.0), np.nan)


def _gamma(gamma: float) -> float:
    check_number("gamma", gamma, at_least=0, at_most=1)
    return float(gamma)
