"""GRU4Rec state encoder (Hidasi et al. 2016, as the backbone of Xin et al.'s SQN): embedding -> one GRU layer, read at
the last real item.

Embeddings ~ N(0, 0.01²) with the pad row zeroed (as every recgym encoder); the GRU runs over the whole window and its
output at index ``max(length - 1, 0)`` is the state. A GRU is causal, so the trailing pads never reach that output,
which is what the reference's ``dynamic_rnn(sequence_length=length)`` returns for the valid prefix.
"""

from __future__ import annotations

import dataclasses

import torch
from d3rlpy.models import register_encoder_factory
from d3rlpy.types import Shape
from torch import nn

from agents.encoders.base import ItemEncoderFactory, ItemSequenceEncoder

__all__ = ["GRU4RecEncoder", "GRU4RecEncoderFactory"]


class GRU4RecEncoder(ItemSequenceEncoder):
    """Maps (B, L) right-padded item ids (float or long; pad id = ``n_items``) to (B, ``hidden_size``) states."""

    def __init__(self, n_items: int, state_size: int, hidden_size: int = 64):
        super().__init__(n_items, state_size, hidden_size)
        self.gru = nn.GRU(hidden_size, hidden_size, batch_first=True)
        self.init_item_embedding()

    def sequence(self, ids: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """(B, L, d) GRU outputs of every position; position t sees items 0..t only (causal)."""
        return self.gru(self.embed(ids, valid))[0]


@dataclasses.dataclass()
class GRU4RecEncoderFactory(ItemEncoderFactory):
    """d3rlpy encoder factory for :class:`GRU4RecEncoder` (Xin et al.'s GRU: hidden 64, one layer, no dropout).

    Args:
        n_items: number of items (the pad id); our agents fill it from ``action_size`` when None.
        hidden_size: embedding width and GRU state size.
    """

    def create(self, observation_shape: Shape) -> GRU4RecEncoder:
        return GRU4RecEncoder(self.checked_n_items(), int(observation_shape[0]), self.hidden_size)

    @staticmethod
    def get_type() -> str:
        return "gru4rec"


register_encoder_factory(GRU4RecEncoderFactory)
