"""Tests of recgym/evaluation/scoring.py: the scores of every d3rlpy discrete algorithm rank its own greedy action first."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from d3rlpy.logging import NoopAdapterFactory

import recgym
from agents import make_config
from recgym.evaluation.offline import as_scorer, recommend, register_scorer
from recgym.ranking import top_k

D3RLPY_NAMES = ["dqn", "double_dqn", "discrete_cql", "discrete_bcq", "discrete_sac", "nfq", "discrete_bc"]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return recgym.load_dataset("synthetic", n_sessions=800, n_items=120, data_dir=tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="module")
def states(dataset) -> np.ndarray:
    observations = np.unique(dataset.split("train").observations, axis=0)[:600].astype(np.int64)
    assert len(observations) >= 500
    return observations


def trained(name: str, dataset):
    torch.manual_seed(0)
    algo = make_config(name, n_items=dataset.n_items, hidden_size=16, batch_size=64).create(device="cpu")
    algo.fit(
        dataset.to_d3rlpy("train"), n_steps=30, n_steps_per_epoch=30, show_progress=False,
        logger_adapter=NoopAdapterFactory(), save_interval=10**9,
    )  # fmt: skip
    return algo


@pytest.mark.parametrize("name", D3RLPY_NAMES)
def test_top_item_of_the_scores_is_predict(name, dataset, states):
    algo = trained(name, dataset)
    scores = as_scorer(algo)(states)
    assert scores.shape == (len(states), dataset.n_items) and not scores.requires_grad
    assert np.array_equal(top_k(scores, 1)[:, 0].numpy(), algo.predict(states))
    slates = recommend(algo, states[:50], 5)
    assert slates.shape == (50, 5) and np.array_equal(slates[:, 0], algo.predict(states[:50]))


def test_bcq_ranks_the_imitators_allowed_items_first(dataset, states):
    algo = trained("discrete_bcq", dataset)
    x = torch.as_tensor(states, dtype=torch.float32)
    algo.impl.modules.set_eval()  # no dropout, as predict
    with torch.no_grad():
        log_probs = algo.impl.modules.imitator(x).logits.log_softmax(dim=1)
    allowed = log_probs - log_probs.max(dim=1, keepdim=True).values > np.log(algo.config.action_flexibility)
    scores = as_scorer(algo)(states)
    n_allowed = allowed.sum(dim=1)
    order = scores.argsort(dim=1, descending=True, stable=True)
    for row in range(0, len(states), 50):
        assert allowed[row, order[row, : n_allowed[row]]].all()


def test_an_unknown_algorithm_is_refused_with_what_to_provide(dataset):
    from d3rlpy.algos import DQN

    class MyDQN(DQN):  # a subclass may act differently: the parent's rule is not applied
        pass

    algo = MyDQN(make_config("dqn", n_items=dataset.n_items, hidden_size=8), device="cpu:0", enable_ddp=False)
    algo.create_impl((dataset.state_size,), dataset.n_items)
    with pytest.raises(TypeError, match="no scoring rule for MyDQN: give it a method scores"):
        as_scorer(algo)
    register_scorer(MyDQN, lambda impl, x: impl._q_func_forwarder.compute_expected_q(x) * 2)
    observations = np.zeros((2, dataset.state_size), dtype=np.int64)
    assert torch.equal(
        as_scorer(algo)(observations),
        algo.impl._q_func_forwarder.compute_expected_q(torch.zeros(2, dataset.state_size)) * 2,
    )


def test_evaluate_refuses_a_model_of_another_catalogue_or_state_size(dataset, tmp_path):
    from recgym.errors import InvalidOptionError

    algo = make_config("dqn", n_items=dataset.n_items + 1, hidden_size=8).create(device="cpu")
    algo.create_impl((dataset.state_size,), dataset.n_items + 1)
    with pytest.raises(InvalidOptionError, match=f"scores {dataset.n_items + 1} items but synthetic has"):
        recgym.evaluate(algo, dataset)
    algo = make_config("dqn", n_items=dataset.n_items, hidden_size=8).create(device="cpu")
    algo.create_impl((5,), dataset.n_items)
    with pytest.raises(InvalidOptionError, match="states of 5 items.*state_size=10"):
        recgym.evaluate(algo, dataset)
