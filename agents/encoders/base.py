"""What every item-sequence encoder shares: the factory base that carries ``n_items``, and the padded-state helpers.

A state is a (B, L) window of item ids, right-padded with the pad id ``n_items`` (d3rlpy hands them over as float32).
"""

from __future__ import annotations

import dataclasses

import torch
from d3rlpy.models import EncoderFactory

__all__ = ["ItemEncoderFactory", "item_ids", "last_position"]


@dataclasses.dataclass()
class ItemEncoderFactory(EncoderFactory):
    """Base of the item-sequence encoder factories: the fields every backbone has.

    The agents and :func:`agents.d3rlpy_presets.for_recommendation` fill ``n_items`` from the action size for any
    subclass; switching backbones (:func:`agents.encoders.with_backbone`) keeps these fields.

    Args:
        n_items: number of items (the pad id); filled from ``action_size`` when None.
        hidden_size: item embedding width.
    """

    n_items: int | None = None
    hidden_size: int = 64

    def checked_n_items(self) -> int:
        """``n_items``, or a ValueError naming the factory when it is still None."""
        if self.n_items is None:
            raise ValueError(
                f"{type(self).__name__} needs n_items (the number of items, i.e. the action size); got None"
            )
        return self.n_items


def item_ids(x: torch.Tensor, pad_id: int, state_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, L) long ids and their (B, L) bool mask of real items; refuses states longer than ``state_size``."""
    ids = x.long()
    if ids.shape[1] > state_size:
        raise ValueError(f"states have {ids.shape[1]} positions, more than state_size={state_size}")
    return ids, ids != pad_id


def last_position(sequence: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """(B, L, d) per-position outputs -> (B, d) at the last real item (position 0 for an all-pad state)."""
    last = (valid.sum(-1) - 1).clamp_min(0)
    return sequence.gather(1, last.view(-1, 1, 1).expand(-1, 1, sequence.shape[-1])).squeeze(1)
