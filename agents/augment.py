"""Sequence augmentations of right-padded states for the contrastive term (reference-protocol §3.9, fix §7.17).

All kinds act on the valid prefix only: the result is again right-padded, so its length ``(s != pad_id).sum(-1)``
is exact and the encoder's last position is a real item. Rows are processed together (no loop over rows), on the
states' device, and the generator makes them reproducible.

- ``permutation``: the prefix in a uniformly random order (the multiset of items is kept).
- ``crop``: a random contiguous window of ``max(1, floor(crop_ratio * length))`` items, moved to the front.
- ``mask``: each item is dropped with probability ``mask_prob`` and the rest close up in order (pads would leave holes
  in the prefix); one random item survives when all would be dropped.

All-pad rows stay all pad.
"""

from __future__ import annotations

from typing import Literal

import torch

__all__ = ["augment"]

AugmentationKind = Literal["permutation", "crop", "mask"]


def _uniform(shape: tuple[int, ...], generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    """U[0, 1) draws made on the generator's device (a CPU generator may seed GPU states), returned on ``device``."""
    source = generator.device if generator is not None else device
    return torch.rand(shape, generator=generator, device=source).to(device)


def _front_pack(states: torch.Tensor, keep: torch.Tensor, pad_id: int) -> torch.Tensor:
    """Kept entries moved to the front in their order, pads after them."""
    order = torch.argsort((~keep).to(torch.int8), dim=-1, stable=True)
    packed = states.gather(-1, order)
    n_kept = keep.sum(-1, keepdim=True)
    return packed.masked_fill(torch.arange(states.shape[-1], device=states.device) >= n_kept, pad_id)


def augment(
    states: torch.Tensor,
    pad_id: int,
    kind: AugmentationKind,
    generator: torch.Generator | None = None,
    *,
    crop_ratio: float = 0.6,
    mask_prob: float = 0.15,
) -> torch.Tensor:
    """An augmented copy of right-padded (B, L) states, same dtype; see the module docstring for the kinds."""
    valid = states != pad_id
    lengths = valid.sum(-1)
    if kind == "permutation":
        keys = _uniform(tuple(states.shape), generator, states.device).masked_fill(~valid, 2.0)
        return states.gather(-1, keys.argsort(dim=-1))
    if kind == "crop":
        if not 0.0 < crop_ratio <= 1.0:
            raise ValueError(f"crop_ratio must be in (0, 1], got {crop_ratio}")
        width = (lengths * crop_ratio).floor().long().clamp_min(1).minimum(lengths)
        start = (_uniform(tuple(lengths.shape), generator, states.device) * (lengths - width + 1)).floor().long()
        start = start.minimum(lengths - width)  # float rounding can reach the upper bound
        positions = torch.arange(states.shape[-1], device=states.device)
        source = (start.unsqueeze(-1) + positions).clamp_max(states.shape[-1] - 1)
        return states.gather(-1, source).masked_fill(positions >= width.unsqueeze(-1), pad_id)
    if kind == "mask":
        if not 0.0 <= mask_prob <= 1.0:
            raise ValueError(f"mask_prob must be in [0, 1], got {mask_prob}")
        draws = _uniform(tuple(states.shape), generator, states.device)
        keep = valid & (draws >= mask_prob)
        survivor = (_uniform(tuple(lengths.shape), generator, states.device) * lengths).floor().long()
        survivor = survivor.minimum((lengths - 1).clamp_min(0))
        rescue = (keep.sum(-1) == 0) & (lengths > 0)
        keep[rescue, survivor[rescue]] = True
        return _front_pack(states, keep, pad_id)
    raise ValueError(f"unknown augmentation kind {kind!r}; expected 'permutation', 'crop' or 'mask'")
