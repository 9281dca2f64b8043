"""Ranking metrics of the reference protocol: HR@k and NDCG@k per event type, and Reward@k.

Ranks come from :func:`recgym.ranking.top_k` (its tie rule: equal scores, lower item id first).

**Exact accumulation.** :class:`RankCounts` only counts hits per (event type, rank) in integers and sums rewards per
(event type, rank) in float64, so the metrics do not depend on the batch size; they are divided at the end.

**Per session.** :func:`session_parts` keeps the same sums per test session, so that an interval can resample the
sessions (:mod:`recgym.benchmark.stats`): the metrics of a set of sessions are ratios of the sums of their parts.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from recgym.data.schema import EventType

__all__ = ["EVENT_NAMES", "RankCounts", "metrics_from_parts", "part_columns", "session_parts"]

EVENT_NAMES: dict[int, str] = {EventType.CLICK: "click", EventType.PURCHASE: "purchase"}


class RankCounts:
    """Running per-(event type, rank) hit counts and reward sums; :meth:`metrics` turns them into HR/NDCG/Reward@k.

    Rank 0 stands for "not in the top ``max_k``". Counts are int64 and reward sums float64, both on the CPU.
    """

    def __init__(self, max_k: int) -> None:
        if max_k < 1:
            raise ValueError(f"max_k must be >= 1, got {max_k}")
        self.max_k = max_k
        self.hits = torch.zeros(len(EVENT_NAMES), max_k + 1, dtype=torch.int64)
        self.rewards = torch.zeros(len(EVENT_NAMES), max_k + 1, dtype=torch.float64)

    def update(self, ranks: torch.Tensor, event_types: torch.Tensor, rewards: torch.Tensor) -> None:
        """Add a batch: ``ranks`` from :func:`target_ranks` with ``k <= max_k``, event types, rewards (all (B,))."""
        ranks, event_types = ranks.cpu().to(torch.int64), event_types.cpu().to(torch.int64)
        if ((event_types < 0) | (event_types >= len(EVENT_NAMES))).any():
            raise ValueError(f"event types must be in {sorted(EVENT_NAMES)}, got {event_types.unique().tolist()}")
        if ((ranks < 0) | (ranks > self.max_k)).any():
            raise ValueError(f"ranks must be in [0, {self.max_k}], got max {int(ranks.max())}")
        cells = event_types * (self.max_k + 1) + ranks
        size = self.hits.numel()
        self.hits += torch.bincount(cells, minlength=size).view_as(self.hits)
        weights = rewards.cpu().to(torch.float64)
        self.rewards += torch.bincount(cells, weights=weights, minlength=size).view_as(self.rewards)

    def metrics(self, ks: tuple[int, ...]) -> dict[str, float]:
        """``{type}/hr@k``, ``{type}/ndcg@k`` (NaN when the type has no events), ``reward@k``, and event counts."""
        hits = self.hits.numpy()
        discounts = np.array([0.0] + [1.0 / math.log2(rank + 1) for rank in range(1, self.max_k + 1)])
        result: dict[str, float] = {}
        for k in ks:
            if not 1 <= k <= self.max_k:
                raise ValueError(f"k must be in [1, {self.max_k}], got {k}")
            for event_type, name in EVENT_NAMES.items():
                n_events = int(hits[event_type].sum())
                top = hits[event_type, 1 : k + 1]
                result[f"{name}/hr@{k}"] = int(top.sum()) / n_events if n_events else math.nan
                result[f"{name}/ndcg@{k}"] = float(top @ discounts[1 : k + 1]) / n_events if n_events else math.nan
            result[f"reward@{k}"] = float(self.rewards[:, 1 : k + 1].sum())
        for event_type, name in EVENT_NAMES.items():
            result[f"n_{name}_events"] = int(hits[event_type].sum())
        result["n_events"] = int(hits.sum())
        return result


def part_columns(ks: tuple[int, ...]) -> tuple[str, ...]:
    """The columns of :func:`session_parts`: per k and event type the hits (``click/hits@5``) and discounted hits
    (``click/dcg@5``), per k the reward of the hits (``reward@5``), then the event counts per type."""
    per_k = [f"{name}/{part}@{k}" for k in ks for name in EVENT_NAMES.values() for part in ("hits", "dcg")]
    return (*per_k, *(f"reward@{k}" for k in ks), *(f"n_{name}_events" for name in EVENT_NAMES.values()))


def session_parts(
    ranks: np.ndarray, event_types: np.ndarray, rewards: np.ndarray, episode_starts: np.ndarray, ks: tuple[int, ...]
) -> np.ndarray:
    """(n_sessions, len(part_columns(ks))) float64 sums per session behind every metric: the metrics of any set of
    sessions (a bootstrap resample, weighted by counts) are ratios of their column sums (:func:`metrics_from_parts`).

    ``ranks``: (N,) 1-based rank of each event's item in the policy's top-k, 0 when absent; sessions are the row
    ranges of ``episode_starts`` (n_sessions + 1,).
    """
    session = np.repeat(np.arange(len(episode_starts) - 1), np.diff(episode_starts))
    n_sessions = len(episode_starts) - 1
    discount = np.zeros(len(ranks))
    found = ranks > 0
    discount[found] = 1.0 / np.log2(ranks[found] + 1.0)
    columns = []
    for k in ks:
        hit = found & (ranks <= k)
        for event_type in EVENT_NAMES:
            of_type = hit & (event_types == event_type)
            columns.append(np.bincount(session, weights=of_type.astype(np.float64), minlength=n_sessions))
            columns.append(np.bincount(session, weights=np.where(of_type, discount, 0.0), minlength=n_sessions))
    for k in ks:
        hit = found & (ranks <= k)
        columns.append(np.bincount(session, weights=np.where(hit, rewards, 0.0), minlength=n_sessions))
    for event_type in EVENT_NAMES:
        columns.append(
            np.bincount(session, weights=(event_types == event_type).astype(np.float64), minlength=n_sessions)
        )
    return np.stack(columns, axis=1) if columns else np.zeros((n_sessions, 0))


def metrics_from_parts(summed: np.ndarray, ks: tuple[int, ...]) -> dict[str, np.ndarray]:
    """HR/NDCG@k per event type and Reward@k from column sums of :func:`session_parts` (``summed`` (..., C)): the
    metric names of :meth:`RankCounts.metrics`, each an array of ``summed``'s leading shape."""
    column = {name: index for index, name in enumerate(part_columns(ks))}
    result: dict[str, np.ndarray] = {}
    with np.errstate(invalid="ignore", divide="ignore"):
        for k in ks:
            for name in EVENT_NAMES.values():
                events = summed[..., column[f"n_{name}_events"]]
                result[f"{name}/hr@{k}"] = np.where(
                    events > 0, summed[..., column[f"{name}/hits@{k}"]] / events, np.nan
                )
                result[f"{name}/ndcg@{k}"] = np.where(
                    events > 0, summed[..., column[f"{name}/dcg@{k}"]] / events, np.nan
                )
            result[f"reward@{k}"] = summed[..., column[f"reward@{k}"]]
    return result
