"""FQE (recgym.evaluation.fqe): the logging policy's estimate against its logged return on a toy log with a known
policy, a worse policy estimated lower, the greedy rule, and bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

import recgym
from agents import make_config
from recgym.errors import InvalidOptionError
from recgym.evaluation.fqe import fit_fqe, fqe


@pytest.fixture(scope="module")
def chain_log(tmp_path_factory):
    """2,000 sessions that click items 0, 1, 2, ... in order (3 to 8 clicks, half ending in a purchase of the last
    item): the logging policy is "the next item" exactly, so its return is the logged one."""
    rng = np.random.default_rng(0)
    rows = []
    for session in range(2000):
        length = int(rng.integers(3, 9))
        purchase = rng.random() < 0.5
        rows += [(session, t, 1000 * session + t, int(purchase and t == length - 1)) for t in range(length)]
    frame = pd.DataFrame(rows, columns=["session_id", "item_id", "timestamp", "event_type"])
    return recgym.load_dataset(frame, data_dir=tmp_path_factory.mktemp("data"))


def next_item_policy(dataset):
    """The logging policy: one-hot scores of the item after the state's last one (item 0 from the empty state)."""
    encoded = {int(raw): index for index, raw in enumerate(dataset.raw_item_ids)}

    def scores(observations: np.ndarray) -> np.ndarray:
        out = np.zeros((len(observations), dataset.n_items))
        for row, state in enumerate(observations):
            items = state[state != dataset.pad_id]
            following = 0 if len(items) == 0 else int(dataset.raw_item_ids[items[-1]]) + 1
            if following in encoded:
                out[row, encoded[following]] = 1.0
        return out

    return scores


def discounted_returns(split, gamma: float) -> np.ndarray:
    starts = split.episode_starts
    return np.array([split.rewards[a:b] @ gamma ** np.arange(b - a) for a, b in zip(starts[:-1], starts[1:])])


def test_fqe_of_the_logging_policy_is_its_logged_return(chain_log):
    gamma = 0.5
    logged = discounted_returns(chain_log.split("val"), gamma).mean()
    estimate = fqe(next_item_policy(chain_log), chain_log, split="val", gamma=gamma, n_steps=1000, hidden_size=32)
    assert estimate.value == pytest.approx(logged, rel=0.05)
    assert estimate.n_episodes == chain_log.split("val").n_sessions


def test_a_policy_that_leaves_the_logged_path_is_valued_lower(chain_log):
    last = chain_log.n_items - 1

    def always_last(observations: np.ndarray) -> np.ndarray:  # the logged next item only from the second-to-last
        return np.tile(np.eye(chain_log.n_items)[last], (len(observations), 1))

    good = fqe(next_item_policy(chain_log), chain_log, gamma=0.5, n_steps=1000, hidden_size=32)
    bad = fqe(always_last, chain_log, gamma=0.5, n_steps=1000, hidden_size=32)
    assert bad.value < 0.5 * good.value


def test_the_greedy_item_is_the_agents_predict_and_fits_are_seeded(chain_log):
    algo = make_config("sasrec", n_items=chain_log.n_items).create()
    algo.fit(chain_log.to_d3rlpy("train"), n_steps=20, n_steps_per_epoch=20, show_progress=False)
    fitted = fit_fqe(algo, chain_log, n_steps=20, hidden_size=16)
    states = chain_log.split("val").observations[:300]
    greedy = fitted.fqe.algo.impl.predict_best_action(torch.as_tensor(states, dtype=torch.float32))
    np.testing.assert_array_equal(greedy.numpy(), algo.predict(states))
    np.testing.assert_array_equal(fitted.values(states), fitted.fqe.predict_value(states, algo.predict(states)))
    again = fit_fqe(algo, chain_log, n_steps=20, hidden_size=16)
    np.testing.assert_array_equal(again.values(states), fitted.values(states))


def test_bad_input_is_one_line(chain_log, tmp_path):
    policy = next_item_policy(chain_log)
    with pytest.raises(InvalidOptionError, match=r"^gamma must be a finite number >= 0 and <= 1, got 1.5$"):
        fqe(policy, chain_log, gamma=1.5)
    with pytest.raises(InvalidOptionError, match=r"^n_steps must be a finite integer >= 1, got 0$"):
        fqe(policy, chain_log, n_steps=0)
    other = recgym.load_dataset("synthetic", n_sessions=300, n_items=40, data_dir=tmp_path)
    algo = make_config("sasrec", n_items=other.n_items).create()
    algo.fit(other.to_d3rlpy("train"), n_steps=1, n_steps_per_epoch=1, show_progress=False)
    recgym.save_model(algo, tmp_path / "m.pt", dataset=other)
    with pytest.raises(recgym.RecgymError, match="catalogue"):
        fqe(recgym.load_model(tmp_path / "m.pt"), chain_log, n_steps=1)
