"""recgym.envs.simulator: the choice model against the user model, the dataset's item ids, Gymnasium conventions."""

from __future__ import annotations

import math
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import recgym
from recgym.data.schema import EventType
from recgym.data.synthetic import SyntheticConfig, SyntheticUserModel, generate_events
from recgym.envs import RecOnlineEnv
from recgym.envs.simulator import UserSimulator, _length_hazard

OPTIONS = {"n_sessions": 2000, "n_items": 400}
SPARSE = {"n_sessions": 2000, "n_items": 3000, "popularity_exponent": 2.0}  # tail items never logged: ids differ


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory):
    return tmp_path_factory.mktemp("data")


@pytest.fixture(scope="module")
def simulator(data_dir) -> UserSimulator:
    return UserSimulator(data_dir=data_dir, **OPTIONS)


@pytest.fixture(scope="module")
def sparse(data_dir) -> UserSimulator:
    return UserSimulator(data_dir=data_dir, **SPARSE)


def play(env: RecOnlineEnv, action, **reset) -> list[tuple]:
    """One episode with a fixed action: (observation, reward, info) per step, after the reset observation."""
    observation, _ = env.reset(**reset)
    steps, done = [(observation, 0.0, {})], False
    while not done:
        observation, reward, done, truncated, info = env.step(action)
        assert not truncated
        steps.append((observation, reward, info))
    return steps


def test_click_probabilities_are_the_models(sparse):
    rng = np.random.default_rng(0)
    model = SyntheticUserModel(SyntheticConfig(**SPARSE), seed=0)
    for length in (0, 1, 4, 10):
        history = rng.choice(sparse.raw_item_ids, length)
        observation = np.full((1, sparse.state_size), sparse.pad_id)
        observation[0, :length] = np.searchsorted(sparse.raw_item_ids, history)
        expected = model.click_probabilities(history)
        np.testing.assert_allclose(
            sparse.click_probabilities(observation)[0], expected[sparse.raw_item_ids], atol=1e-15
        )
        slate = rng.choice(sparse.raw_item_ids, (1, 7))
        at = sparse._probabilities_at(history.reshape(1, -1).astype(np.int64), slate)
        np.testing.assert_allclose(at[0], expected[slate[0]], atol=1e-15)


def test_length_hazard_gives_the_generators_lengths():
    config = SyntheticConfig(n_sessions=20_000, n_items=400)
    events = generate_events(config, seed=3)
    clicks = np.bincount(events["session_id"][events["event_type"] == EventType.CLICK], minlength=config.n_sessions)
    hazard = _length_hazard(config)
    survival = np.concatenate([[1.0], np.cumprod(1.0 - hazard)])[: len(hazard)]
    pmf = survival * hazard  # P(L = n), n = 0..max_session_clicks
    assert pmf.sum() == pytest.approx(1.0, abs=1e-9)
    empirical = np.bincount(clicks, minlength=len(pmf)) / len(clicks)
    assert np.abs(np.cumsum(pmf) - np.cumsum(empirical)).max() < 1.63 / math.sqrt(len(clicks))  # KS test at 1%
    mean = pmf @ np.arange(len(pmf))
    assert mean == pytest.approx(config.mean_clicks, rel=1e-3)
    assert abs(clicks.mean() - mean) < 4 * clicks.std() / math.sqrt(len(clicks))


