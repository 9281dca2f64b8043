"""recgym.evaluation.online.evaluate_online: logged statistics without recommendations, policy ordering, agreement with the env."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import recgym
from recgym.data.schema import EventType
from recgym.data.synthetic import SyntheticConfig, generate_events
from recgym.envs import RecOnlineEnv
from recgym.envs.simulator import UserSimulator
from recgym.evaluation.offline import PopularityPolicy, RandomPolicy, as_scorer
from recgym.evaluation.online import Z_95, OraclePolicy, evaluate_online
from recgym.ranking import top_k

LOG = {"log_sessions": 2000, "n_items": 500}
FLAT_HEAD = {**LOG, "popularity_offset": 0.0}  # a steep head: popularity is a real, if weak, recommender


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory):
    return tmp_path_factory.mktemp("data")


def simulator_of(options: dict, data_dir) -> UserSimulator:
    settings = {key: value for key, value in options.items() if key != "log_sessions"}
    return UserSimulator(n_sessions=options["log_sessions"], data_dir=data_dir, **settings)


def test_no_recommendation_matches_the_logged_statistics(data_dir):
    n = 20_000
    result = evaluate_online(None, n_sessions=n, seed=0, data_dir=data_dir, **LOG)
    assert result["slate_click_share"] == 0.0 and result["n_sessions"] == n
    config = SyntheticConfig(n_sessions=n, n_items=LOG["n_items"])
    events = generate_events(config, seed=0)  # a log of the same world, as long as the simulation
    is_purchase = (events["event_type"] == EventType.PURCHASE).to_numpy()
    clicks = np.bincount(events["session_id"][~is_purchase], minlength=n)
    purchases = np.bincount(events["session_id"][is_purchase], minlength=n)
    for key, logged in (
        ("clicks_per_session", clicks),
        ("purchases_per_session", purchases),
        ("session_length", clicks + purchases),
    ):
        # both samples have n sessions and (under the claim) the same variance
        assert abs(result[key] - logged.mean()) < 4 * math.sqrt(2 * logged.var() / n), key
    logged_share = purchases.sum() / (clicks.sum() + purchases.sum())
    assert abs(result["purchase_share"] - logged_share) < 0.1 * config.purchase_rate
    assert result["return"] == pytest.approx(0.2 * result["clicks_per_session"] + 1.0 * result["purchases_per_session"])


def test_oracle_beats_popularity_beats_random_online(data_dir):
    simulator = simulator_of(FLAT_HEAD, data_dir)
    results = {
        name: evaluate_online(policy, n_sessions=10_000, seed=1, slate_size=20, data_dir=data_dir, **FLAT_HEAD)
        for name, policy in (
            ("random", RandomPolicy(simulator.n_items, seed=0)),
            ("popularity", PopularityPolicy(simulator.dataset)),
            ("oracle", OraclePolicy(simulator)),
        )
    }
    for better, worse in (("oracle", "popularity"), ("popularity", "random")):
        assert results[better]["return_ci95_low"] > results[worse]["return_ci95_high"], (better, worse)
        assert results[better]["slate_click_share"] > results[worse]["slate_click_share"]
    none = evaluate_online(None, n_sessions=10_000, seed=1, data_dir=data_dir, **FLAT_HEAD)
    oracle = results["oracle"]
    assert oracle["clicks_per_session"] > 1.1 * none["clicks_per_session"]  # a relevant slate raises clicks...
    assert oracle["purchases_per_session"] > 1.2 * none["purchases_per_session"]  # ... and purchases


@pytest.mark.parametrize("slate_size", [1, 5])
def test_evaluate_online_equals_the_env_session_by_session(data_dir, slate_size):
    n, seed = 150, 3
    env = RecOnlineEnv(slate_size=slate_size, data_dir=data_dir, n_sessions=LOG["log_sessions"], n_items=LOG["n_items"])
    for policy in (OraclePolicy(env.simulator), PopularityPolicy(env.simulator.dataset)):
        scorer = as_scorer(policy)
        returns, clicks, purchases, from_slate = [], 0, 0, 0
        for episode in range(n):
            observation, _ = env.reset(seed=seed) if episode == 0 else env.reset()
            total, done = [], False
            while not done:
                slate = top_k(scorer(observation[None]), slate_size)[0].numpy()
                observation, reward, done, _, info = env.step(slate[0] if slate_size == 1 else slate)
                total.append(reward)
                clicks, purchases, from_slate = (
                    clicks + 1,
                    purchases + info["purchased"],
                    from_slate + info["from_slate"],
                )
            returns.append(math.fsum(total))
        returns = np.array(returns)
        half_width = Z_95 * returns.std(ddof=1) / math.sqrt(n)
        result = evaluate_online(policy, n_sessions=n, seed=seed, slate_size=slate_size, data_dir=data_dir, **LOG)
        expected = {
            "return": returns.mean(),
            "return_ci95_low": returns.mean() - half_width,
            "return_ci95_high": returns.mean() + half_width,
            "clicks_per_session": clicks / n,
            "purchases_per_session": purchases / n,
            "session_length": (clicks + purchases) / n,
            "purchase_share": purchases / (clicks + purchases),
            "slate_click_share": from_slate / clicks,
            "n_sessions": n,
            "n_steps": clicks,
        }
        assert result == pytest.approx(expected, rel=1e-12)


def test_same_seed_same_result_and_errors(data_dir):
    policy = PopularityPolicy(recgym.load_dataset("synthetic", n_sessions=2000, n_items=500, data_dir=data_dir))
    first = evaluate_online(policy, n_sessions=300, seed=4, data_dir=data_dir, **LOG)
    assert evaluate_online(policy, n_sessions=300, seed=4, data_dir=data_dir, **LOG) == first
    assert evaluate_online(policy, n_sessions=300, seed=5, data_dir=data_dir, **LOG) != first
    with pytest.raises(ValueError, match="n_sessions must be a finite integer >= 2, got 1"):
        evaluate_online(policy, n_sessions=1, data_dir=data_dir, **LOG)
    with pytest.raises(ValueError, match="slate_size must be a finite integer >= 1, got 0"):
        evaluate_online(policy, slate_size=0, data_dir=data_dir, **LOG)
    with pytest.raises(TypeError, match="cannot score with str"):
        evaluate_online("popularity", n_sessions=10, data_dir=data_dir, **LOG)
    with pytest.raises(ValueError, match=r"scores of shape \(1, 3\), expected \(1, 500\)"):
        evaluate_online(lambda observations: torch.zeros(len(observations), 3), n_sessions=10, data_dir=data_dir, **LOG)
