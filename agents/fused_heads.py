"""The item heads without the (B × n_items) score matrix: cross-entropy and the greedy item, block by block.

``F.cross_entropy(states @ W.T + b, a)`` materialises the logits, their log-softmax and a gradient of the same size,
and each of those passes over (B × n_items) floats runs at memory speed. :func:`linear_cross_entropy` walks the items
in blocks small enough to stay in cache: the forward keeps a running log-sum-exp per row; the backward recomputes
each block's logits, turns them into ``g · (softmax - onehot)`` in place and consumes the block at once in the
gradients of the states, the weight and the bias. Where the (B × n_items) logits take at most ``keep_bytes``
(:data:`KEEP_LOGITS_BYTES`: up to 131,072 items at batch 256), the forward writes its blocks into one buffer kept for
the backward, which then skips the recomputing matmul: the same values, so the same gradients bit for bit, at the
memory of the logits alone (not of their log-softmax and gradient too). :func:`linear_max` is the double-Q
selector's ``(states @ W.T + b).max(dim=1)`` the same way, keeping the first maximum as ``argmax`` does. Memory
beyond the inputs and gradients: one (B × block) buffer, or the kept logits. Both equal the materialised heads to
float rounding (tests/agents/test_fused_heads.py).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import torch

__all__ = ["BLOCK_ITEMS", "KEEP_LOGITS_BYTES", "linear_cross_entropy", "linear_max"]

BLOCK_ITEMS = 2048
"""Items per block: a (256 × 2048) float32 block is 2 MiB."""

KEEP_LOGITS_BYTES = 128 * 2**20
"""Largest (B × n_items) logits that :func:`linear_cross_entropy` keeps from its forward for its backward; up to two
such buffers are held between steps for reuse."""


def linear_cross_entropy(
    states: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor,
    targets: torch.Tensor,
    block: int = BLOCK_ITEMS,
    keep_bytes: int = KEEP_LOGITS_BYTES,
) -> torch.Tensor:
    """Per-row ``-log softmax(states @ weight.T + bias)[targets]``, (B,); ``targets`` (B,) item ids.

    ``keep_bytes``: keep the logits for the backward when they take at most this much (0: always recompute them).
    """
    return _LinearCrossEntropy.apply(states, weight, bias, targets.reshape(-1).long(), block, keep_bytes)


def linear_max(
    states: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, block: int = BLOCK_ITEMS
) -> tuple[torch.Tensor, torch.Tensor]:
    """(values, indices), (B,) each, of the best item of ``states @ weight.T + bias``: the first on ties; no grad."""
    with torch.no_grad():
        best = states.new_full((states.shape[0],), -torch.inf)
        index = torch.zeros(states.shape[0], dtype=torch.long, device=states.device)
        buffer = _block_buffer(states, weight, block)
        for start, logits in _blocks(states, weight, bias, block, buffer):
            best, index = _running_max(logits, start, best, index, by_rows=states.device.type == "cpu")
    return best, index


def _running_max(
    logits: torch.Tensor, start: int, best: torch.Tensor, index: torch.Tensor, by_rows: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """(best, index) updated with the block of items from ``start``; strictly better only, so earlier ties stay.

    ``by_rows``: take the block's maxima alone (``amax``), then the argmax of the rows they improve only. On CPU a
    reduction with indices is about 25 times slower than ``amax``, and few rows improve after the first blocks; the
    row selection syncs with the host, so on an accelerator ``max`` returns both at once.
    """
    if by_rows:
        values = logits.amax(dim=1)
        better = values > best
        rows = better.nonzero().squeeze(1)
        index = index.index_put((rows,), logits[rows].argmax(dim=1) + start)
    else:
        values, indices = logits.max(dim=1)
        better = values > best
        index = torch.where(better, indices + start, index)
    return torch.where(better, values, best), index


class _LinearCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: Any,
        states: torch.Tensor,
        weight: torch.Tensor,
        bias: torch.Tensor,
        targets: torch.Tensor,
        block: int,
        keep_bytes: int,
    ) -> torch.Tensor:
        size = states.shape[0] * weight.shape[0]
        keep = any(ctx.needs_input_grad[:3]) and size * states.element_size() <= keep_bytes
        buffer = _KEPT.take(size, states) if keep else _block_buffer(states, weight, block)
        lse = states.new_full((states.shape[0],), -torch.inf)
        for _, logits in _blocks(states, weight, bias, block, buffer, stacked=keep):
            lse = torch.logaddexp(lse, torch.logsumexp(logits, dim=1))
        target_logits = torch.einsum("bd,bd->b", states, weight[targets]) + bias[targets]
        ctx.save_for_backward(states, weight, bias, targets, lse)
        ctx.block = block
        ctx.kept = buffer if keep else None  # consumed in place by the first backward
        return lse - target_logits

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        states, weight, bias, targets, lse = ctx.saved_tensors
        block = ctx.block
        grad_states = torch.zeros_like(states)
        grad_weight = torch.empty_like(weight)
        grad_bias = torch.empty_like(bias)
        kept, ctx.kept = ctx.kept, None
        if kept is None:
            blocks = _blocks(states, weight, bias, block, _block_buffer(states, weight, block))
        else:
            blocks = _block_views(kept, states.shape[0], weight.shape[0], block, stacked=True)
        for start, logits in blocks:
            end = start + logits.shape[1]
            scaled = logits.sub_(lse[:, None]).exp_().mul_(grad[:, None])  # g · softmax
            minus_grad = torch.where((targets >= start) & (targets < end), -grad, 0.0)  # rows whose target is here
            scaled.scatter_add_(1, (targets - start).clamp(0, end - start - 1)[:, None], minus_grad[:, None])
            grad_states.addmm_(scaled, weight[start:end])
            torch.mm(scaled.T, states, out=grad_weight[start:end])
            torch.sum(scaled, dim=0, out=grad_bias[start:end])
        if kept is not None:
            _KEPT.give(kept)
        return grad_states, grad_weight, grad_bias, None, None, None


class _BufferPool:
    """Flat buffers handed back after use, so that the next step writes into memory it has touched already.

    A fresh buffer of tens of MiB costs a page fault per 4 KiB on its first write, as much time as the matmul that
    fills it. At most ``capacity`` buffers are held; one that is taken and never given back is simply freed.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.free: list[torch.Tensor] = []
        self.lock = threading.Lock()

    def take(self, size: int, like: torch.Tensor) -> torch.Tensor:
        """A buffer of at least ``size`` elements of ``like``'s dtype and device."""
        with self.lock:
            for index, buffer in enumerate(self.free):
                if buffer.numel() >= size and buffer.dtype == like.dtype and buffer.device == like.device:
                    return self.free.pop(index)
        return like.new_empty(size)

    def give(self, buffer: torch.Tensor) -> None:
        with self.lock:
            self.free = [buffer, *self.free][: self.capacity]


