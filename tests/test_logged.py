"""Logs written by a recommender: propensities that are the logger's true frequencies, the same users as an online
run, an MDP dataset aligned with the log, unbiased IPS on a reward whose truth is computed exactly, safe files."""

from __future__ import annotations

import math

import numpy as np
import pytest

from recgym import load_dataset
from recgym.cli import main
from recgym.data.slate_log import SlateLog
from recgym.errors import InvalidOptionError, RecgymDataError
from recgym.ope import slate_ips
from recgym.worlds import EpsilonGreedyLogger, SoftmaxLogger, log_sessions, logging_policy, make_world, play

SMALL = {"n_sessions": 400, "n_items": 60}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return make_world("myopic", data_dir=tmp_path_factory.mktemp("logged"), **SMALL)


@pytest.fixture(scope="module")
def log(world):
    return log_sessions(world, logging_policy("epsilon_greedy", epsilon=0.3), n_sessions=300, seed=4, slate_size=5)


def test_named_loggers_and_bad_options_are_one_line_errors():
    assert logging_policy("uniform") == EpsilonGreedyLogger(base="empty", epsilon=1.0)
    assert logging_policy("epsilon_greedy", epsilon=0.3).epsilon == 0.3
    with pytest.raises(InvalidOptionError, match="unknown logging policy 'random'; expected one of organic, "):
        logging_policy("random")
    with pytest.raises(InvalidOptionError, match="unknown logger option\\(s\\) temperature"):
        logging_policy("epsilon_greedy", temperature=2.0)
    with pytest.raises(InvalidOptionError, match="epsilon must be a finite number >= 0 and <= 1, got 1.5"):
        EpsilonGreedyLogger(epsilon=1.5)
    with pytest.raises(InvalidOptionError, match="unknown base ranking 'best'"):
        EpsilonGreedyLogger(base="best")
    assert logging_policy("softmax", temperature=0.5) == SoftmaxLogger(temperature=0.5)
    with pytest.raises(InvalidOptionError, match="temperature must be a finite number > 0, got 0"):
        SoftmaxLogger(temperature=0)
    with pytest.raises(InvalidOptionError, match="unknown logger option\\(s\\) epsilon"):
        logging_policy("softmax", epsilon=0.1)


def test_softmax_propensities_are_the_loggers_frequencies_and_the_tempered_oracle_values(world):
    """At the first step every user shares one state: each position's item frequencies match the logged propensity
    (4 binomial SDs), and the propensities are the noisy oracle's values to the power 1 / temperature, normalised."""
    n, k, temperature = 40_000, 3, 0.5
    logger = SoftmaxLogger(temperature=temperature, seed=3)
    sessions = world.start(9, np.arange(n))
    slates, propensities = logger(world, sessions, k)
    first = sessions.select(np.arange(1))
    probabilities = logger.probabilities(world, first)[0]
    errors = np.exp(np.random.default_rng(np.random.SeedSequence(3, spawn_key=(1,))).normal(size=world.n_items))
    tempered = (world.slate_values(first)[0] * errors) ** (1 / temperature)
    np.testing.assert_allclose(probabilities, tempered / tempered.sum(), rtol=1e-9)
    likely = np.argsort(-probabilities)[:3]
    for position in range(k):
        for item in likely:
            p = probabilities[item]
            frequency = (slates[:, position] == item).mean()
            assert abs(frequency - p) <= 4 * math.sqrt(p * (1 - p) / n)
        np.testing.assert_allclose(propensities[:, position], probabilities[slates[:, position]])
    # positions are independent: a pair's frequency is the product
    a, b = likely[:2]
    pair = ((slates[:, 0] == a) & (slates[:, 1] == b)).mean()
    assert abs(pair - probabilities[a] * probabilities[b]) <= 4 * math.sqrt(probabilities[a] * probabilities[b] / n)
    log = log_sessions(world, logger, n_sessions=50, seed=1, slate_size=4)
    assert log.card["logger"] == {"softmax": "noisy_oracle", "temperature": 0.5, "noise": 1.0, "seed": 3}
    assert (log.propensities > 0).all()


def test_propensities_are_the_loggers_frequencies(world):
    """Many users at their first step share one state, so one base slate: the frequency of each (item, position)
    and of a pair of positions matches the logged propensity (and their product), within 4 binomial SDs."""
    n, k, epsilon = 40_000, 3, 0.4
    logger = EpsilonGreedyLogger(epsilon=epsilon, seed=2)
    sessions = world.start(9, np.arange(n))
    slates, propensities = logger(world, sessions, k)
    base = logger.base_slates(world, sessions.select(np.arange(1)), k)[0]

    def check(frequency: float, probability: float) -> None:
        assert abs(frequency - probability) <= 4 * math.sqrt(probability * (1 - probability) / n) + 1e-12

    greedy = (1 - epsilon) + epsilon / world.n_items
    for position in range(k):
        shown = slates[:, position]
        check((shown == base[position]).mean(), greedy)
        other = next(item for item in range(world.n_items) if item not in base)
        check((shown == other).mean(), epsilon / world.n_items)
        np.testing.assert_allclose(propensities[shown == base[position], position], greedy)
        np.testing.assert_allclose(propensities[shown == other, position], epsilon / world.n_items)
    check(((slates[:, 0] == base[0]) & (slates[:, 1] == base[1])).mean(), greedy**2)
    empty = EpsilonGreedyLogger(base="empty", epsilon=epsilon)  # nothing shown unless explored
    slates, propensities = empty(world, sessions, k)
    check((slates[:, 0] == world.pad_id).mean(), 1 - epsilon)
    np.testing.assert_allclose(propensities[slates == world.pad_id], 1 - epsilon)


