"""agents/fused_heads.py against the materialised Linear + cross-entropy, and the agents trained with it."""

from __future__ import annotations

import copy
import dataclasses

import d3rlpy
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from d3rlpy.dataset import MDPDataset

from agents import make_config
from agents.fused_heads import KEEP_LOGITS_BYTES, _running_max, linear_cross_entropy, linear_max


def materialised(states, weight, bias, targets):
    return F.cross_entropy(F.linear(states, weight, bias), targets, reduction="none")


@pytest.mark.parametrize(("n_items", "block"), [(50, 7), (50, 50), (50, 64), (1000, 128)])
def test_loss_and_gradients_equal_the_materialised_head(n_items: int, block: int) -> None:
    generator = torch.Generator().manual_seed(n_items + block)
    states = torch.randn(33, 8, generator=generator, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(n_items, 8, generator=generator, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(n_items, generator=generator, dtype=torch.float64, requires_grad=True)
    targets = torch.randint(n_items, (33,), generator=generator)
    targets[:4] = torch.tensor([0, n_items - 1, min(block, n_items) - 1, block % n_items])  # the ends of blocks
    targets[4] = targets[5]  # a repeated target
    row_weights = torch.rand(33, generator=generator, dtype=torch.float64) - 0.3  # negative weights too

    grads = []
    for loss_of in (materialised, lambda *args: linear_cross_entropy(*args, block=block)):
        loss = loss_of(states, weight, bias, targets)
        grads.append((loss.detach(), *torch.autograd.grad((loss * row_weights).sum(), (states, weight, bias))))
    for expected, fused in zip(*grads):
        torch.testing.assert_close(fused, expected, rtol=1e-12, atol=1e-12)


def test_gradcheck() -> None:
    generator = torch.Generator().manual_seed(0)
    states = torch.randn(5, 3, generator=generator, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(11, 3, generator=generator, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(11, generator=generator, dtype=torch.float64, requires_grad=True)
    targets = torch.tensor([0, 10, 4, 4, 7])
    assert torch.autograd.gradcheck(lambda s, w, b: linear_cross_entropy(s, w, b, targets, 4), (states, weight, bias))


@pytest.mark.parametrize(("n_items", "block"), [(50, 7), (50, 64), (1000, 128)])
def test_linear_max_equals_the_materialised_max_and_keeps_the_first_tie(n_items: int, block: int) -> None:
    generator = torch.Generator().manual_seed(n_items)
    states = torch.randn(40, 8, generator=generator, dtype=torch.float64)
    weight = torch.randn(n_items, 8, generator=generator, dtype=torch.float64)
    bias = torch.randn(n_items, generator=generator, dtype=torch.float64)
    weight[n_items - 1], bias[n_items - 1] = weight[1], bias[1]  # items 1 and n - 1 tie everywhere (other blocks)
    scores = F.linear(states, weight, bias)
    values, indices = linear_max(states, weight, bias, block)
    torch.testing.assert_close(values, scores.max(dim=1).values, rtol=1e-12, atol=1e-12)
    assert torch.equal(indices, scores.argmax(dim=1))
    assert (indices != n_items - 1).all()


TWO_PHASE = {"ac", "sa2c", "co", "ccql_ref"}


@pytest.mark.parametrize("name", ["sasrec", "sqn", "ac", "snqn", "sa2c", "co", "ccql", "ccql_ref", "cl4srec", "fmlp"])
def test_the_default_fused_path_logs_the_losses_of_the_materialised_heads(name: str) -> None:
    """Along 100 steps of the default (fused) path, both phases of the two-phase agents: each step, a copy of the
    agent on the materialised heads, updated from the same weights, optimiser state, random streams and batch, logs
    every loss term to 1e-5. (Whole trajectories agree as long as no greedy item flips on a near-tie; after a flip
    they part, as any two float orders do.)"""
    rng = np.random.default_rng(0)
    n_items, size = 300, 4000
    observations = np.full((size, 5), n_items, dtype=np.int32)
    for row, length in enumerate(rng.integers(0, 6, size)):
        observations[row, :length] = rng.integers(n_items, size=length)
    actions = (observations[:, 0] % n_items + rng.integers(0, 3, size)) % n_items
    dataset = MDPDataset(
        observations, actions[:, None], np.full(size, 0.2, dtype=np.float32), np.arange(size) % 6 == 5,
        action_size=n_items,
    )  # fmt: skip
    d3rlpy.seed(0)
    switch = {"switch_step": 50} if name in TWO_PHASE else {}
    fused = make_config(name, "synthetic", n_items=n_items, hidden_size=16, **switch).create()
    assert fused.config.fused_heads  # the default path
    fused.build_with_dataset(dataset)
    for step in range(100):
        batch = dataset.sample_transition_batch(64)
        materialised = copy.deepcopy(fused)
        materialised.impl._config = dataclasses.replace(fused.config, fused_heads=False)
        assert not materialised.impl.fused_heads and fused.impl.fused_heads
        torch.manual_seed(step)
        expected = materialised.update(batch)
        torch.manual_seed(step)
        logged = fused.update(batch)
        assert logged.keys() == expected.keys()
        for key in logged:
            assert logged[key] == pytest.approx(expected[key], rel=1e-5, abs=1e-5), (step, key)


def test_kept_logits_give_the_recomputed_loss_and_gradients_bit_for_bit() -> None:
    generator = torch.Generator().manual_seed(1)
    states = torch.randn(64, 16, generator=generator, requires_grad=True)
    weight = torch.randn(3000, 16, generator=generator, requires_grad=True)
    bias = torch.randn(3000, generator=generator, requires_grad=True)
    targets = torch.randint(3000, (64,), generator=generator)
    row_weights = torch.rand(64, generator=generator)
    results = []
    for keep_bytes in (0, KEEP_LOGITS_BYTES):  # recomputed in the backward, kept from the forward
        loss = linear_cross_entropy(states, weight, bias, targets, 256, keep_bytes)
        results.append((loss.detach(), *torch.autograd.grad((loss * row_weights).sum(), (states, weight, bias))))
    for recomputed, kept in zip(*results):
        assert torch.equal(kept, recomputed)


def test_kept_logits_survive_several_live_graphs_and_a_second_backward() -> None:
    generator = torch.Generator().manual_seed(2)
    states = torch.randn(3, 20, 8, generator=generator, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(300, 8, generator=generator, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(300, generator=generator, dtype=torch.float64, requires_grad=True)
    targets = torch.randint(300, (3, 20), generator=generator)
    # three heads alive at once (more than the pool holds), their losses summed, backward twice
    fused = sum(linear_cross_entropy(states[i], weight, bias, targets[i], 64).sum() for i in range(3))
    expected = sum(materialised(states[i], weight, bias, targets[i]).sum() for i in range(3))
    reference = torch.autograd.grad(expected, (states, weight, bias))
    for _ in range(2):  # the second backward recomputes the logits the first one consumed
        for got, want in zip(torch.autograd.grad(fused, (states, weight, bias), retain_graph=True), reference):
            torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("by_rows", [True, False])
def test_running_max_keeps_the_first_maximum_either_way(by_rows: bool) -> None:
    generator = torch.Generator().manual_seed(3)
    scores = torch.randint(0, 5, (200, 40), generator=generator).double()  # many ties, within and across blocks
    best, index = torch.full((200,), -torch.inf, dtype=torch.float64), torch.zeros(200, dtype=torch.long)
    for start in range(0, 40, 7):
        best, index = _running_max(scores[:, start : start + 7], start, best, index, by_rows)
    assert torch.equal(best, scores.max(dim=1).values)
    assert torch.equal(index, scores.argmax(dim=1))