def test_empty_slate_replays_the_generator(data_dir):
    """Env episodes with no recommendation have the logged sessions' length and purchase statistics."""
    env = RecOnlineEnv(slate_size=3, data_dir=data_dir, **OPTIONS)
    nothing = np.full(3, env.simulator.pad_id)
    clicks, purchases = [], []
    for episode in range(1500):
        steps = play(env, nothing, **({"seed": 0} if episode == 0 else {}))
        assert not any(info["from_slate"] for _, _, info in steps[1:])
        clicks.append(len(steps) - 1)
        purchases.append(sum(info["purchased"] for _, _, info in steps[1:]))
    events = generate_events(SyntheticConfig(**OPTIONS), seed=0)
    is_purchase = (events["event_type"] == EventType.PURCHASE).to_numpy()
    logged_clicks = np.bincount(events["session_id"][~is_purchase])
    logged_purchases = np.bincount(events["session_id"][is_purchase], minlength=len(logged_clicks))
    for simulated, logged in ((np.array(clicks), logged_clicks), (np.array(purchases), logged_purchases)):
        error = math.sqrt(simulated.var() / len(simulated) + logged.var() / len(logged))
        assert abs(simulated.mean() - logged.mean()) < 4 * error


def test_slate_click_follows_the_choice_model(sparse):
    """At the first step a one-item slate is clicked with w / (1 + w), w = base weight of the item's generator id."""
    assert not np.array_equal(sparse.raw_item_ids, np.arange(sparse.n_items))  # the mapping matters here
    item = int(np.argmax(sparse.model.base_weight[sparse.raw_item_ids]))
    n = 40_000
    outcome, _ = sparse.step(sparse.start(0, np.arange(n)), np.full((n, 1), item))
    weight = sparse.model.base_weight[sparse.raw_item_ids[item]]
    expected = weight / (1 + weight)
    assert abs(outcome.from_slate.mean() - expected) < 4 * math.sqrt(expected * (1 - expected) / n)
    assert (outcome.clicked[outcome.from_slate] == item).all() and (outcome.position[outcome.from_slate] == 1).all()
    assert outcome.from_slate.sum() > 0


def test_clicks_speak_the_datasets_item_ids(data_dir, sparse):
    """Simulated clicks per dataset id follow the logged clicks of the dataset with the same options."""
    dataset = recgym.load_dataset("synthetic", data_dir=data_dir, **SPARSE)
    np.testing.assert_array_equal(sparse.raw_item_ids, dataset.raw_item_ids)
    assert sparse.pad_id == dataset.pad_id == dataset.n_items < SPARSE["n_items"]
    sessions, counts = sparse.start(1, np.arange(5000)), np.zeros(sparse.n_items)
    while len(sessions):
        outcome, after = sparse.step(sessions, np.zeros((len(sessions), 0), dtype=np.int64))
        assert ((outcome.clicked >= 0) & (outcome.clicked < sparse.n_items)).all()
        counts += np.bincount(outcome.clicked, minlength=sparse.n_items)
        sessions = after.select(~outcome.done)
    logged = np.zeros(dataset.n_items)
    for name in ("train", "val", "test"):
        split = dataset.split(name)
        logged += np.bincount(split.actions[split.event_types == EventType.CLICK], minlength=dataset.n_items)
    assert np.corrcoef(counts, logged)[0, 1] > 0.9
    # the observation after a click lists the clicked dataset ids, oldest first, as the dataset's states
    env = RecOnlineEnv(data_dir=data_dir, **SPARSE)
    steps = play(env, 0, seed=5)
    clicked = [info["clicked_item"] for _, _, info in steps[1:]]
    for t, (observation, _, _) in enumerate(steps):
        recent = clicked[max(0, t - env.simulator.state_size) : t]
        np.testing.assert_array_equal(observation[: len(recent)], recent)
        assert (observation[len(recent) :] == env.simulator.pad_id).all()


def test_same_seed_same_episodes_and_session_index(data_dir):
    env = RecOnlineEnv(slate_size=5, data_dir=data_dir, **OPTIONS)
    slate = np.arange(5)
    first = [play(env, slate, **({"seed": 7} if i == 0 else {})) for i in range(4)]
    again = [play(env, slate, **({"seed": 7} if i == 0 else {})) for i in range(4)]
    other = [play(env, slate, **({"seed": 8} if i == 0 else {})) for i in range(4)]

    def flatten(episodes):
        return [(obs.tolist(), reward, sorted(info.items())) for steps in episodes for obs, reward, info in steps]

    assert flatten(first) == flatten(again) != flatten(other)
    assert flatten([play(env, slate, seed=7, options={"session_index": 2})]) == flatten(first[2:3])
    assert flatten([play(env, slate)]) == flatten(first[3:4])  # continues after the chosen session