def test_the_log_is_the_online_run_of_its_logger(world, log):
    """The logger's users are the users of play() with the same seed: per-session returns agree exactly, and the
    organic logger replays the empty-slate run."""
    logger = logging_policy("epsilon_greedy", epsilon=0.3)
    online = play(world, lambda sessions, k: logger(world, sessions, k)[0], n_sessions=300, seed=4, slate_size=5)
    np.testing.assert_array_equal(np.bincount(log.session, weights=log.reward, minlength=300), online)
    organic = log_sessions(world, "organic", n_sessions=50, seed=1, slate_size=2)
    np.testing.assert_array_equal(
        np.bincount(organic.session, weights=organic.reward, minlength=50),
        play(world, None, n_sessions=50, seed=1, slate_size=2),
    )
    assert (organic.slates == world.pad_id).all() and (organic.propensities == 1).all()
    assert (organic.position == 0).all() and (log.position > 0).any()
    assert (np.diff(log.step)[np.diff(log.session) == 0] == 1).all()  # session-major, in step order


def test_the_dataset_rows_are_the_logged_steps(world, log):
    dataset = load_dataset(log, seed=3)
    assert dataset.item_index_fingerprint == world.dataset.item_index_fingerprint
    sizes = [dataset.split(name).n_sessions for name in ("train", "val", "test")]
    assert sizes == [240, 30, 30]
    clicks = purchases = 0
    for name in ("train", "val", "test"):
        split = dataset.split(name)
        click = split.event_types == 0
        for start, stop, session in zip(split.episode_starts[:-1], split.episode_starts[1:], split.session_ids):
            steps = np.flatnonzero(log.session == session)
            rows = np.arange(start, stop)
            # the clicks in step order, then one purchase row per bought click, in click order
            np.testing.assert_array_equal(split.actions[rows[: len(steps)]], log.clicked[steps])
            np.testing.assert_array_equal(split.actions[rows[len(steps) :]], log.clicked[steps][log.purchased[steps]])
            assert click[rows[: len(steps)]].all() and not click[rows[len(steps) :]].any()
            # a click row's state and slate are what the logger saw and showed
            np.testing.assert_array_equal(split.observations[rows[: len(steps)]], log.observations[steps])
            np.testing.assert_array_equal(split.slates[rows[: len(steps)]], log.slates[steps])
            np.testing.assert_array_equal(split.propensities[rows[: len(steps)]], log.propensities[steps])
        assert (split.slates[~click] == world.pad_id).all() and np.isnan(split.propensities[~click]).all()
        np.testing.assert_allclose(split.rewards, np.where(click, world.reward_click, world.reward_purchase))
        clicks, purchases = clicks + click.sum(), purchases + (~click).sum()
    assert (clicks, purchases) == (len(log), log.purchased.sum())
    assert dataset.stats()["logger"] == log.card["logger"]
    assert dataset.to_d3rlpy("train").transition_count == dataset.split("train").n_transitions


def test_slate_ips_on_the_log_is_unbiased_for_a_reward_that_decomposes_by_position(world):
    """With the logger's propensities, independent IPS recovers a target slate's exact value (within 4 standard errors)
    when a position's reward depends on its own item only (here a fixed reward table), far from the logger's own
    value."""
    k, epsilon = 3, 0.5
    logger = EpsilonGreedyLogger(base="popularity", epsilon=epsilon)
    sessions = world.start(5, np.arange(60_000))
    slates, propensities = logger(world, sessions, k)
    table = np.random.default_rng(0).random((world.n_items, k))  # reward of item i at position j
    rewards = table[slates, np.arange(k)]
    target = np.array([7, 11, 13])
    truth = table[target, np.arange(k)].sum()
    weighted = ((slates == target) / propensities * rewards).sum(axis=1)  # each episode's IIPS term
    estimate = slate_ips(rewards, (slates == target).astype(float), propensities)
    assert estimate.value == pytest.approx(weighted.mean())
    assert abs(estimate.value - truth) <= 4 * weighted.std() / math.sqrt(len(weighted))
    assert abs(rewards.sum(axis=1).mean() - truth) > 0.3  # the logger's own value is far from it


