"""FMLP-Rec state encoder (Zhou et al. 2022): learnable filters in the frequency domain instead of self-attention.

    e = Dropout(LN(item + position embedding)) · mask
    block:  e = LN(Dropout(irfft(rfft(e) ⊙ W)) + e) · mask;   e = LN(Dropout(FFN(e)) + e) · mask

where ``rfft`` runs over the positions of the whole window (``state_size``, zero-filled beyond the given columns,
orthonormal), W is one complex weight per frequency and channel, and the FFN is Linear(d, 4d) -> GELU -> Linear(4d, d).
The state is the output at the last real item. Pads are zeroed before every transform, so the state depends on the
real items and their positions only. Values of the public FMLP-Rec code: hidden 64, 2 blocks, dropout 0.5, LN ε 1e-12,
weights ~ N(0, 0.02²).
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from d3rlpy.models import register_encoder_factory
from d3rlpy.types import Shape
from torch import nn

from agents.encoders.base import ItemEncoderFactory, ItemSequenceEncoder

__all__ = ["FMLPEncoder", "FMLPEncoderFactory"]

_LN_EPS = 1e-12
_INIT_STD = 0.02


class _FilterLayer(nn.Module):
    """A learnable global filter over the positions: one complex gain per frequency and channel."""

    def __init__(self, state_size: int, hidden_size: int, dropout: float):
        super().__init__()
        self.state_size = state_size
        self.weight = nn.Parameter(torch.randn(state_size // 2 + 1, hidden_size, 2) * _INIT_STD)
        self.dropout = nn.Dropout(dropout)
        self.norm = nn.LayerNorm(hidden_size, eps=_LN_EPS)

    def forward(self, e: torch.Tensor) -> torch.Tensor:
        spectrum = torch.fft.rfft(e, n=self.state_size, dim=1, norm="ortho") * torch.view_as_complex(self.weight)
        filtered = torch.fft.irfft(spectrum, n=self.state_size, dim=1, norm="ortho")[:, : e.shape[1]]
        return self.norm(self.dropout(filtered) + e)


class _FeedForward(nn.Module):
    def __init__(self, hidden_size: int, dropout: float):
        super().__init__()
        self.inner = nn.Linear(hidden_size, 4 * hidden_size)
        self.outer = nn.Linear(4 * hidden_size, hidden_size)
        self.dropout = nn.Dropout(dropout)
        self.norm = nn.LayerNorm(hidden_size, eps=_LN_EPS)

    def forward(self, e: torch.Tensor) -> torch.Tensor:
        return self.norm(self.dropout(self.outer(F.gelu(self.inner(e)))) + e)


class FMLPEncoder(ItemSequenceEncoder):
    """Maps (B, L) right-padded item ids (float or long; pad id = ``n_items``) to (B, ``hidden_size``) states."""

    def __init__(self, n_items: int, state_size: int, hidden_size: int = 64, n_blocks: int = 2, dropout: float = 0.5):
        super().__init__(n_items, state_size, hidden_size)
        self.position_embedding = nn.Embedding(state_size, hidden_size)
        self.embedding_norm = nn.LayerNorm(hidden_size, eps=_LN_EPS)
        self.embedding_dropout = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(
            nn.ModuleList([_FilterLayer(state_size, hidden_size, dropout), _FeedForward(hidden_size, dropout)])
            for _ in range(n_blocks)
        )
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, std=_INIT_STD)
            if isinstance(module, nn.Linear):
                nn.init.zeros_(module.bias)
        self.zero_pad_embedding()

    def sequence(self, ids: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """(B, L, d) outputs of every position (not causal: the filter mixes the whole window)."""
        mask = valid.unsqueeze(-1).to(self.item_embedding.weight.dtype)
        positions = torch.arange(ids.shape[1], device=ids.device)
        e = self.embedding_dropout(self.embedding_norm(self.lookup(ids) + self.position_embedding(positions)))
        e = e * mask
        for block in self.blocks:
            for layer in block.children():
                e = layer(e) * mask
        return e


@dataclasses.dataclass()
class FMLPEncoderFactory(ItemEncoderFactory):
    """d3rlpy encoder factory for :class:`FMLPEncoder` with the FMLP-Rec code's values.

    Args:
        n_items: number of items (the pad id); our agents fill it from ``action_size`` when None.
        hidden_size: embedding and state width.
        n_blocks: number of filter + feed-forward blocks.
        dropout: dropout rate of embeddings, filters and feed-forward layers.
    """

    n_blocks: int = 2
    dropout: float = 0.5

    def create(self, observation_shape: Shape) -> FMLPEncoder:
        return FMLPEncoder(
            n_items=self.checked_n_items(),
            state_size=int(observation_shape[0]),
            hidden_size=self.hidden_size,
            n_blocks=self.n_blocks,
            dropout=self.dropout,
        )

    @staticmethod
    def get_type() -> str:
        return "fmlp"


register_encoder_factory(FMLPEncoderFactory)
