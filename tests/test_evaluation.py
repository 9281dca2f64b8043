"""recgym.evaluation.offline: hand-checked metrics, oracle/random/popularity policies, d3rlpy evaluators."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

import recgym
from recgym.datasets import load_dataset
from recgym.evaluation.metrics import metrics_from_parts, part_columns
from recgym.evaluation.offline import (
    MetricEvaluator,
    PopularityPolicy,
    RandomPolicy,
    as_scorer,
    default_batch_size,
    evaluate,
    evaluate_sessions,
    metric_evaluators,
)

N_ITEMS = 300


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory):
    return load_dataset("synthetic", n_sessions=3000, n_items=N_ITEMS, data_dir=tmp_path_factory.mktemp("data"))


def tiny_dataset() -> SimpleNamespace:
    """Five items, state size 2; val = session [1, 3, 3*] and session [4] (* = purchase)."""
    pad = 5
    val = SimpleNamespace(
        observations=np.array([[pad, pad], [1, pad], [1, 3], [pad, pad]], dtype=np.int32),
        actions=np.array([1, 3, 3, 4]),
        rewards=np.array([0.2, 0.2, 1.0, 0.2], dtype=np.float32),
        event_types=np.array([0, 0, 1, 0], dtype=np.int8),
    )
    return SimpleNamespace(n_items=5, item_popularity=np.array([0.1, 0.2, 0.4, 0.3, 0.0]), split=lambda name: val)


def test_hand_checked_metrics_on_tiny_dataset() -> None:
    # scores rank items 3 > 1 > 0 > 2 > 4 in every row: logged items 1, 3, 3, 4 get ranks 2, 1, 1, 5
    scores = np.array([0.5, 0.7, 0.1, 0.9, 0.0])
    m = evaluate(lambda obs: np.tile(scores, (len(obs), 1)), tiny_dataset(), ks=(1, 2, 5), batch_size=3)
    assert m["click/hr@1"] == 1 / 3 and m["click/hr@2"] == 2 / 3 and m["click/hr@5"] == 1.0
    assert m["click/ndcg@2"] == pytest.approx((1 + 1 / math.log2(3)) / 3, abs=1e-15)
    assert m["click/ndcg@5"] == pytest.approx((1 + 1 / math.log2(3) + 1 / math.log2(6)) / 3, abs=1e-15)
    assert m["purchase/hr@1"] == 1.0 and m["purchase/ndcg@1"] == 1.0
    assert (
        m["reward@1"] == pytest.approx(1.2)
        and m["reward@2"] == pytest.approx(1.4)
        and m["reward@5"] == pytest.approx(1.6)
    )
    assert (m["n_click_events"], m["n_purchase_events"], m["n_events"]) == (3, 1, 4)


def test_popularity_policy_ties_follow_item_ids() -> None:
    # popularity 2 > 3 > 1 > 0 > 4; ks beyond the catalogue count every event as a hit
    m = evaluate(PopularityPolicy(tiny_dataset()), tiny_dataset(), ks=(3, 50))
    assert m["click/hr@3"] == 2 / 3 and m["purchase/hr@3"] == 1.0
    assert m["click/ndcg@3"] == pytest.approx((1 / math.log2(4) + 1 / math.log2(3)) / 3, abs=1e-15)
    assert m["click/hr@50"] == 1.0 and m["purchase/hr@50"] == 1.0


class Oracle:
    """Scores the logged item of each event highest; it reads the log, so it needs ``unique_states=False``."""

    def __init__(self, actions: np.ndarray, n_items: int) -> None:
        self.actions, self.n_items, self.position = actions, n_items, 0

    def scores(self, observations: np.ndarray) -> torch.Tensor:
        targets = torch.as_tensor(self.actions[self.position : self.position + len(observations)])
        self.position += len(observations)
        return torch.nn.functional.one_hot(targets, self.n_items).float()


def test_oracle_gets_every_hit_and_the_maximal_reward(synthetic) -> None:
    val = synthetic.split("val")
    m = evaluate(Oracle(val.actions, synthetic.n_items), synthetic, ks=(1, 20), batch_size=1000, unique_states=False)
    for key in ("click/hr@1", "click/ndcg@1", "purchase/hr@20", "purchase/ndcg@20"):
        assert m[key] == 1.0
    assert m["reward@1"] == m["reward@20"] == math.fsum(val.rewards.astype(np.float64))
    assert m["n_events"] == val.n_transitions
    assert m["n_purchase_events"] == int((val.event_types == recgym.EventType.PURCHASE).sum()) > 0


def test_random_policy_hit_rate_is_k_over_n_items(synthetic) -> None:
    m = evaluate(RandomPolicy(synthetic.n_items, seed=1), synthetic, ks=(10, 20))
    n = m["n_events"]
    for k in (10, 20):
        p = k / synthetic.n_items
        hr = (m["click/hr@" + str(k)] * m["n_click_events"] + m["purchase/hr@" + str(k)] * m["n_purchase_events"]) / n
        assert abs(hr - p) < 4 * math.sqrt(p * (1 - p) / n)


def test_popularity_matches_a_brute_force_loop(synthetic) -> None:
    val = synthetic.split("val")
    m = evaluate(PopularityPolicy(synthetic), synthetic, ks=(5, 20), batch_size=777)
    popularity = synthetic.item_popularity.astype(np.float32).tolist()
    ranking = sorted(range(synthetic.n_items), key=lambda item: (-popularity[item], item))
    rank_of = {item: position + 1 for position, item in enumerate(ranking)}
    for k in (5, 20):
        hits = [rank_of[int(a)] <= k for a in val.actions]
        purchases = val.event_types == 1
        gains = [1 / math.log2(rank_of[int(a)] + 1) if hit else 0.0 for a, hit in zip(val.actions, hits)]
        assert m[f"purchase/hr@{k}"] == sum(h for h, p in zip(hits, purchases) if p) / purchases.sum()
        assert m[f"click/ndcg@{k}"] == pytest.approx(
            math.fsum(g for g, p in zip(gains, purchases) if not p) / (~purchases).sum(), abs=1e-12
        )
        assert m[f"reward@{k}"] == pytest.approx(math.fsum(float(r) for r, h in zip(val.rewards, hits) if h), abs=1e-9)


def test_per_session_parts_match_a_loop_and_sum_to_the_metrics(synthetic) -> None:
    policy = PopularityPolicy(synthetic)
    metrics, parts = evaluate_sessions(policy, synthetic, "val", ks=(5, 20))
    assert metrics == evaluate(policy, synthetic, "val", ks=(5, 20))  # the same numbers, bit for bit
    val = synthetic.split("val")
    assert parts.shape == (val.n_sessions, len(part_columns((5, 20))))
    popularity = synthetic.item_popularity.astype(np.float32).tolist()
    ranking = sorted(range(synthetic.n_items), key=lambda item: (-popularity[item], item))
    rank_of = {item: position + 1 for position, item in enumerate(ranking)}
    column = {name: index for index, name in enumerate(part_columns((5, 20)))}
    for session in (0, 7, val.n_sessions - 1):  # one session's sums by a loop over its events
        rows = range(val.episode_starts[session], val.episode_starts[session + 1])
        for k in (5, 20):
            hits = [r for r in rows if rank_of[int(val.actions[r])] <= k]
            clicks = [r for r in hits if val.event_types[r] == 0]
            assert parts[session, column[f"click/hits@{k}"]] == len(clicks)
            assert parts[session, column[f"click/dcg@{k}"]] == pytest.approx(
                sum(1 / math.log2(rank_of[int(val.actions[r])] + 1) for r in clicks)
            )
            assert parts[session, column[f"reward@{k}"]] == pytest.approx(sum(float(val.rewards[r]) for r in hits))
        assert parts[session, column["n_purchase_events"]] == sum(val.event_types[r] == 1 for r in rows)
    from_parts = metrics_from_parts(parts.sum(axis=0), (5, 20))
    for name, value in from_parts.items():
        assert float(value) == pytest.approx(metrics[name], rel=1e-12)


def test_default_batch_size_is_24_mb_of_scores_within_64_to_4096_states() -> None:
    assert default_batch_size(26_702) == 235  # 6 * 2**20 / 26,702 = 235.6
    assert default_batch_size(1_000) == 4096  # 6,291 states would fit; the cap
    assert default_batch_size(1_800_000) == 64  # 3 states would fit; the floor


def test_batch_size_score_type_and_state_sharing_do_not_change_the_result(synthetic) -> None:
    rng = np.random.default_rng(0)
    weights = rng.normal(size=(synthetic.n_items + 1, synthetic.n_items)).astype(np.float32)

    def numpy_scorer(observations: np.ndarray) -> np.ndarray:
        return weights[observations].sum(axis=1)

    reference = evaluate(numpy_scorer, synthetic)
    assert evaluate(numpy_scorer, synthetic, batch_size=333) == reference
    assert evaluate(numpy_scorer, synthetic, batch_size=333, unique_states=False) == reference
    assert evaluate(lambda obs: torch.from_numpy(numpy_scorer(obs)), synthetic, batch_size=50) == reference
    assert set(reference) == {
        f"{kind}/{name}@{k}" for kind in ("click", "purchase") for name in ("hr", "ndcg") for k in (5, 10, 20)
    } | {"reward@5", "reward@10", "reward@20", "n_click_events", "n_purchase_events", "n_events"}


def test_bad_arguments_are_rejected(synthetic) -> None:
    with pytest.raises(ValueError, match=r"shape \(\d+, 7\)"):
        evaluate(lambda obs: np.zeros((len(obs), 7)), synthetic)
    with pytest.raises(ValueError, match="ks must be"):
        evaluate(PopularityPolicy(synthetic), synthetic, ks=(0, 5))
    with pytest.raises(ValueError, match="batch_size"):
        evaluate(PopularityPolicy(synthetic), synthetic, batch_size=0)
    with pytest.raises(TypeError, match="cannot score with int"):
        as_scorer(3)
    with pytest.raises(ValueError, match="unknown metric"):
        MetricEvaluator(synthetic, "purchase/mrr@20")
    with pytest.raises(ValueError, match="needs k=20"):
        MetricEvaluator(synthetic, "reward@20", ks=(5, 10))


def test_evaluators_share_one_scoring_pass_per_gradient_step(synthetic) -> None:
    class CountingPolicy(PopularityPolicy):
        grad_step, calls = 0, 0

        def scores(self, observations):
            self.calls += 1
            return super().scores(observations)

    policy = CountingPolicy(synthetic)
    evaluators = metric_evaluators(synthetic, ("purchase/hr@20", "click/ndcg@5", "reward@10"), batch_size=100_000)
    assert set(evaluators) == {"purchase_hr@20", "click_ndcg@5", "reward@10"}
    values = {name: evaluator(policy, None) for name, evaluator in evaluators.items()}
    assert policy.calls == 1
    expected = evaluate(PopularityPolicy(synthetic), synthetic)
    assert values == {
        "purchase_hr@20": expected["purchase/hr@20"],
        "click_ndcg@5": expected["click/ndcg@5"],
        "reward@10": expected["reward@10"],
    }
    policy.grad_step = 1
    evaluators["reward@10"](policy, None)
    assert policy.calls == 2


@pytest.mark.parametrize("config_name", ["DQNConfig", "DiscreteBCConfig"])
def test_d3rlpy_algorithm_inside_fit(synthetic, config_name: str, tmp_path) -> None:
    import d3rlpy

    algo = getattr(d3rlpy.algos, config_name)(batch_size=64).create(device="cpu:0")
    with pytest.raises(ValueError, match="not built yet"):
        evaluate(algo, synthetic)
    evaluators = metric_evaluators(synthetic, ("purchase/hr@20", "reward@20"))
    results = algo.fit(
        synthetic.to_d3rlpy("train"),
        n_steps=20,
        n_steps_per_epoch=10,
        evaluators=evaluators,
        show_progress=False,
        save_interval=100,
        experiment_name="eval",
        logger_adapter=d3rlpy.logging.FileAdapterFactory(root_dir=str(tmp_path)),
    )
    assert [set(metrics) >= {"purchase_hr@20", "reward@20"} for _, metrics in results] == [True, True]
    # top-1 hits of the full-catalogue scores agree with d3rlpy's own greedy action
    val = synthetic.split("val")
    m = evaluate(algo, synthetic, ks=(1,))
    matches = (algo.predict(val.observations.astype(np.float32)) == val.actions).sum()
    assert m["click/hr@1"] * m["n_click_events"] + m["purchase/hr@1"] * m["n_purchase_events"] == pytest.approx(matches)
