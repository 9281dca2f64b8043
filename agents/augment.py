"""Sequence augmentations of right-padded states for the contrastive term (reference-protocol §3.9, fix §7.17).

All kinds act on the valid prefix only: the result is again right-padded, so its length ``(s != pad_id).sum(-1)``
is exact and the encoder's last position is a real item. Rows are processed together (no loop over rows), on the
states' device, and the generator makes them reproducible.

- ``permutation``: the prefix in a uniformly random order (the multiset of items is kept).
- ``crop``: a random contiguous window of ``max(1, floor(crop_ratio * length))`` items, moved to the front.
- ``mask``: each item is dropped with probability ``mask_prob`` and the rest close up in order (pads would leave holes
  in the prefix); one random item survives when all would be dropped.
- ``reorder``: a random contiguous window of ``max(1, floor(reorder_ratio * length))`` items shuffled in place, the
  items outside it unmoved.

:func:`random_augment` applies one kind per row, drawn uniformly from a list (CL4SRec's views).

All-pad rows stay all pad.
"""

from __future__ import annotations

import torch

__all__ = ["AUGMENTATION_KINDS", "augment", "random_augment"]

AUGMENTATION_KINDS = ("permutation", "crop", "mask", "reorder")


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


def _window(
    lengths: torch.Tensor, ratio: float, generator: torch.Generator | None, name: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """(start, width) of a uniformly placed window of ``max(1, floor(ratio * length))`` items in each prefix."""
    if not 0.0 < ratio <= 1.0:
        raise ValueError(f"{name} must be in (0, 1], got {ratio}")
    width = (lengths * ratio).floor().long().clamp_min(1).minimum(lengths)
    start = (_uniform(tuple(lengths.shape), generator, lengths.device) * (lengths - width + 1)).floor().long()
    return start.minimum(lengths - width), width  # float rounding can reach the upper bound


def augment(
    states: torch.Tensor,
    pad_id: int,
    kind: str,
    generator: torch.Generator | None = None,
    *,
    crop_ratio: float = 0.6,
    mask_prob: float = 0.15,
    reorder_ratio: float = 0.6,
) -> torch.Tensor:
    """An augmented copy of right-padded (B, L) states, same dtype; see the module docstring for the kinds."""
    valid = states != pad_id
    lengths = valid.sum(-1)
    if kind == "permutation":
        keys = _uniform(tuple(states.shape), generator, states.device).masked_fill(~valid, 2.0)
        return states.gather(-1, keys.argsort(dim=-1))
    if kind == "crop":
        start, width = _window(lengths, crop_ratio, generator, "crop_ratio")
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
    if kind == "reorder":
        start, width = _window(lengths, reorder_ratio, generator, "reorder_ratio")
        positions = torch.arange(states.shape[-1], device=states.device).expand_as(states)
        start, end = start.unsqueeze(-1), (start + width).unsqueeze(-1)
        inside = (positions >= start) & (positions < end)
        # sort keys: a position outside the window keeps its index, one inside draws a key in [start, end)
        keys = start + _uniform(tuple(states.shape), generator, states.device) * (end - start)
        return states.gather(-1, torch.where(inside, keys, positions.to(keys.dtype)).argsort(dim=-1, stable=True))
    raise ValueError(f"unknown augmentation kind {kind!r}; expected one of {', '.join(AUGMENTATION_KINDS)}")


def random_augment(
    states: torch.Tensor,
    pad_id: int,
    kinds: tuple[str, ...],
    generator: torch.Generator | None = None,
    **ratios: float,
) -> torch.Tensor:
    """Each row augmented by one of ``kinds``, drawn uniformly per row; ``ratios`` as for :func:`augment`."""
    views = torch.stack([augment(states, pad_id, kind, generator, **ratios) for kind in kinds])  # (K, B, L)
    choice = (_uniform((states.shape[0],), generator, states.device) * len(kinds)).long().clamp_max(len(kinds) - 1)
    return views.gather(0, choice.view(1, -1, 1).expand(1, *states.shape)).squeeze(0)
