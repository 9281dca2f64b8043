"""agents/sampled_softmax.py against brute-force loops, and agents trained with it."""

from __future__ import annotations

import math

import d3rlpy
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from d3rlpy.dataset import MDPDataset
from d3rlpy.logging import NoopAdapterFactory

from agents import make_config
from agents.sampled_softmax import draw_sampled_negatives, log_proposal, sampled_cross_entropy, sampled_max


def brute_force(states, weight, bias, targets, negatives, log_q) -> list[float]:
    losses = []

    def logit(b: int, item: int) -> float:
        return float(states[b] @ weight[item] + bias[item]) - float(log_q[item])

    for b in range(len(targets)):
        positive = logit(b, int(targets[b]))
        others = [math.exp(logit(b, int(j))) for j in negatives if int(j) != int(targets[b])]
        losses.append(-math.log(math.exp(positive) / (math.exp(positive) + sum(others))))
    return losses


def inputs(n_items: int = 30, rows: int = 12, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    states = torch.randn(rows, 4, generator=generator, dtype=torch.float64)
    weight = torch.randn(n_items, 4, generator=generator, dtype=torch.float64)
    bias = torch.randn(n_items, generator=generator, dtype=torch.float64)
    targets = torch.randint(n_items, (rows,), generator=generator)
    return states, weight, bias, targets


def test_the_corrected_loss_equals_a_brute_force_loop_with_accidental_hits_removed() -> None:
    states, weight, bias, targets = inputs()
    negatives = torch.cat([targets[:3], torch.tensor([5, 5, 17])])  # hits for rows 0-2, a repeated negative
    log_q = torch.log(torch.linspace(1, 3, 30, dtype=torch.float64) / torch.linspace(1, 3, 30).sum())
    loss = sampled_cross_entropy(states, weight, bias, targets, negatives, log_q)
    np.testing.assert_allclose(loss.numpy(), brute_force(states, weight, bias, targets, negatives, log_q), rtol=1e-12)


def test_every_item_once_under_the_uniform_proposal_is_the_full_softmax() -> None:
    states, weight, bias, targets = inputs()
    log_q = log_proposal("uniform", None, 30, torch.device("cpu")).double()
    sampled = sampled_cross_entropy(states, weight, bias, targets, torch.arange(30), log_q)
    full = F.cross_entropy(F.linear(states, weight, bias), targets, reduction="none")
    torch.testing.assert_close(sampled, full, rtol=1e-12, atol=1e-12)


def test_log_proposal_by_hand_and_its_errors() -> None:
    cpu = torch.device("cpu")
    np.testing.assert_allclose(log_proposal("uniform", None, 4, cpu).exp().numpy(), [0.25] * 4, rtol=1e-6)
    popularity = log_proposal("popularity", torch.tensor([0, 1, 3]), 3, cpu).exp()
    np.testing.assert_allclose(popularity.numpy(), [1 / 7, 2 / 7, 4 / 7], rtol=1e-6)  # one pseudo-count each
    with pytest.raises(ValueError, match="needs the training item counts"):
        log_proposal("popularity", None, 3, cpu)
    with pytest.raises(ValueError, match="proposal must be one of"):
        log_proposal("zipf", None, 3, cpu)


def test_draws_follow_the_proposal() -> None:
    log_q = torch.tensor([0.1, 0.2, 0.7]).log()
    draws = draw_sampled_negatives(log_q, 30_000, torch.Generator().manual_seed(0))
    shares = np.bincount(draws.numpy(), minlength=3) / 30_000
    np.testing.assert_allclose(shares, [0.1, 0.2, 0.7], atol=0.01)  # 4+ standard errors


N_ITEMS = 200


@pytest.fixture(scope="module")
def successor_log() -> MDPDataset:
    """States whose last item is i; the logged next item is (i + 1) mod n, item 0 ten times as often as others."""
    rng = np.random.default_rng(0)
    last = np.where(rng.random(6000) < 0.1, N_ITEMS - 1, rng.integers(0, N_ITEMS, 6000))
    observations = np.full((6000, 3), N_ITEMS, dtype=np.int32)
    observations[:, 0] = last
    return MDPDataset(
        observations, ((last + 1) % N_ITEMS)[:, None], np.full(6000, 0.2, dtype=np.float32),
        np.arange(6000) % 5 == 4, action_size=N_ITEMS,
    )  # fmt: skip


@pytest.mark.usefixtures("one_thread")
@pytest.mark.parametrize(("name", "proposal"), [("sasrec", "uniform"), ("sasrec", "popularity"), ("sqn", "uniform")])
def test_agents_learn_with_the_sampled_softmax(name: str, proposal: str, successor_log) -> None:
    d3rlpy.seed(0)
    config = make_config(
        name, "synthetic", n_items=N_ITEMS, hidden_size=16, batch_size=64, sampled_softmax=20, sampled_proposal=proposal
    )
    algo = config.create()
    algo.fit(
        successor_log, n_steps=300, n_steps_per_epoch=300, show_progress=False, logger_adapter=NoopAdapterFactory()
    )
    states = np.full((N_ITEMS, 3), N_ITEMS, dtype=np.int32)
    states[:, 0] = np.arange(N_ITEMS)
    hit_rate = (algo.recommend(states, 10) == ((np.arange(N_ITEMS) + 1) % N_ITEMS)[:, None]).any(axis=1).mean()
    assert hit_rate > 0.8  # popularity: 10 of 200 successors
    if proposal == "popularity":
        counts = np.bincount(successor_log.episodes[0].actions.ravel(), minlength=N_ITEMS)
        for episode in successor_log.episodes[1:]:
            counts += np.bincount(episode.actions.ravel(), minlength=N_ITEMS)
        expected = np.log((counts + 1) / (counts + 1).sum())
        np.testing.assert_allclose(algo.impl.log_proposal.numpy(), expected, rtol=1e-5)


def test_config_errors() -> None:
    with pytest.raises(ValueError, match="sampled_softmax must be a finite integer >= 1"):
        make_config("sasrec", "synthetic", n_items=10, sampled_softmax=0)
    with pytest.raises(ValueError, match="sampled_proposal must be one of"):
        make_config("sasrec", "synthetic", n_items=10, sampled_proposal="zipf")


def test_sampled_max_is_the_best_candidate_first_tie_in_draw_order() -> None:
    states, weight, bias, _ = inputs()
    weight[9], bias[9] = weight[4], bias[4]  # items 4 and 9 tie everywhere
    candidates = torch.tensor([9, 2, 4, 2, 17, 9, 28])
    values, items = sampled_max(states, weight, bias, candidates)
    for b in range(len(states)):
        scores = [float(states[b] @ weight[c] + bias[c]) for c in candidates.tolist()]
        best = max(range(len(scores)), key=lambda i: (scores[i], -i))  # highest score, then earliest draw
        assert values[b].item() == pytest.approx(scores[best], rel=1e-12)
        assert items[b].item() == candidates[best].item()
    assert 4 not in items.tolist()  # 9 is drawn first


@pytest.mark.parametrize("name", ["sqn", "ccql"])
def test_sampled_q_targets_over_every_item_train_like_the_full_selector(name: str, monkeypatch, successor_log) -> None:
    """With the candidates forced to the whole catalogue the losses are the full selector's: the candidates are
    wired into both bootstraps, and their draws leave the other random streams alone."""
    import agents.double_q as double_q

    def losses(sampled: bool) -> list[list[float]]:
        d3rlpy.seed(0)
        options = {"sampled_q_targets": 7} if sampled else {}
        algo = make_config(name, "synthetic", n_items=N_ITEMS, hidden_size=16, batch_size=32, **options).create()
        algo.build_with_dataset(successor_log)
        logged = [algo.update(successor_log.sample_transition_batch(32)) for _ in range(30)]
        return [[step[key] for key in sorted(step)] for step in logged]

    every_item = double_q.sampled_max
    monkeypatch.setattr(double_q, "sampled_max", lambda s, w, b, c: every_item(s, w, b, torch.arange(len(w))))
    np.testing.assert_allclose(losses(True), losses(False), rtol=1e-5, atol=1e-6)


@pytest.mark.usefixtures("one_thread")
def test_an_agent_learns_with_sampled_q_targets(successor_log) -> None:
    d3rlpy.seed(0)
    config = make_config("snqn", "synthetic", n_items=N_ITEMS, hidden_size=16, batch_size=64, sampled_q_targets=20)
    algo = config.create()
    algo.fit(
        successor_log, n_steps=300, n_steps_per_epoch=300, show_progress=False, logger_adapter=NoopAdapterFactory()
    )
    states = np.full((N_ITEMS, 3), N_ITEMS, dtype=np.int32)
    states[:, 0] = np.arange(N_ITEMS)
    hit_rate = (algo.recommend(states, 10) == ((np.arange(N_ITEMS) + 1) % N_ITEMS)[:, None]).any(axis=1).mean()
    assert hit_rate > 0.8
    with pytest.raises(ValueError, match="sampled_q_targets must be a finite integer >= 1"):
        make_config("ccql", "synthetic", n_items=10, sampled_q_targets=0)
