"""Ranking metrics of the reference protocol: HR@k and NDCG@k per event type, and Reward@k.

Ranks come from :func:`recgym.ranking.top_k` (its tie rule: equal scores, lower item id first).

**Exact accumulation.** :class:`RankCounts` only counts hits per (event type, rank) in integers and sums rewards per
(event type, rank) in float64, so the metrics do not depend on the batch size; they are divided at the end.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from recgym.data.schema import EventType

__all__ = ["EVENT_NAMES", "RankCounts"]

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
