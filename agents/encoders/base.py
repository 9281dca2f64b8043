"""What every item-sequence encoder shares: the module base with the item embedding, the factory base that carries
``n_items``, and the padded-state helpers.

A state is a (B, L) window of item ids, right-padded with the pad id ``n_items`` (d3rlpy hands them over as float32).
"""

from __future__ import annotations

import contextvars
import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from d3rlpy.models import EncoderFactory
from torch import nn

from recgym.checks import check_states

__all__ = ["ItemEncoderFactory", "ItemSequenceEncoder", "in_update", "last_position"]

EMBEDDING_STD = 0.01


_IN_UPDATE = contextvars.ContextVar("in_update", default=False)


@contextmanager
def in_update() -> Iterator[None]:
    """Mark eval-mode forwards that are part of a training update (the agents' target passes): ids go unchecked."""
    token = _IN_UPDATE.set(True)
    try:
        yield
    finally:
        _IN_UPDATE.reset(token)


class ItemSequenceEncoder(nn.Module):
    """Base of the encoders: ``n_items`` + 1 item embeddings (the last, the pad's, zero) and the padded-state contract.

    ``forward`` maps (B, L) right-padded ids (float or long; pad id = ``n_items``) to the output of :meth:`sequence`
    at the last real item; a subclass defines :meth:`sequence`, or ``forward`` itself when its state is not one
    position's output. The item embedding is the first module built (a subclass's initialisation draws follow it).
    """

    def __init__(self, n_items: int, state_size: int, hidden_size: int):
        super().__init__()
        self.n_items = n_items
        self.pad_id = n_items
        self.state_size = state_size
        self.hidden_size = hidden_size
        self.item_embedding = nn.Embedding(n_items + 1, hidden_size, padding_idx=n_items)

    def init_item_embedding(self, std: float = EMBEDDING_STD) -> None:
        """N(0, std²) item embeddings with a zero pad row."""
        nn.init.normal_(self.item_embedding.weight, std=std)
        self.zero_pad_embedding()

    def zero_pad_embedding(self) -> None:
        with torch.no_grad():
            self.item_embedding.weight[self.pad_id].zero_()

    def embed(self, ids: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """(B, L, d) item embeddings, zero at pads."""
        return self.lookup(ids) * valid.unsqueeze(-1).to(self.item_embedding.weight.dtype)

    def lookup(self, ids: torch.Tensor) -> torch.Tensor:
        """(..., d) item embeddings of ``ids``; an id beyond the catalogue is one line (on CPU: the lookup's own
        IndexError, so nothing is checked ahead and no update waits for it; CUDA reports it as a device assert)."""
        try:
            return self.item_embedding(ids)
        except IndexError as error:
            raise ValueError(
                f"states hold item ids outside this model's items 0..{self.n_items - 1} and pad id {self.pad_id}: "
                "was it trained on another dataset?"
            ) from error

    def item_ids(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, L) long ids of states ``x`` and their (B, L) bool mask of real items.

        Another dataset's states are refused with one line: another width always (the shape costs nothing), ids
        beyond the catalogue in eval mode outside an update (``predict``, scoring). Inside an update the id check
        would make every step wait for the device; a bad id fails in the embedding lookup instead.
        """
        check_states(x, self.state_size, self.n_items, ids=not self.training and not _IN_UPDATE.get())
        ids = x.long()
        return ids, ids != self.pad_id

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ids, valid = self.item_ids(x)
        return last_position(self.sequence(ids, valid), valid)

    def sequence(self, ids: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """(B, L, d) outputs of every position."""
        raise NotImplementedError(f"{type(self).__name__} defines forward, not per-position outputs")


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


def last_position(sequence: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """(B, L, d) per-position outputs -> (B, d) at the last real item (position 0 for an all-pad state)."""
    last = (valid.sum(-1) - 1).clamp_min(0)
    return sequence.gather(1, last.view(-1, 1, 1).expand(-1, 1, sequence.shape[-1])).squeeze(1)