def test_callable_base_and_bad_base_output(world):
    popular = np.argsort(-world.dataset.item_popularity, kind="stable")[:4]

    def most_popular(observations, k):
        return np.broadcast_to(popular[:k], (len(observations), k))

    log = log_sessions(world, EpsilonGreedyLogger(base=most_popular, epsilon=0.0), n_sessions=20, slate_size=4)
    assert (log.slates == popular).all() and (log.propensities == 1).all()
    assert log.card["logger"]["base"] == "most_popular"
    with pytest.raises(InvalidOptionError, match="the base policy must return \\(20, 4\\) integer item ids"):
        log_sessions(world, EpsilonGreedyLogger(base=lambda o, k: np.zeros((len(o), 1), dtype=int)), n_sessions=20,
                     slate_size=4)  # fmt: skip
    with pytest.raises(InvalidOptionError, match="n_sessions must be a finite integer >= 1, got 0"):
        log_sessions(world, n_sessions=0)


def test_save_load_round_trip_and_a_damaged_file(world, log, tmp_path):
    path = log.save(tmp_path / "log.npz")
    assert log.save(tmp_path / "again.npz").read_bytes() == path.read_bytes()  # the same log, the same bytes
    loaded = SlateLog.load(path)
    for name in ("session", "slates", "propensities", "clicked", "purchased", "reward", "observations"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(log, name))
    assert loaded.card == log.card
    from_file = load_dataset(path)
    np.testing.assert_array_equal(from_file.split("test").actions, load_dataset(log).split("test").actions)
    assert from_file.load_arguments["dataset"] == str(path) and from_file.inputs[0]["name"] == "log.npz"
    (tmp_path / "again.npz").unlink()
    with pytest.raises(InvalidOptionError, match="unknown option\\(s\\) n_items for a slate log"):
        load_dataset(path, n_items=3)
    (tmp_path / "bad.npz").write_bytes(b"not a log")
    with pytest.raises(RecgymDataError, match="bad.npz: not a slate log written by SlateLog.save"):
        SlateLog.load(tmp_path / "bad.npz")


def test_cli_writes_a_log_and_refuses_bad_input_in_one_line(world, tmp_path, capsys):
    data_dir = world.dataset.cache_dir.parent.parent
    out = tmp_path / "log.npz"
    common = ["worlds", "log", "--world", "myopic", "--sessions", "30", "--slate-size", "4", "--data-dir", str(data_dir),
              "-o", "n_items=60", "-o", "n_sessions=400", "-q"]  # fmt: skip
    assert main([*common, "-l", "epsilon=0.2", "--out", str(out)]) == 0
    assert "30 sessions" in capsys.readouterr().out
    expected = log_sessions(world, logging_policy("epsilon_greedy", epsilon=0.2), n_sessions=30, slate_size=4)
    np.testing.assert_array_equal(SlateLog.load(out).propensities, expected.propensities)
    assert main([*common, "--logger", "greedy", "--out", str(tmp_path / "other.npz")]) == 2
    assert "unknown logging policy 'greedy'" in capsys.readouterr().err
    assert main(common) == 2
    assert "recgym worlds log needs --out FILE.npz" in capsys.readouterr().err
    assert sorted(path.name for path in tmp_path.iterdir()) == ["log.npz"]


def test_evaluate_reports_off_policy_estimates_equal_to_a_loop_over_the_log(world, log):
    """``ope/iips`` and ``ope/rips`` of a policy on a test split, against a plain loop over the logged click steps."""
    from recgym import evaluate
    from recgym.evaluation import PopularityPolicy

    dataset = load_dataset(log, seed=3)
    policy = PopularityPolicy(dataset)
    metrics = evaluate(policy, dataset, "test")
    slate = np.argsort(-dataset.item_popularity, kind="stable")[:5]  # the popularity policy's slate, every state
    test_sessions = set(dataset.split("test").session_ids.tolist())
    iips, rips, steps = 0.0, 0.0, 0
    for row in np.flatnonzero(np.isin(log.session, list(test_sessions))):
        steps += 1
        weights = [(slate[j] == log.slates[row, j]) / log.propensities[row, j] for j in range(5)]
        shown = [j for j in range(5) if log.slates[row, j] == log.clicked[row]]
        if shown:
            j = shown[0]
            iips += weights[j] * world.reward_click
            rips += np.prod(weights[: j + 1]) * world.reward_click
    assert metrics["ope/iips"] == pytest.approx(iips / steps)
    assert metrics["ope/rips"] == pytest.approx(rips / steps)
    assert "ope/iips" not in evaluate(policy, world.dataset, "test")  # organic logs have no propensities


def test_the_log_does_not_depend_on_the_chunk_size(world, log, monkeypatch):
    monkeypatch.setattr("recgym.worlds.logged.LOG_CHUNK_SESSIONS", 7)
    chunked = log_sessions(world, logging_policy("epsilon_greedy", epsilon=0.3), n_sessions=300, seed=4, slate_size=5)
    for name in ("session", "step", "slates", "propensities", "clicked", "reward"):
        np.testing.assert_array_equal(getattr(chunked, name), getattr(log, name))