_KEPT = _BufferPool(capacity=2)


def _block_buffer(states: torch.Tensor, weight: torch.Tensor, block: int) -> torch.Tensor:
    return states.new_empty(states.shape[0] * min(block, weight.shape[0]))


def _blocks(
    states: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor,
    block: int,
    buffer: torch.Tensor,
    stacked: bool = False,
) -> Iterator[tuple[int, torch.Tensor]]:
    """(first item, logits of items [first, first + block)) per block, written into ``buffer`` (see
    :func:`_block_views`)."""
    for start, logits in _block_views(buffer, states.shape[0], weight.shape[0], block, stacked):
        end = start + logits.shape[1]
        torch.addmm(bias[start:end], states, weight[start:end].T, out=logits)
        yield start, logits


def _block_views(
    buffer: torch.Tensor, rows: int, n_items: int, block: int, stacked: bool
) -> Iterator[tuple[int, torch.Tensor]]:
    """(first item, contiguous (rows × block) view of ``buffer``) per block of items.

    ``stacked``: the blocks lie one after the other, so that ``buffer`` holds them all; otherwise each one is the
    start of ``buffer``, overwriting the one before.
    """
    for start in range(0, n_items, block):
        end = min(start + block, n_items)
        offset = rows * start if stacked else 0
        yield start, buffer[offset : offset + rows * (end - start)].view(rows, end - start)
