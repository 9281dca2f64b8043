"""Caser state encoder (Tang & Wang 2018, as the backbone of Xin et al.'s SQN): horizontal and vertical convolutions
over the (L × d) matrix of item embeddings.

- horizontal: for each height h, ``n_filters`` filters of size (h × d) slide over the positions, ReLU, then max-pooling
  over the windows that start at a real item (windows running past the end read zero embeddings);
- vertical: ``n_vertical`` filters of size (L × 1), one weight per position shared by the d embedding columns, ReLU;
- the state is [pooled horizontal features, vertical features] with dropout, width
  ``n_filters · len(filter_heights) + n_vertical · hidden_size`` (112 with the defaults).

Pads embed to zero and windows starting at a pad are left out of the pooling (ReLU outputs are ≥ 0, so a zero never
wins), so the state depends on the real items only, not on how many pads follow. Weights ~ truncated N(0, 0.1²),
biases 0.1, as the reference.
"""

from __future__ import annotations

import dataclasses
from typing import cast

import torch
import torch.nn.functional as F
from d3rlpy.models import register_encoder_factory
from d3rlpy.types import Shape
from torch import nn

from agents.encoders.base import ItemEncoderFactory, ItemSequenceEncoder

__all__ = ["CaserEncoder", "CaserEncoderFactory"]


def _init_conv(weight: torch.Tensor, bias: torch.Tensor | None) -> None:
    nn.init.trunc_normal_(weight, std=0.1, a=-0.2, b=0.2)
    if bias is not None:
        nn.init.constant_(bias, 0.1)


class CaserEncoder(ItemSequenceEncoder):
    """Maps (B, L) right-padded item ids (float or long; pad id = ``n_items``) to (B, ``output_size``) states."""

    def __init__(
        self, n_items: int, state_size: int, hidden_size: int = 64, n_filters: int = 16,
        filter_heights: tuple[int, ...] = (2, 3, 4), n_vertical: int = 1, dropout: float = 0.1,
    ):  # fmt: skip
        if not filter_heights or min(filter_heights) < 1:
            raise ValueError(f"filter_heights must be positive heights, got {filter_heights}")
        super().__init__(n_items, state_size, hidden_size)
        self.output_size = n_filters * len(filter_heights) + n_vertical * hidden_size
        self.horizontal = nn.ModuleList(nn.Conv1d(hidden_size, n_filters, height) for height in filter_heights)
        self.vertical_weight = nn.Parameter(torch.empty(n_vertical, state_size))
        self.vertical_bias = nn.Parameter(torch.empty(n_vertical))
        self.dropout = nn.Dropout(dropout)
        self.init_item_embedding()
        for conv in self.convolutions():
            _init_conv(conv.weight, conv.bias)
        _init_conv(self.vertical_weight, self.vertical_bias)

    def convolutions(self) -> list[nn.Conv1d]:
        """The horizontal convolutions, one per filter height."""
        return [cast(nn.Conv1d, conv) for conv in self.horizontal]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ids, valid = self.item_ids(x)
        length = ids.shape[1]
        e = self.embed(ids, valid)  # (B, L, d)
        columns = e.transpose(1, 2)  # (B, d, L)
        pooled = []
        for conv in self.convolutions():
            windows = F.relu(conv(F.pad(columns, (0, conv.kernel_size[0] - 1))))  # (B, n_filters, L): one per start
            pooled.append(windows.masked_fill(~valid.unsqueeze(1), 0.0).amax(dim=-1))
        vertical = torch.einsum("vl,bld->bvd", self.vertical_weight[:, :length], e)
        vertical = F.relu(vertical + self.vertical_bias.view(1, -1, 1)).flatten(1)
        return self.dropout(torch.cat([*pooled, vertical], dim=-1))


@dataclasses.dataclass()
class CaserEncoderFactory(ItemEncoderFactory):
    """d3rlpy encoder factory for :class:`CaserEncoder` with Xin et al.'s Caser values.

    Args:
        n_items: number of items (the pad id); our agents fill it from ``action_size`` when None.
        hidden_size: embedding width.
        n_filters: horizontal filters per height.
        filter_heights: heights of the horizontal filters.
        n_vertical: vertical filters.
        dropout: dropout rate of the concatenated state.
    """

    n_filters: int = 16
    filter_heights: tuple[int, ...] = (2, 3, 4)
    n_vertical: int = 1
    dropout: float = 0.1

    def create(self, observation_shape: Shape) -> CaserEncoder:
        return CaserEncoder(
            n_items=self.checked_n_items(),
            state_size=int(observation_shape[0]),
            hidden_size=self.hidden_size,
            n_filters=self.n_filters,
            filter_heights=tuple(self.filter_heights),
            n_vertical=self.n_vertical,
            dropout=self.dropout,
        )

    @staticmethod
    def get_type() -> str:
        return "caser"


register_encoder_factory(CaserEncoderFactory)
