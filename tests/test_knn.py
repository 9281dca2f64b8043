"""Session-based kNN: the vectorised scores against a loop over sessions written from the method's definition."""

from __future__ import annotations

import math

import numpy as np
import pytest

from recgym import evaluate, load_dataset
from recgym.benchmark import run_benchmark
from recgym.errors import InvalidOptionError
from recgym.evaluation.knn import KNN_PRESETS, SessionKNNPolicy


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return load_dataset("synthetic", n_sessions=300, n_items=40, data_dir=tmp_path_factory.mktemp("knn"))


def brute_force(dataset, state, *, k, sample_size, similarity, weighting):
    """The kNN scores of one state, one session and one item at a time."""
    train = dataset.split("train")
    sessions = [set(train.actions[a:b].tolist()) for a, b in zip(train.episode_starts[:-1], train.episode_starts[1:])]
    items = [int(i) for i in state if i < dataset.pad_id]
    length = len(items)
    weights = {}
    for position, item in enumerate(items, start=1):  # a later occurrence overwrites: the last one counts
        weights[item] = {
            "same": 1.0,
            "linear": position / length,
            "quadratic": (position / length) ** 2,
            "log": 1 / math.log10(length - position + 1.7),
        }[weighting]
    candidates = [index for index, session in enumerate(sessions) if session & weights.keys()]
    if sample_size:
        candidates = candidates[-sample_size:]
    similar = []
    for index in candidates:
        shared = sessions[index] & weights.keys()
        dot = sum(weights[item] for item in shared)
        value = {
            "dot": dot,
            "cosine": dot / math.sqrt(len(weights) * len(sessions[index])),
            "jaccard": len(shared) / len(sessions[index] | weights.keys()),
        }[similarity]
        similar.append((-value, -index, index, value))
    scores = np.zeros(dataset.n_items)
    for *_, index, value in sorted(similar)[:k]:
        for item in sessions[index]:
            scores[item] += value
    popularity = np.asarray(dataset.item_popularity, dtype=np.float64)
    return np.where(scores > 0, scores, popularity / (2 * popularity.max()) - 1)


@pytest.mark.parametrize("similarity", ["cosine", "jaccard", "dot"])
@pytest.mark.parametrize("weighting", ["same", "linear", "quadratic", "log"])
def test_scores_equal_the_loop_over_sessions(dataset, similarity, weighting):
    options = {"k": 7, "sample_size": 25, "similarity": similarity, "weighting": weighting}
    policy = SessionKNNPolicy(dataset, **options)
    states = dataset.split("val").observations[:60]
    scores = policy.scores(states).numpy()
    for state, row in zip(states, scores):
        np.testing.assert_allclose(row, brute_force(dataset, state, **options), rtol=1e-12, atol=1e-12)


def test_all_candidates_and_the_presets(dataset):
    states = dataset.split("test").observations[:40]
    everything = SessionKNNPolicy(dataset, k=1000, sample_size=0)
    for state, row in zip(states, everything.scores(states).numpy()):
        np.testing.assert_allclose(row, brute_force(dataset, state, k=1000, sample_size=0, similarity="cosine",
                                                    weighting="same"), rtol=1e-12)  # fmt: skip
    for name, preset in KNN_PRESETS.items():
        metrics = evaluate(SessionKNNPolicy(dataset, **preset), dataset, split="test", ks=(10,))
        assert 0 < metrics["click/hr@10"] <= 1, name


def test_an_empty_state_ranks_by_popularity(dataset):
    policy = SessionKNNPolicy(dataset)
    empty = np.full((1, dataset.state_size), dataset.pad_id)
    order = np.argsort(-policy.scores(empty).numpy()[0], kind="stable")
    expected = np.argsort(-np.asarray(dataset.item_popularity), kind="stable")
    np.testing.assert_array_equal(order, expected)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"k": 0}, "k must be"),
        ({"sample_size": -1}, "sample_size must be"),
        ({"similarity": "euclid"}, "unknown similarity 'euclid'"),
        ({"weighting": "exp"}, "unknown weighting 'exp'"),
    ],
)
def test_bad_options_are_one_line(dataset, options, message):
    with pytest.raises(InvalidOptionError, match=message):
        SessionKNNPolicy(dataset, **options)


def test_the_benchmark_rows_equal_a_direct_evaluation(tmp_path):
    data = {"n_sessions": 300, "n_items": 40, "data_dir": tmp_path / "data"}
    result = run_benchmark("synthetic", ["sknn", "vsknn"], seeds=1, steps=1, eval_every=1, progress=False,
                           out=tmp_path / "out", **data)  # fmt: skip
    dataset = load_dataset("synthetic", **data)
    for name in ("sknn", "vsknn"):
        row = result.table[(result.table.agent == name) & (result.table.selection == "best")].iloc[0]
        expected = evaluate(SessionKNNPolicy(dataset, **KNN_PRESETS[name]), dataset, split="test")
        assert row["purchase/ndcg@20"] == pytest.approx(expected["purchase/ndcg@20"])
        assert row["click/hr@20"] == pytest.approx(expected["click/hr@20"])


def test_a_tuned_knn_row_equals_a_direct_evaluation_with_its_settings(tmp_path):
    data = {"n_sessions": 300, "n_items": 40, "data_dir": tmp_path / "data"}
    result = run_benchmark("synthetic", ["vsknn"], seeds=1, steps=1, eval_every=1, progress=False,
                           grid={"vsknn.k": [3, 30]}, agent_options={"vsknn.similarity": "jaccard"},
                           out=tmp_path / "out", **data)  # fmt: skip
    dataset = load_dataset("synthetic", **data)
    for k in (3, 30):
        row = result.table[(result.table.agent == f"vsknn-k={k}") & (result.table.selection == "best")].iloc[0]
        policy = SessionKNNPolicy(dataset, **{**KNN_PRESETS["vsknn"], "k": k, "similarity": "jaccard"})
        assert row["reward@20"] == pytest.approx(evaluate(policy, dataset, split="test")["reward@20"])
