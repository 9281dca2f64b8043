"""Overestimation monitoring (recgym/evaluation/overestimation.py) against hand-computed discounted returns."""

from __future__ import annotations

from types import SimpleNamespace

import d3rlpy
import numpy as np
import pytest
from d3rlpy.logging import NoopAdapterFactory

import recgym.evaluation.overestimation
from agents import make_config
from recgym.data.schema import EventType
from recgym.data.transitions import build_split
from recgym.evaluation.overestimation import discounted_returns, q_bias

CLICK, PURCHASE = int(EventType.CLICK), int(EventType.PURCHASE)


class ToyDataset:
    """Two sessions: 7 = click, purchase, click (rewards 0.2, 1.0, 0.2); 9 = purchase, click (1.0, 0.2)."""

    def __init__(self) -> None:
        self.data = build_split(
            np.array([7, 7, 7, 9, 9]),
            np.array([0, 1, 2, 3, 0]),
            np.array([CLICK, PURCHASE, CLICK, PURCHASE, CLICK]),
            state_size=3,
            pad_id=4,
        )

    def split(self, name: str):
        assert name == "val"
        return self.data


# γ = 0.5: session 7: 0.2 + 0.5·1.0 + 0.25·0.2 = 0.75, 1.0 + 0.5·0.2 = 1.1, 0.2; session 9: 1.0 + 0.5·0.2 = 1.1, 0.2
TOY_RETURNS = [0.75, 1.1, 0.2, 1.1, 0.2]


def test_discounted_returns_of_the_toy_log_by_hand() -> None:
    data = ToyDataset().data
    np.testing.assert_allclose(discounted_returns(data.rewards, data.terminals, 0.5), TOY_RETURNS, rtol=1e-6)
    np.testing.assert_allclose(discounted_returns(data.rewards, data.terminals, 0.0), data.rewards, rtol=1e-6)
    np.testing.assert_allclose(
        discounted_returns(data.rewards, data.terminals, 1.0), [1.4, 1.2, 0.2, 1.2, 0.2], rtol=1e-6
    )


def test_discounted_returns_of_uneven_sessions_match_the_recursion() -> None:
    """Sessions of 1..37 events (not powers of two) against G_t = r_t + γ·G_{t+1}, one event at a time."""
    rng = np.random.default_rng(0)
    lengths = [1, 2, 37, 5, 16, 17, 3]
    rewards = rng.random(sum(lengths))
    terminals = np.zeros(len(rewards), dtype=bool)
    terminals[np.cumsum(lengths) - 1] = True
    expected, following = np.empty_like(rewards), 0.0
    for t in range(len(rewards) - 1, -1, -1):
        following = rewards[t] + (0.0 if terminals[t] else 0.9 * following)
        expected[t] = following
    np.testing.assert_allclose(discounted_returns(rewards, terminals, 0.9), expected, rtol=1e-12)
    assert discounted_returns(np.zeros(0), np.zeros(0, dtype=bool), 0.5).shape == (0,)
    with pytest.raises(ValueError, match="gamma"):
        discounted_returns(rewards, terminals, 1.5)


def test_q_bias_is_mean_q_minus_mean_discounted_return(monkeypatch) -> None:
    """A stub algorithm whose Q of (s, a) is 0.1·a + 1: Q of the logged items 0, 1, 2, 3, 0 has mean 1.12."""
    calls = []

    def predict_value(observations: np.ndarray, actions: np.ndarray) -> np.ndarray:
        calls.append(len(actions))
        return 0.1 * np.asarray(actions) + 1.0

    class StubImpl:  # over 4 items, with d3rlpy's mark of a Q function
        action_size = 4
        q_function = None

    algo = SimpleNamespace(impl=StubImpl(), config=SimpleNamespace(gamma=0.5))
    algo.predict_value = predict_value
    monkeypatch.setattr(recgym.evaluation.overestimation, "_SCORE_BUDGET", 8)  # 8 // 4 items = 2 rows per call
    result = q_bias(algo, ToyDataset())
    assert calls == [2, 2, 1]
    assert result["q_mean"] == pytest.approx(1.12)
    assert result["return_mean"] == pytest.approx(sum(TOY_RETURNS) / 5)  # 0.67
    assert result["q_bias"] == pytest.approx(1.12 - 0.67)
    assert q_bias(algo, ToyDataset(), gamma=0.0)["return_mean"] == pytest.approx((0.2 + 1.0 + 0.2 + 1.0 + 0.2) / 5)


def test_q_bias_of_a_trained_agent_uses_its_q_head_and_gamma() -> None:
    dataset = ToyDataset()
    data = dataset.data
    mdp = d3rlpy.dataset.MDPDataset(
        data.observations, data.actions, data.rewards, data.terminals.astype(np.float32), action_size=4
    )
    algo = make_config("sqn", n_items=4, hidden_size=8, batch_size=4, gamma=0.5, n_negatives=3, score_head="q").create()
    algo.fit(mdp, n_steps=3, n_steps_per_epoch=3, show_progress=False, logger_adapter=NoopAdapterFactory())
    result = q_bias(algo, dataset)
    q = algo.scores(data.observations)[np.arange(5), data.actions].numpy()  # N1's Q head (score_head="q")
    np.testing.assert_allclose(algo.predict_value(data.observations, data.actions), q, rtol=1e-5, atol=1e-7)
    assert result["q_mean"] == pytest.approx(float(q.mean()), rel=1e-5)
    assert result["q_bias"] == pytest.approx(float(q.mean()) - sum(TOY_RETURNS) / 5, rel=1e-5)
    sasrec = make_config("sasrec", n_items=4, hidden_size=8).create()
    sasrec.build_with_dataset(mdp)
    with pytest.raises(ValueError, match="no Q function"):
        q_bias(sasrec, dataset)


def test_has_q_function_by_algorithm() -> None:
    """Q-learning agents and d3rlpy's Q algorithms have one; SASRec-style CE agents and behaviour cloning do not."""
    from recgym.evaluation.overestimation import has_q_function

    expected = {"sqn": True, "ccql": True, "dqn": True, "discrete_sac": True, "sasrec": False, "discrete_bc": False}
    for name, has_q in expected.items():
        algo = make_config(name, n_items=20, hidden_size=8).create()
        algo.create_impl((10,), 20)
        assert has_q_function(algo) is has_q, name
    bc = make_config("discrete_bc", n_items=20, hidden_size=8).create()
    bc.create_impl((10,), 20)
    with pytest.raises(ValueError, match="no Q function"):
        q_bias(bc, ToyDataset())
