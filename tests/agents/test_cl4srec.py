"""CL4SRec (agents/cl4srec.py): CE + λ·NT-Xent between two random views, one network, no RL."""

from __future__ import annotations

import d3rlpy
import numpy as np
import pytest
import torch
from d3rlpy.dataset import MDPDataset
from d3rlpy.logging import NoopAdapterFactory
from d3rlpy.torch_utility import TorchMiniBatch

from agents import CL4SRecConfig, make_config
from agents.augment import random_augment
from agents.double_q import UpdateStep
from agents.losses import cross_entropy, info_nce

N_ITEMS = 40


def _dataset() -> MDPDataset:
    rng = np.random.default_rng(0)
    states = rng.integers(0, N_ITEMS, (128, 5)).astype(np.float32)
    states[::3, 3:] = N_ITEMS
    return MDPDataset(
        states, rng.integers(0, N_ITEMS, 128), np.ones(128, np.float32), (np.arange(128) % 8 == 7).astype(np.float32),
        action_size=N_ITEMS,
    )  # fmt: skip


def test_loss_is_ce_plus_weighted_contrastive_of_two_views() -> None:
    config = make_config("cl4srec", hidden_size=8, dropout=0.0, seed=3, contrastive_weight=0.5)
    assert isinstance(config, CL4SRecConfig) and config.contrastive_weight == 0.5
    algo = config.create(device="cpu:0")
    algo.create_impl((5,), N_ITEMS)
    impl = algo.impl
    batch = TorchMiniBatch.from_batch(
        _dataset().sample_transition_batch(16), gamma=0.5, compute_returns_to_go=False, device="cpu:0"
    )
    step = UpdateStep(impl, batch, impl._modules.network1, None)
    generator_state = impl.generator.get_state()
    terms = impl.loss_terms(step, phase2=False)
    assert set(terms) == {"ce_loss", "contrastive_loss"} and terms["contrastive_loss"][1] == 0.5
    torch.testing.assert_close(terms["ce_loss"][0], cross_entropy(step.ce_logits, step.actions))
    # the same draws again give the same views: the term is the NT-Xent of those two views
    impl.generator.set_state(generator_state)
    states = batch.observations.long()
    ratios = {"crop_ratio": 0.6, "mask_prob": 0.3, "reorder_ratio": 0.6}
    network = impl._modules.network1
    kinds = ("crop", "mask", "reorder")
    views = [network(random_augment(states, N_ITEMS, kinds, impl.generator, **ratios)) for _ in range(2)]
    torch.testing.assert_close(terms["contrastive_loss"][0], info_nce(views[0], views[1], 0.07))


def test_fit_logs_both_terms() -> None:
    d3rlpy.seed(0)
    algo = make_config("cl4srec", hidden_size=8, batch_size=16).create(device="cpu:0")
    result = algo.fit(
        _dataset(), n_steps=4, n_steps_per_epoch=4, show_progress=False, logger_adapter=NoopAdapterFactory(),
        save_interval=10**9,
    )  # fmt: skip
    metrics = result[-1][1]
    assert np.isfinite(metrics["contrastive_loss"]) and np.isfinite(metrics["ce_loss"])
    assert metrics["loss"] == pytest.approx(metrics["ce_loss"] + 0.1 * metrics["contrastive_loss"], rel=1e-5)
