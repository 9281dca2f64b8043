"""recgym.envs: replay semantics, agreement with recgym.evaluate, Gymnasium conventions, errors."""

from __future__ import annotations

import math
import warnings

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

import recgym
from recgym.datasets import load_dataset
from recgym.envs import RecReplayEnv
from recgym.evaluation.offline import PopularityPolicy
from recgym.ranking import top_k

N_ITEMS = 400


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory):
    return tmp_path_factory.mktemp("data")


@pytest.fixture(scope="module")
def synthetic(data_dir):
    return load_dataset("synthetic", n_sessions=2000, n_items=N_ITEMS, data_dir=data_dir)


class LinearScorer:
    """A fixed random linear scorer: mean embedding of the observed items times an output matrix."""

    def __init__(self, n_items: int, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.embeddings = torch.as_tensor(rng.normal(size=(n_items + 1, 8)), dtype=torch.float32)
        self.output = torch.as_tensor(rng.normal(size=(n_items, 8)), dtype=torch.float32)

    def scores(self, observations: np.ndarray) -> torch.Tensor:
        return self.embeddings[torch.as_tensor(observations)].mean(dim=1) @ self.output.T


def replay_split(env: RecReplayEnv, policy, k: int) -> tuple[float, int]:
    """Plays every session once with the policy's top-k slate; returns the summed reward and the number of steps."""
    total, steps = [], 0
    for episode in range(env.n_sessions):
        observation, _ = env.reset(seed=0) if episode == 0 else env.reset()
        terminated = False
        while not terminated:
            slate = top_k(policy.scores(observation[None]), k)[0].numpy()
            observation, reward, terminated, truncated, _ = env.step(slate[0] if k == 1 else slate)
            total.append(reward)
            steps += 1
    return math.fsum(total), steps


@pytest.mark.parametrize("k", [1, 20])
@pytest.mark.parametrize("policy_name", ["popularity", "linear"])
def test_env_return_equals_evaluate_reward(synthetic, k: int, policy_name: str) -> None:
    policy = PopularityPolicy(synthetic) if policy_name == "popularity" else LinearScorer(synthetic.n_items)
    env = RecReplayEnv(synthetic, slate_size=k)
    total, steps = replay_split(env, policy, k)
    metrics = recgym.evaluate(policy, synthetic, ks=(k,))
    assert steps == metrics["n_events"] == synthetic.split("val").n_transitions
    assert metrics[f"reward@{k}"] > 0
    assert total == metrics[f"reward@{k}"]


def test_episode_replays_the_logged_session(synthetic) -> None:
    val = synthetic.split("val")
    env = RecReplayEnv(synthetic, slate_size=3)
    observation, info = env.reset(options={"session_index": 5})
    start, stop = val.episode_starts[5], val.episode_starts[6]
    assert info == {"session_index": 5, "session_id": int(val.session_ids[5])}
    assert env.observation_space.contains(observation)
    for row in range(start, stop):
        assert np.array_equal(observation, val.observations[row])
        logged = int(val.actions[row])
        slate = np.array([(logged + 1) % N_ITEMS, logged, logged])
        observation, reward, terminated, truncated, info = env.step(slate)
        assert np.array_equal(observation, val.next_observations[row]) and observation.dtype == np.int64
        assert reward == float(val.rewards[row]) and terminated == (row == stop - 1) and not truncated
        assert info["logged_item"] == logged and info["rank"] == 2 and info["hit"]
        assert info["event_type"] == int(val.event_types[row])
    with pytest.raises(RuntimeError, match="reset"):
        env.step(np.array([0, 1, 2]))
    env.reset(options={"session_index": 5})
    _, reward, _, _, info = env.step(np.array([(int(val.actions[start]) + 1) % N_ITEMS] * 3))
    assert (reward, info["hit"], info["rank"]) == (0.0, False, 0)


def test_reward_overrides_follow_the_event_type(synthetic) -> None:
    val = synthetic.split("val")
    env = RecReplayEnv(synthetic, reward_click=-1.0, reward_purchase=5.0)
    purchase_row = int(np.flatnonzero(val.event_types == recgym.EventType.PURCHASE)[0])
    session = int(np.searchsorted(val.episode_starts, purchase_row, side="right") - 1)
    env.reset(options={"session_index": session})
    rewards = [env.step(int(val.actions[row]))[1] for row in range(val.episode_starts[session], purchase_row + 1)]
    assert rewards == [-1.0] * (len(rewards) - 1) + [5.0]


def test_session_orders_and_reset_determinism(synthetic) -> None:
    env = RecReplayEnv(synthetic, max_sessions=4)
    assert env.n_sessions == 4
    order = [env.reset(seed=3)[1]["session_index"]] + [env.reset()[1]["session_index"] for _ in range(5)]
    assert order == [0, 1, 2, 3, 0, 1]
    shuffled = RecReplayEnv(synthetic, session_order="shuffle")

    def sessions(seed: int) -> list[int]:
        return [shuffled.reset(seed=seed)[1]["session_id"]] + [shuffled.reset()[1]["session_id"] for _ in range(30)]

    first = sessions(7)
    assert sessions(7) == first and sessions(8) != first
    assert len(set(first)) == len(first)


def test_check_env_passes(synthetic) -> None:
    for slate_size in (1, 5):
        check_env(RecReplayEnv(synthetic, slate_size=slate_size, session_order="shuffle"), skip_render_check=True)


def test_gym_make_and_make_vec(data_dir) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        env = gym.make("RecReplay-Synthetic", data_dir=data_dir, n_sessions=1500, n_items=200, slate_size=10)
        observation, _ = env.reset(seed=0)
        env.step(env.action_space.sample())
    assert env.unwrapped.n_sessions == env.unwrapped.dataset.split("val").n_sessions
    assert env.observation_space == gym.spaces.Box(0, env.unwrapped.dataset.n_items, (10,), np.int64)
    vec = gym.make_vec(
        "RecReplay-Synthetic", num_envs=2, vectorization_mode="sync", data_dir=data_dir, n_sessions=1500, n_items=200
    )
    observations, _ = vec.reset(seed=0)
    assert observations.shape == (2, 10)
    for _ in range(20):
        observations, rewards, terminated, truncated, infos = vec.step(vec.action_space.sample())
    assert observations.shape == (2, 10) and rewards.shape == (2,)
    vec.close()


def test_gym_make_takes_a_loaded_dataset(synthetic) -> None:
    env = gym.make("RecReplay-Synthetic", dataset=synthetic, split="test")
    assert env.unwrapped.dataset is synthetic
    assert env.unwrapped.n_sessions == synthetic.split("test").n_sessions


def test_synthetic_id_defaults_to_20000_sessions(data_dir, monkeypatch) -> None:
    from recgym.envs import registration

    loaded = {}
    monkeypatch.setattr(registration, "RecReplayEnv", lambda dataset, **kwargs: loaded.update(kwargs, dataset=dataset))
    registration.make_synthetic_env(data_dir=data_dir)
    assert loaded == {"dataset": "synthetic", "data_dir": data_dir, "n_sessions": 20_000}


def test_missing_raw_files_surface_as_dataset_not_found(tmp_path) -> None:
    with pytest.raises(recgym.DatasetNotFoundError, match=r"yoochoose-clicks\.dat.*rc15\.md"):
        gym.make("RecReplay-RC15", data_dir=tmp_path)
    with pytest.raises(recgym.DatasetNotFoundError, match=r"events\.csv.*retailrocket\.md"):
        gym.make("RecReplay-RetailRocket", data_dir=tmp_path)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"split": "validation"}, "split must be one of"),
        ({"slate_size": 0}, "slate_size must be a finite integer >= 1, got 0"),
        ({"slate_size": 2.0}, "slate_size must be a finite integer"),
        ({"slate_size": N_ITEMS + 1}, r"slate_size \(catalogue of \d+ items\) must be a finite integer <= "),
        ({"session_order": "random"}, "session_order must be one of"),
        ({"max_sessions": 0}, "max_sessions must be a finite integer >= 1"),
        ({"state_size": 5}, "differs from the dataset's state_size=10"),
        ({"reward_click": math.nan}, "reward_click must be a finite number"),
        ({"reward_purchase": "1"}, "reward_purchase must be a finite number"),
        ({"render_mode": "human"}, "no render modes"),
        ({"n_items": 10}, "apply only when dataset is a name"),
    ],
)
def test_bad_kwargs_raise(synthetic, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RecReplayEnv(synthetic, **kwargs)


def test_bad_dataset_options_raise(data_dir) -> None:
    with pytest.raises(ValueError, match="n_session"):
        RecReplayEnv("synthetic", data_dir=data_dir, n_session=10)


@pytest.mark.parametrize(
    "slate_size,action,message",
    [
        (1, -1, "in \\[0, 400\\), got -1"),
        (1, N_ITEMS, "got 400"),
        (1, 2.0, "integer item ids, got 2.0"),
        (1, np.float32(3), "integer item ids"),
        (1, math.nan, "got nan"),
        (1, True, "got True"),
        (1, "7", "got '7'"),
        (1, np.array([3]), "shape \\(\\)"),
        (3, np.array([1, 2]), "shape \\(3,\\)"),
        (3, np.array([1.0, 2.0, 3.0]), "integer item ids"),
        (3, np.array([1, 2, N_ITEMS]), "in \\[0, 400\\)"),
        (3, 5, "a slate of 3 item ids"),
    ],
)
def test_bad_actions_raise(synthetic, slate_size: int, action, message: str) -> None:
    env = RecReplayEnv(synthetic, slate_size=slate_size)
    env.reset()
    with pytest.raises(ValueError, match=message):
        env.step(action)


def test_the_split_replayed_and_the_split_mode_are_two_options(tmp_path) -> None:
    """``split`` names the split the env replays; ``split_mode`` (how sessions are split) goes to load_dataset."""
    options = {"n_sessions": 300, "n_items": 40, "data_dir": tmp_path}
    env = gym.make("RecReplay-Synthetic", split="val", split_mode="temporal", **options)
    expected = recgym.load_dataset("synthetic", split_mode="temporal", **options).split("val")
    assert env.unwrapped.n_sessions == expected.n_sessions
    observation, _ = env.reset(options={"session_index": 0})
    np.testing.assert_array_equal(observation, expected.observations[0])