def test_rewards_are_the_per_event_rewards(data_dir):
    env = RecOnlineEnv(slate_size=4, reward_click=0.5, reward_purchase=3.0, data_dir=data_dir, **OPTIONS)
    oracle = recgym.evaluation.OraclePolicy(env.simulator)
    observation, _ = env.reset(seed=0)
    total, clicks, purchases, from_slate = [], 0, 0, 0
    for _ in range(400):
        slate = np.argsort(-oracle.scores(observation[None])[0], kind="stable")[:4]
        observation, reward, terminated, _, info = env.step(slate)
        total.append(reward)
        clicks += 1
        purchases += info["purchased"]
        from_slate += info["from_slate"]
        assert reward == 0.5 + 3.0 * info["purchased"]
        assert info["from_slate"] == (info["slate_position"] > 0)
        if info["from_slate"]:
            assert info["clicked_item"] == slate[info["slate_position"] - 1]
        if terminated:
            observation, _ = env.reset()
    assert math.fsum(total) == pytest.approx(0.5 * clicks + 3.0 * purchases)
    assert purchases > 0 and from_slate > 0


def test_check_env_make_and_make_vec(data_dir):
    env = gym.make("RecOnline-Synthetic", slate_size=3, data_dir=data_dir, **OPTIONS)
    assert isinstance(env.unwrapped, RecOnlineEnv)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env.unwrapped, skip_render_check=True)
    assert env.observation_space.shape == (10,) and env.action_space.nvec.tolist() == [400] * 3
    vec = gym.make_vec("RecOnline-Synthetic", num_envs=2, vectorization_mode="sync", data_dir=data_dir, **OPTIONS)
    observations, _ = vec.reset(seed=0)
    assert observations.shape == (2, 10) and (observations == 400).all()
    ended = np.zeros(2, dtype=bool)
    for _ in range(40):
        observations, rewards, terminated, truncated, infos = vec.step(np.array([1, 2]))
        assert observations.shape == (2, 10) and rewards.shape == (2,)
        np.testing.assert_array_equal(rewards >= 0.2 - 1e-9, ~ended)  # the step after an episode's end resets it
        ended = terminated | truncated
    vec.close()


def test_bad_actions_and_options(data_dir, simulator):
    env = RecOnlineEnv(slate_size=3, data_dir=data_dir, **OPTIONS)
    env.reset(seed=0)
    for action, fragment in (
        (np.array([1, 2, 401]), "got 401"),
        (np.array([1, -3, 2]), "got -3"),
        (np.array([1, 2]), "shape (3,)"),
        (np.array([0.5, 1.0, 2.0]), "integer item ids"),
        (True, "integer item id"),
    ):
        with pytest.raises(ValueError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
            env.step(action)
    with pytest.raises(RuntimeError, match="call reset"):
        RecOnlineEnv(data_dir=data_dir, **OPTIONS).step(0)
    with pytest.raises(ValueError, match="slate_size must be a finite integer >= 1, got 0"):
        RecOnlineEnv(slate_size=0, data_dir=data_dir, **OPTIONS)
    with pytest.raises(ValueError, match="slate_attention must be a finite number >= 0, got -1"):
        UserSimulator(slate_attention=-1, data_dir=data_dir, **OPTIONS)
    with pytest.raises(recgym.InvalidOptionError, match="n_itemz"):
        UserSimulator(n_itemz=3, data_dir=data_dir)
    with pytest.raises(ValueError, match="session_index must be a finite integer >= 0, got -1"):
        env.reset(options={"session_index": -1})
    with pytest.raises(ValueError, match="seed must be a finite integer"):
        simulator.start(-1, np.arange(2))
