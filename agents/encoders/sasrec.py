"""SASRec state encoder: a right-padded window of item ids -> one state vector, usable as a d3rlpy encoder.

Block form (Xin et al.'s TensorFlow SASRec, the faithful baseline; reference-protocol §2.2), with pre-layer-norm:

    q = LN_1(e);  e = MHA(queries=q, keys=values=e) + q
    n = LN_2(e);  e = FFN(n) + n;  e = e * mask

then a final LN. Attention is real multi-head (h heads of size d/h, scores scaled by sqrt(d/h)), causal, and masks
padded keys; Q/K/V are biased linear maps without an output projection, as in the reference. The state vector is the
output at the last real item (index ``max(length - 1, 0)``); with right padding and causal attention it never sees
a pad.
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from d3rlpy.models import register_encoder_factory
from d3rlpy.types import Shape
from torch import nn

from agents.encoders.base import EMBEDDING_STD, ItemEncoderFactory, ItemSequenceEncoder

__all__ = ["SASRecEncoder", "SASRecEncoderFactory"]

_LN_EPS = 1e-8


class _MultiHeadSelfAttention(nn.Module):
    """Causal multi-head attention with key padding; queries and keys/values come from different inputs."""

    def __init__(self, hidden_size: int, n_heads: int, dropout: float):
        super().__init__()
        self.n_heads = n_heads
        self.query = nn.Linear(hidden_size, hidden_size)
        self.key = nn.Linear(hidden_size, hidden_size)
        self.value = nn.Linear(hidden_size, hidden_size)
        self.dropout = dropout

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, hidden = x.shape
        return x.view(batch, length, self.n_heads, hidden // self.n_heads).transpose(1, 2)

    def forward(self, queries: torch.Tensor, keys: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
        """``allowed`` (B, L, L) bool: query i may attend to key j."""
        q, k, v = self._split(self.query(queries)), self._split(self.key(keys)), self._split(self.value(keys))
        out = F.scaled_dot_product_attention(
            q, k, v, attn_mask=allowed.unsqueeze(1), dropout_p=self.dropout if self.training else 0.0
        )
        batch, _, length, _ = out.shape
        return out.transpose(1, 2).reshape(batch, length, -1)


class _FeedForward(nn.Module):
    """Position-wise Linear -> ReLU -> dropout -> Linear -> dropout (the reference's kernel-1 convolutions)."""

    def __init__(self, hidden_size: int, dropout: float):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(hidden_size, hidden_size),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden_size, hidden_size),
            nn.Dropout(dropout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class _Block(nn.Module):
    def __init__(self, hidden_size: int, n_heads: int, dropout: float):
        super().__init__()
        self.attention_norm = nn.LayerNorm(hidden_size, eps=_LN_EPS)
        self.attention = _MultiHeadSelfAttention(hidden_size, n_heads, dropout)
        self.ffn_norm = nn.LayerNorm(hidden_size, eps=_LN_EPS)
        self.ffn = _FeedForward(hidden_size, dropout)

    def forward(self, e: torch.Tensor, allowed: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        q = self.attention_norm(e)
        e = self.attention(q, e, allowed) + q
        n = self.ffn_norm(e)
        return (self.ffn(n) + n) * mask


class SASRecEncoder(ItemSequenceEncoder):
    """Maps (B, L) right-padded item ids (float or long; pad id = ``n_items``) to (B, ``hidden_size``) states."""

    def __init__(
        self,
        n_items: int,
        state_size: int,
        hidden_size: int = 64,
        n_blocks: int = 1,
        n_heads: int = 1,
        dropout: float = 0.1,
    ):
        if hidden_size % n_heads != 0:
            raise ValueError(f"hidden_size={hidden_size} is not divisible by n_heads={n_heads}")
        super().__init__(n_items, state_size, hidden_size)
        self.position_embedding = nn.Embedding(state_size, hidden_size)
        self.embedding_dropout = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(_Block(hidden_size, n_heads, dropout) for _ in range(n_blocks))
        self.final_norm = nn.LayerNorm(hidden_size, eps=_LN_EPS)
        self.init_item_embedding()
        nn.init.normal_(self.position_embedding.weight, std=EMBEDDING_STD)

    def sequence(self, ids: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """(B, L, d) outputs of every position; position t sees items 0..t only (causal)."""
        length = ids.shape[1]
        mask = valid.unsqueeze(-1).to(self.item_embedding.weight.dtype)
        positions = torch.arange(length, device=ids.device)
        e = self.embedding_dropout(self.lookup(ids) + self.position_embedding(positions)) * mask
        # Causal with padded keys hidden; the diagonal stays open so an all-pad row has no empty softmax
        # (its outputs are zeroed by the mask anyway).
        causal = torch.ones(length, length, dtype=torch.bool, device=ids.device).tril()
        allowed = (causal & valid.unsqueeze(1)) | torch.eye(length, dtype=torch.bool, device=ids.device)
        for block in self.blocks:
            e = block(e, allowed, mask)
        return self.final_norm(e)


@dataclasses.dataclass()
class SASRecEncoderFactory(ItemEncoderFactory):
    """d3rlpy encoder factory for :class:`SASRecEncoder`; ``state_size`` comes from the observation shape.

    Args:
        n_items: number of items (the pad id); our agents fill it from ``action_size`` when None.
        hidden_size: embedding and state width.
        n_blocks: number of attention blocks.
        n_heads: attention heads (must divide ``hidden_size``).
        dropout: dropout rate of embeddings, attention weights and feed-forward layers.
    """

    n_blocks: int = 1
    n_heads: int = 1
    dropout: float = 0.1

    def create(self, observation_shape: Shape) -> SASRecEncoder:
        return SASRecEncoder(
            n_items=self.checked_n_items(),
            state_size=int(observation_shape[0]),
            hidden_size=self.hidden_size,
            n_blocks=self.n_blocks,
            n_heads=self.n_heads,
            dropout=self.dropout,
        )

    @staticmethod
    def get_type() -> str:
        return "sasrec"


register_encoder_factory(SASRecEncoderFactory)
