"""Ranking metrics of the reference protocol: HR@k and NDCG@k per event type, and Reward@k.

Every ranking goes through :func:`top_k`, so a slate recommended to :class:`~recgym.envs.RecReplayEnv` and the
rank the offline evaluator gives the logged item always agree.

**Tie rule.** Items are ordered by score, highest first; items with equal scores are ordered by item id, lowest
first. This is a total order, so the top-k and the rank of the logged item are deterministic on every device
(``torch.topk`` alone breaks ties arbitrarily; the reference's ``np.argsort`` did too). NaN scores are rejected.

**Exact accumulation.** :class:`RankCounts` only counts hits per (event type, rank) in integers and sums rewards per
(event type, rank) in float64, so the metrics do not depend on the batch size; they are divided at the end.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from recgym.data.schema import EventType

__all__ = ["RankCounts", "slate_ranks", "target_ranks", "top_k"]

EVENT_NAMES: dict[int, str] = {EventType.CLICK: "click", EventType.PURCHASE: "purchase"}


def top_k(scores: torch.Tensor, k: int) -> torch.Tensor:
    """Ids of the ``min(k, n_items)`` best items of each row of ``scores`` (B, n_items), best first.

    Ties follow the module's rule (equal scores: lower item id first). Cost: one ``torch.topk`` of k + 1 places; the
    exact tie repair (a second top-k over an integer key) runs only on rows where a tie straddles the k-th place.
    """
    if scores.ndim != 2:
        raise ValueError(f"scores must have shape (batch, n_items), got {tuple(scores.shape)}")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    n_items = scores.shape[1]
    k = min(k, n_items)
    # one extra place tells whether a tie straddles the k-th place: the (k+1)-th best equals the k-th best
    values, items = torch.topk(scores, min(k + 1, n_items), dim=1)
    if torch.isnan(values[:, 0]).any():  # topk ranks NaN above everything
        row = int(torch.isnan(values[:, 0]).nonzero()[0, 0])
        raise ValueError(f"scores contain NaN (row {row} of the batch)")
    items = items[:, :k]
    if k < n_items:
        straddling = values[:, k] == values[:, k - 1]
        if straddling.any():
            # rank those rows again by an exact key: every item above the k-th score, then tied items by lowest id
            rows = straddling.nonzero().squeeze(1)
            row_scores, kth = scores[rows], values[rows, k - 1 : k]
            ids_descending = torch.arange(n_items - 1, -1, -1, dtype=torch.int32, device=scores.device)
            key = torch.where(row_scores == kth, ids_descending, -1).masked_fill_(row_scores > kth, n_items)
            items[rows] = torch.topk(key, k, dim=1).indices
    items = items.sort(dim=1).values
    order = scores.gather(1, items).argsort(dim=1, descending=True, stable=True)
    return items.gather(1, order)


def target_ranks(scores: torch.Tensor, targets: torch.Tensor, k: int) -> torch.Tensor:
    """1-based rank of ``targets[i]`` in the top-k of ``scores[i]`` (module tie rule), 0 where it is not in it."""
    return slate_ranks(top_k(scores, k), targets)


def slate_ranks(slates: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """1-based position of ``targets[i]`` in ``slates[i]`` (B, k) of :func:`top_k`, 0 where it is not in it."""
    hits = slates == targets.to(slates.device).view(-1, 1)
    positions = hits.to(torch.int64).argmax(dim=1) + 1
    return torch.where(hits.any(dim=1), positions, torch.zeros_like(positions))


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
