"""NextItNet state encoder (Yuan et al. 2019, as the backbone of Xin et al.'s SQN): stacked residual blocks of dilated
causal 1-D convolutions, read at the last real item.

One block with dilation r (Yuan's "decoder" block, the one Xin et al. use):

    y = ReLU(LN(conv_{2r}(ReLU(LN(conv_r(e))))));  e = (e + y) * mask

with causal convolutions of width ``kernel_size`` over the positions (left zero padding), so position t sees items
0..t only. Reference values: dilations (1, 2, 1, 2, 1, 2), kernel 3, channels = hidden 64; convolution weights
~ truncated N(0, 0.02²), zero biases, LN ε 1e-8.
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from d3rlpy.models import register_encoder_factory
from d3rlpy.types import Shape
from torch import nn

from agents.encoders.base import ItemEncoderFactory, ItemSequenceEncoder

__all__ = ["NextItNetEncoder", "NextItNetEncoderFactory"]

_LN_EPS = 1e-8


class _CausalConv(nn.Conv1d):
    """A (B, d, L) -> (B, d, L) dilated convolution whose output at t reads inputs at t, t - r, ..., t - (k - 1)·r."""

    def __init__(self, channels: int, kernel_size: int, dilation: int):
        super().__init__(channels, channels, kernel_size, dilation=dilation)
        nn.init.trunc_normal_(self.weight, std=0.02, a=-0.04, b=0.04)
        assert self.bias is not None  # Conv1d has one unless bias=False
        nn.init.zeros_(self.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(F.pad(x, ((self.kernel_size[0] - 1) * self.dilation[0], 0)))


class _ResidualBlock(nn.Module):
    def __init__(self, channels: int, kernel_size: int, dilation: int):
        super().__init__()
        self.conv1 = _CausalConv(channels, kernel_size, dilation)
        self.norm1 = nn.LayerNorm(channels, eps=_LN_EPS)
        self.conv2 = _CausalConv(channels, kernel_size, 2 * dilation)
        self.norm2 = nn.LayerNorm(channels, eps=_LN_EPS)

    def forward(self, e: torch.Tensor) -> torch.Tensor:
        """(B, L, d) -> (B, L, d)."""
        y = F.relu(self.norm1(self.conv1(e.transpose(1, 2)).transpose(1, 2)))
        y = F.relu(self.norm2(self.conv2(y.transpose(1, 2)).transpose(1, 2)))
        return e + y


class NextItNetEncoder(ItemSequenceEncoder):
    """Maps (B, L) right-padded item ids (float or long; pad id = ``n_items``) to (B, ``hidden_size``) states."""

    def __init__(
        self, n_items: int, state_size: int, hidden_size: int = 64, dilations: tuple[int, ...] = (1, 2, 1, 2, 1, 2),
        kernel_size: int = 3,
    ):  # fmt: skip
        super().__init__(n_items, state_size, hidden_size)
        self.blocks = nn.ModuleList(_ResidualBlock(hidden_size, kernel_size, dilation) for dilation in dilations)
        self.init_item_embedding()

    def sequence(self, ids: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """(B, L, d) outputs of every position; position t sees items 0..t only (causal)."""
        mask = valid.unsqueeze(-1).to(self.item_embedding.weight.dtype)
        e = self.embed(ids, valid)
        for block in self.blocks:
            e = block(e) * mask
        return e


@dataclasses.dataclass()
class NextItNetEncoderFactory(ItemEncoderFactory):
    """d3rlpy encoder factory for :class:`NextItNetEncoder` with Xin et al.'s NextItNet values.

    Args:
        n_items: number of items (the pad id); our agents fill it from ``action_size`` when None.
        hidden_size: embedding width = residual channels.
        dilations: dilation r of each residual block (its second convolution has 2r).
        kernel_size: width of every convolution.
    """

    dilations: tuple[int, ...] = (1, 2, 1, 2, 1, 2)
    kernel_size: int = 3

    def create(self, observation_shape: Shape) -> NextItNetEncoder:
        return NextItNetEncoder(
            n_items=self.checked_n_items(),
            state_size=int(observation_shape[0]),
            hidden_size=self.hidden_size,
            dilations=tuple(self.dilations),
            kernel_size=self.kernel_size,
        )

    @staticmethod
    def get_type() -> str:
        return "nextitnet"


register_encoder_factory(NextItNetEncoderFactory)
