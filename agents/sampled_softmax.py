"""Sampled softmax with the log-Q correction, for catalogues where the full CE head costs too much.

Each step draws M negative items, shared by the batch, from a proposal Q (uniform, or the training popularity).
Row b's loss is the cross-entropy of its logged item among {logged item} ∪ negatives, every logit corrected by
``- log Q(item)`` (Bengio & Senécal 2008; Yi et al., Sampling-Bias-Corrected Neural Modeling, RecSys 2019): the
correction makes the sampled loss's gradient an unbiased-in-the-limit estimate of the full softmax's, where frequent
items would otherwise be over-penalised for being drawn often. A negative equal to the row's logged item (an
"accidental hit") is removed from that row. Under the uniform proposal the correction is one constant for every
item, so it cancels. Scoring and evaluation still use the full head.

:func:`sampled_max` is the matching double-Q selector: the greedy item among M uniformly drawn candidates, shared by
the batch, instead of the whole catalogue. Its max is a lower bound of the full one (a max over a subset), so the TD
targets it bootstraps from are biased low, by less as M grows.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = [
    "PROPOSALS",
    "draw_sampled_negatives",
    "item_bias",
    "log_proposal",
    "sampled_cross_entropy",
    "sampled_max",
]

PROPOSALS = ("uniform", "popularity")


def log_proposal(kind: str, item_counts: torch.Tensor | None, n_items: int, device: torch.device) -> torch.Tensor:
    """log Q(item), (n_items,): uniform, or popularity with one pseudo-count per item (no item has Q = 0)."""
    if kind == "uniform":
        return torch.full((n_items,), -math.log(n_items), device=device)
    if kind != "popularity":
        raise ValueError(f"proposal must be one of {PROPOSALS}, got {kind!r}")
    if item_counts is None:
        raise ValueError("the popularity proposal needs the training item counts: fit or build_with_dataset first")
    counts = item_counts.to(device=device, dtype=torch.float64) + 1.0
    return (counts / counts.sum()).log().float()


def draw_sampled_negatives(log_q: torch.Tensor, n_negatives: int, generator: torch.Generator | None) -> torch.Tensor:
    """(M,) item ids drawn with replacement from Q, on ``log_q``'s device."""
    return torch.multinomial(log_q.exp(), n_negatives, replacement=True, generator=generator)


def sampled_cross_entropy(
    states: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor,
    targets: torch.Tensor,
    negatives: torch.Tensor,
    log_q: torch.Tensor,
) -> torch.Tensor:
    """Per-row corrected sampled-softmax CE, (B,): ``states`` (B, d), ``targets`` (B,), ``negatives`` (M,)."""
    targets = targets.reshape(-1).long()
    # F.embedding, not indexing: its backward sums repeated rows in a fixed order (bit-reproducible on CPU)
    positive = torch.einsum("bd,bd->b", states, F.embedding(targets, weight)) + item_bias(targets, bias)
    sampled = states @ F.embedding(negatives, weight).T + item_bias(negatives, bias)
    positive = positive - log_q[targets]
    sampled = (sampled - log_q[negatives]).masked_fill(negatives.unsqueeze(0) == targets.unsqueeze(1), -torch.inf)
    return torch.logsumexp(torch.cat([positive.unsqueeze(1), sampled], dim=1), dim=1) - positive


def sampled_max(
    states: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, candidates: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Max of ``states @ weight[c] + bias[c]`` over the candidates ``c`` (M,), and its item: (B,) each.

    Ties go to the first candidate in draw order.
    """
    values = states @ F.embedding(candidates, weight).T + item_bias(candidates, bias)  # (B, M)
    best, position = values.max(dim=1)
    return best, candidates[position]


def item_bias(items: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """``bias[items]`` through ``F.embedding``, whose backward sums repeated items in a fixed order."""
    return F.embedding(items, bias.unsqueeze(-1)).squeeze(-1)
