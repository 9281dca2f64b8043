"""Offline evaluation of a recommendation policy on the logged events of a split (reference protocol, §5).

Every row of ``dataset.split(split)`` is one evaluation event: the policy scores the full catalogue from the
observation by its family's rule (:mod:`recgym.evaluation.scoring`), and the logged item is looked up in its top-k
(:func:`recgym.ranking.top_k`, one tie rule everywhere). Scoring is batched on the policy's device; nothing loops over
items or events in Python.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import torch
from tqdm.auto import tqdm

from recgym.checks import check_number
from recgym.data.transitions import Split
from recgym.errors import InvalidOptionError
from recgym.evaluation.metrics import RankCounts, session_parts
from recgym.evaluation.scoring import (
    PopularityPolicy,
    RandomPolicy,
    as_scorer,
    check_compatible,
    recommend,
    register_scorer,
)
from recgym.ope import slate_ips_terms
from recgym.ranking import slate_ranks, top_k

__all__ = [
    "MetricEvaluator",
    "PopularityPolicy",
    "RandomPolicy",
    "as_scorer",
    "default_batch_size",
    "evaluate",
    "evaluate_sessions",
    "metric_evaluators",
    "off_policy_estimates",
    "recommend",
    "register_scorer",
]

METRIC_PATTERN = re.compile(r"^(?:(?:click|purchase)/(?:hr|ndcg)|reward)@(\d+)$")
DEFAULT_KS = (5, 10, 20)
SCORE_BATCH_FLOATS = 6 * 2**20  # 24 MB of float32 scores per batch: under glibc's 32 MB mmap ceiling
MIN_SCORE_BATCH = 64  # states per call however big the catalogue: each call reads the whole (n_items x d) head


def evaluate(
    policy: Any,
    dataset: Any,
    split: str = "val",
    ks: Sequence[int] = DEFAULT_KS,
    batch_size: int | None = None,
    device: str | torch.device | None = None,
    progress: bool = False,
    unique_states: bool = True,
    allow_transfer: bool = False,
) -> dict[str, float]:
    """HR@k and NDCG@k per event type, Reward@k and event counts of ``policy`` on the events of ``split``.

    Keys: ``click/hr@5``, ``click/ndcg@5``, ``purchase/hr@5``, ``purchase/ndcg@5``, ``reward@5`` for each k, then
    ``n_click_events``, ``n_purchase_events``, ``n_events``. HR/NDCG of an event type without events is NaN.
    Reward@k is the raw sum of the logged rewards of the hit events (not normalised, as in the reference). On a split
    of a recommender's log (with ``slates`` and ``propensities``, :mod:`recgym.data.slate_log`), also ``ope/iips`` and
    ``ope/rips``: off-policy estimates of the policy's slates (:func:`off_policy_estimates`).

    A policy is a function of the observation, so by default each distinct state of the split is scored once (a
    fifth to a third of the events share their state with another event: every session starts from the empty
    state) and its top-k is shared by the events with that state; ``unique_states=False`` scores every event in log
    order instead, for a policy that reads more than the observation (an oracle replaying the log, say). ``batch_size`` counts distinct states per scoring call; the
    default (:func:`default_batch_size`) keeps a batch's score matrix under 24 MB, small enough for the allocator to
    reuse it from call to call, with at least 64 states per call.
    ``device`` moves the scores before the top-k (default: where the policy returned them). A model trained for
    another dataset is refused (:mod:`recgym.contract`); ``allow_transfer`` accepts another item index of the same
    size, for a deliberate transfer.
    """
    metrics, _ = _evaluate(policy, dataset, split, ks, batch_size, device, progress, unique_states, allow_transfer)
    return metrics


def evaluate_sessions(
    policy: Any, dataset: Any, split: str = "test", ks: Sequence[int] = DEFAULT_KS, **options: Any
) -> tuple[dict[str, float], np.ndarray]:
    """:func:`evaluate`'s metrics (the same numbers, bit for bit) and the per-session sums behind them
    (:func:`~recgym.evaluation.metrics.session_parts`, one row per session of ``split`` in its order, columns
    :func:`~recgym.evaluation.metrics.part_columns`), from one scoring pass. ``options``: those of :func:`evaluate`."""
    metrics, ranks = _evaluate(policy, dataset, split, ks, **options)
    events = dataset.split(split)
    parts = session_parts(ranks, events.event_types, events.rewards, events.episode_starts, _check_ks(ks))
    return metrics, parts


def _evaluate(
    policy: Any,
    dataset: Any,
    split: str,
    ks: Sequence[int],
    batch_size: int | None = None,
    device: str | torch.device | None = None,
    progress: bool = False,
    unique_states: bool = True,
    allow_transfer: bool = False,
) -> tuple[dict[str, float], np.ndarray]:
    """:func:`evaluate`'s metrics and each event's rank (1-based in the top ``max(ks)``, 0 when absent)."""
    ks = _check_ks(ks)
    if batch_size is None:
        batch_size = default_batch_size(dataset.n_items)
    check_number("batch_size", batch_size, at_least=1, integer=True)
    check_compatible(policy, dataset, allow_transfer=allow_transfer)
    events = dataset.split(split)
    scorer = as_scorer(policy)
    logged = getattr(events, "propensities", None) is not None  # a recommender's log: slates to compare with
    width = events.slates.shape[1] if logged else 0
    max_k = min(max(*ks, width), dataset.n_items)
    if unique_states:
        states, state_of_event = np.unique(events.observations, axis=0, return_inverse=True)
    else:
        states, state_of_event = events.observations, np.arange(len(events.observations))
    slates = torch.empty(len(states), max_k, dtype=torch.int64)
    with torch.no_grad():
        for start in tqdm(range(0, len(states), batch_size), desc=f"evaluate {split}", disable=not progress):
            observations = states[start : start + batch_size].astype(np.int64)
            scores = scorer(observations)
            if device is not None:
                scores = scores.to(device)
            if scores.shape != (len(observations), dataset.n_items):
                raise ValueError(
                    f"policy returned scores of shape {tuple(scores.shape)}, "
                    f"expected ({len(observations)}, {dataset.n_items})"
                )
            slates[start : start + len(observations)] = top_k(scores, max_k).cpu()
    event_slates = slates[torch.from_numpy(state_of_event.reshape(-1))]
    counts = RankCounts(max(ks))
    ranks = slate_ranks(event_slates[:, : min(max(ks), dataset.n_items)], torch.from_numpy(events.actions))
    counts.update(ranks, torch.from_numpy(events.event_types), torch.from_numpy(events.rewards))
    metrics = counts.metrics(ks)
    if logged:
        metrics.update(off_policy_estimates(event_slates.numpy(), events))
    return metrics, ranks.numpy()


def off_policy_estimates(policy_slates: np.ndarray, events: Split) -> dict[str, float]:
    """``ope/iips`` and ``ope/rips``: the slate-click reward per click step that the policy's slates would earn,
    estimated from a recommender's log (:func:`recgym.ope.slate_ips_terms`, independent and cascade).

    ``policy_slates`` (N, >= k) are the policy's top-k at each row of ``events``, a split with ``slates`` (N, k) and
    ``propensities``. A click row's reward is at the position where the logged slate shows the clicked item (an
    organic click of a shown item counts there, as a real log could not tell them apart); purchase rows, where
    nothing was shown, are left out.
    """
    assert events.slates is not None and events.propensities is not None
    shown = ~np.isnan(events.propensities).any(axis=1)
    logged, propensities = events.slates[shown], events.propensities[shown]
    width = logged.shape[1]
    target = (policy_slates[shown, :width] == logged).astype(np.float64)
    clicked = logged == events.actions[shown, None]
    first = clicked & (np.cumsum(clicked, axis=1) == 1)  # an item shown twice counts at its first position
    rewards = np.where(first, events.rewards[shown, None], 0.0)
    interactions: dict[str, Literal["independent", "cascade"]] = {"iips": "independent", "rips": "cascade"}
    return {
        f"ope/{name}": float(slate_ips_terms(rewards, target, propensities, interaction=interaction).mean())
        for name, interaction in interactions.items()
    }


def default_batch_size(n_items: int) -> int:
    """States per scoring call: 24 MB of scores, at least :data:`MIN_SCORE_BATCH` states, at most 4,096.

    Above 98,304 items the floor wins (a 1.8M-item catalogue: 64 states, 460 MB of scores per call), because a
    call of a few states would spend its time reading the item matrix, not multiplying by it.
    """
    return max(MIN_SCORE_BATCH, min(4096, SCORE_BATCH_FLOATS // n_items))


def _check_ks(ks: Sequence[int]) -> tuple[int, ...]:
    ks = tuple(ks)
    if not ks:
        raise InvalidOptionError("ks must be a non-empty sequence of integers >= 1, got ()")
    for k in ks:
        check_number("every k of ks", k, at_least=1, integer=True)
    return tuple(sorted({int(k) for k in ks}))


class _SharedEvaluation:
    """Runs :func:`evaluate` once per (algorithm, gradient step) and hands the same metrics to every evaluator."""

    def __init__(self, dataset: Any, split: str, ks: Sequence[int], batch_size: int | None, device: Any) -> None:
        self.dataset, self.split, self.ks = dataset, split, _check_ks(ks)
        self.batch_size, self.device = batch_size, device
        self._key: tuple[Any, int | None] | None = None
        self._metrics: dict[str, float] = {}

    def metrics(self, algo: Any) -> dict[str, float]:
        step = getattr(algo, "grad_step", None)
        cached = self._key is not None and self._key[0]() is algo and self._key[1] == step
        if not cached:
            self._metrics = evaluate(algo, self.dataset, self.split, self.ks, self.batch_size, self.device)
            self._key = (weakref.ref(algo), step) if step is not None else None
        return self._metrics


class MetricEvaluator:
    """A d3rlpy evaluator (``(algo, d3rlpy_dataset) -> float``) returning one metric of :func:`evaluate`.

    The d3rlpy dataset argument is ignored: the events come from ``dataset.split(split)``. Evaluators built by
    :func:`metric_evaluators` share one evaluation per gradient step, so several metrics cost one scoring pass.
    """

    def __init__(
        self,
        dataset: Any,
        metric: str = "purchase/hr@20",
        split: str = "val",
        ks: Sequence[int] | None = None,
        batch_size: int | None = None,
        device: str | torch.device | None = None,
        *,
        shared: _SharedEvaluation | None = None,
    ) -> None:
        match = METRIC_PATTERN.match(metric)
        if match is None:
            raise ValueError(
                f"unknown metric {metric!r}: expected click/hr@k, click/ndcg@k, purchase/hr@k, purchase/ndcg@k or reward@k"
            )
        self.metric = metric
        self.shared = shared or _SharedEvaluation(dataset, split, ks or (int(match.group(1)),), batch_size, device)
        if int(match.group(1)) not in self.shared.ks:
            raise ValueError(f"metric {metric!r} needs k={match.group(1)} among ks={self.shared.ks}")

    def __call__(self, algo: Any, dataset: Any = None) -> float:
        return self.shared.metrics(algo)[self.metric]


def metric_evaluators(
    dataset: Any,
    metrics: Sequence[str] = ("purchase/hr@20", "purchase/ndcg@20", "reward@20"),
    split: str = "val",
    batch_size: int | None = None,
    device: str | torch.device | None = None,
) -> dict[str, MetricEvaluator]:
    """Evaluators for ``fit(..., evaluators=...)`` sharing one scoring pass per epoch.

    Keys are the metric names with ``/`` replaced by ``_`` (``purchase_hr@20``): d3rlpy writes one file per key.
    """
    ks = [int(match.group(1)) for match in map(METRIC_PATTERN.match, metrics) if match is not None]
    shared = _SharedEvaluation(dataset, split, ks or DEFAULT_KS, batch_size, device)
    return {metric.replace("/", "_"): MetricEvaluator(dataset, metric, shared=shared) for metric in metrics}
