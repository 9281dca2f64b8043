"""The one ranking primitive: the top-k items of a score matrix, under a total order.

Every ranking in recgym goes through :func:`top_k` (the offline metrics, the slates of the environments, an agent's
``recommend``), so a slate shown to a user and the rank the offline evaluator gives the logged item always agree.

**Tie rule.** Items are ordered by score, highest first; items with equal scores are ordered by item id, lowest
first. This is a total order, so the top-k and the rank of the logged item are deterministic on every device
(``torch.topk`` alone breaks ties arbitrarily; the reference's ``np.argsort`` did too). NaN scores are rejected.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["slate_ranks", "target_ranks", "top_k", "top_k_array"]


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


def top_k_array(scores: np.ndarray, k: int) -> np.ndarray:
    """:func:`top_k` of a NumPy score matrix (a read-only or broadcast view is copied), as a NumPy array (int64)."""
    if not scores.flags.writeable:
        scores = np.array(scores)
    return top_k(torch.as_tensor(scores), k).numpy()


def target_ranks(scores: torch.Tensor, targets: torch.Tensor, k: int) -> torch.Tensor:
    """1-based rank of ``targets[i]`` in the top-k of ``scores[i]`` (module tie rule), 0 where it is not in it."""
    return slate_ranks(top_k(scores, k), targets)


def slate_ranks(slates: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """1-based position of ``targets[i]`` in ``slates[i]`` (B, k) of :func:`top_k`, 0 where it is not in it."""
    hits = slates == targets.to(slates.device).view(-1, 1)
    positions = hits.to(torch.int64).argmax(dim=1) + 1
    return torch.where(hits.any(dim=1), positions, torch.zeros_like(positions))
