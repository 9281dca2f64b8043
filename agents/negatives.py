"""Uniform negative actions for SNQN / SA2C / CCQL (reference-protocol §3.4)."""

from __future__ import annotations

import torch

__all__ = ["sample_negatives"]


def sample_negatives(
    actions: torch.Tensor, n_items: int, n_negatives: int, generator: torch.Generator | None = None
) -> torch.Tensor:
    """(B, K) item ids drawn uniformly from [0, n_items) without the row's logged action; duplicates allowed.

    Draws from the n_items - 1 other ids and shifts those at or above the positive up by one, so no resampling loop.
    """
    if n_items < 2:
        raise ValueError(f"negative sampling needs at least 2 items, got n_items={n_items}")
    positives = actions.reshape(-1, 1).long()
    device = generator.device if generator is not None else actions.device
    draws = torch.randint(0, n_items - 1, (positives.shape[0], n_negatives), generator=generator, device=device)
    draws = draws.to(actions.device)
    return draws + (draws >= positives).long()
