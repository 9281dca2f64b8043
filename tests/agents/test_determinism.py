"""Same seed, same numbers: every agent trained twice with 2 torch threads gives bit-identical scores."""

from __future__ import annotations

import d3rlpy
import numpy as np
import pytest
import torch
from d3rlpy.logging import NoopAdapterFactory

import recgym
from agents import make_config
from recgym.evaluation.offline import as_scorer

AGENT_NAMES = ["sasrec", "sqn", "ac", "snqn", "sa2c", "co", "ccql", "ccql_ref", "cl4srec", "fmlp", "discrete_cql"]
SWITCH = {"ac", "sa2c", "co", "ccql_ref"}


@pytest.fixture(autouse=True)
def two_threads():
    """Run-to-run differences come from multi-threaded accumulation; with one thread they cannot show."""
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return recgym.load_dataset(
        "synthetic", n_sessions=1500, n_items=500, seed=0, data_dir=tmp_path_factory.mktemp("data")
    )


def train_scores(name: str, dataset) -> np.ndarray:
    d3rlpy.seed(0)
    options = {"switch_step": 20} if name in SWITCH else {}
    algo = make_config(name, n_items=dataset.n_items, **options).create(device="cpu")
    algo.fit(
        dataset.to_d3rlpy("train"), n_steps=40, n_steps_per_epoch=40, show_progress=False,
        logger_adapter=NoopAdapterFactory(), save_interval=10**9,
    )  # fmt: skip
    with torch.no_grad():
        return as_scorer(algo)(dataset.split("val").observations[:256].astype(np.int64)).numpy()


@pytest.mark.parametrize("name", AGENT_NAMES)
def test_two_threads_same_seed_identical_scores(name, dataset):
    first, second = train_scores(name, dataset), train_scores(name, dataset)
    assert np.array_equal(first, second)
