"""The item heads without the (B × n_items) score matrix: cross-entropy and the greedy item, block by block.

``F.cross_entropy(states @ W.T + b, a)`` materialises the logits, their log-softmax and a gradient of the same size,
and each of those passes over (B × n_items) floats runs at memory speed. :func:`linear_cross_entropy` walks the items
in blocks small enough to stay in cache: the forward keeps a running log-sum-exp per row; the backward recomputes
each block's logits, turns them into ``g · (softmax - onehot)`` in place and consumes the block at once in the
gradients of the states, the weight and the bias. :func:`linear_max` is the double-Q selector's
``(states @ W.T + b).max(dim=1)`` the same way, keeping the first maximum as ``argmax`` does. Memory beyond the inputs
and gradients: one (B × block) buffer. Both equal the materialised heads to float rounding
(tests/agents/test_fused_heads.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch

__all__ = ["BLOCK_ITEMS", "linear_cross_entropy", "linear_max"]

BLOCK_ITEMS = 2048
"""Items per block: a (256 × 2048) float32 block is 2 MiB."""


def linear_cross_entropy(
    states: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, targets: torch.Tensor, block: int = BLOCK_ITEMS
) -> torch.Tensor:
    """Per-row ``-log softmax(states @ weight.T + bias)[targets]``, (B,); ``targets`` (B,) item ids."""
    return _LinearCrossEntropy.apply(states, weight, bias, targets.reshape(-1).long(), block)


def linear_max(
    states: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, block: int = BLOCK_ITEMS
) -> tuple[torch.Tensor, torch.Tensor]:
    """(values, indices), (B,) each, of the best item of ``states @ weight.T + bias``: the first on ties; no grad."""
    with torch.no_grad():
        best = states.new_full((states.shape[0],), -torch.inf)
        index = torch.zeros(states.shape[0], dtype=torch.long, device=states.device)
        buffer = states.new_empty(states.shape[0] * min(block, weight.shape[0]))
        for start, logits in _blocks(states, weight, bias, block, buffer):
            values, indices = logits.max(dim=1)
            better = values > best  # strict: an earlier block keeps a tie
            best = torch.where(better, values, best)
            index = torch.where(better, indices + start, index)
    return best, index


class _LinearCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any, states: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, targets: torch.Tensor, block: int
    ) -> torch.Tensor:
        buffer = states.new_empty(states.shape[0] * min(block, weight.shape[0]))
        lse = states.new_full((states.shape[0],), -torch.inf)
        for _, logits in _blocks(states, weight, bias, block, buffer):
            lse = torch.logaddexp(lse, torch.logsumexp(logits, dim=1))
        target_logits = torch.einsum("bd,bd->b", states, weight[targets]) + bias[targets]
        ctx.save_for_backward(states, weight, bias, targets, lse)
        ctx.block = block
        return lse - target_logits

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:  # type: ignore[override]
        states, weight, bias, targets, lse = ctx.saved_tensors
        block = ctx.block
        grad_states = torch.zeros_like(states)
        grad_weight = torch.empty_like(weight)
        grad_bias = torch.empty_like(bias)
        buffer = states.new_empty(states.shape[0] * min(block, weight.shape[0]))
        for start, logits in _blocks(states, weight, bias, block, buffer):
            end = start + logits.shape[1]
            scaled = logits.sub_(lse[:, None]).exp_().mul_(grad[:, None])  # g · softmax
            minus_grad = torch.where((targets >= start) & (targets < end), -grad, 0.0)  # rows whose target is here
            scaled.scatter_add_(1, (targets - start).clamp(0, end - start - 1)[:, None], minus_grad[:, None])
            grad_states.addmm_(scaled, weight[start:end])
            torch.mm(scaled.T, states, out=grad_weight[start:end])
            torch.sum(scaled, dim=0, out=grad_bias[start:end])
        return grad_states, grad_weight, grad_bias, None, None


def _blocks(
    states: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, block: int, buffer: torch.Tensor
) -> Iterator[tuple[int, torch.Tensor]]:
    """(first item, logits of items [first, first + block)) per block, each written into ``buffer``."""
    rows = states.shape[0]
    for start in range(0, weight.shape[0], block):
        end = min(start + block, weight.shape[0])
        logits = buffer[: rows * (end - start)].view(rows, end - start)
        torch.addmm(bias[start:end], states, weight[start:end].T, out=logits)
        yield start, logits
