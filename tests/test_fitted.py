"""Worlds fitted to a log: the fitted chain reproduces the log's transition counts, the simulated users follow it, its
session lengths and purchase rates; safe files; the calibration report; one-line errors."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch

from recgym import load_dataset
from recgym.cli import main
from recgym.errors import InvalidOptionError, RecgymDataError, RecgymError
from recgym.worlds import MyopicOraclePolicy, calibrate, fit_world, headroom, load_world, play


def toy_log(n_sessions: int = 400, seed: int = 0) -> pd.DataFrame:
    """Sessions that walk a known chain over items 10..15, with purchases of item 12 only."""
    rng = np.random.default_rng(seed)
    rows, t = [], 0
    for session in range(n_sessions):
        item = int(rng.choice([10, 11]))
        for _ in range(int(rng.integers(2, 7))):
            rows.append((session, item, t, "click"))
            t += 1
            if item == 12 and rng.random() < 0.5:
                rows.append((session, item, t, "purchase"))
                t += 1
            item = 10 + (item - 10 + int(rng.choice([1, 2]))) % 6
    return pd.DataFrame(rows, columns=["session_id", "item_id", "timestamp", "event_type"])


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return load_dataset(toy_log(), data_dir=tmp_path_factory.mktemp("fitted"))


def train_transitions(dataset) -> np.ndarray:
    """(n, n) counts of consecutive train clicks, by a plain loop."""
    train, counts = dataset.split("train"), np.zeros((dataset.n_items, dataset.n_items))
    for start, stop in zip(train.episode_starts[:-1], train.episode_starts[1:]):
        clicks = [int(a) for a, kind in zip(train.actions[start:stop], train.event_types[start:stop]) if kind == 0]
        for a, b in zip(clicks[:-1], clicks[1:]):
            counts[a, b] += 1
    return counts


def test_the_fitted_chain_is_the_logs_transition_counts(dataset):
    counts = train_transitions(dataset)
    world = fit_world(dataset, smoothing=1e-9)
    np.testing.assert_array_equal(world.counts.toarray(), counts)
    seen = counts.sum(axis=1) > 0
    items = np.flatnonzero(seen)
    probabilities = world.next_click_probabilities(items, np.ones(len(items), dtype=bool))
    np.testing.assert_allclose(probabilities, counts[items] / counts[items].sum(axis=1, keepdims=True), atol=1e-6)
    smoothed = fit_world(dataset, smoothing=2.0).next_click_probabilities(items, np.ones(len(items), dtype=bool))
    np.testing.assert_allclose(smoothed.sum(axis=1), 1.0)
    assert (smoothed > 0).all()  # every item keeps a positive probability


def test_simulated_users_follow_the_chain_lengths_and_purchases(dataset):
    """Monte Carlo: organic transitions, clicks per session and purchases per click of 20,000 simulated sessions
    against the fitted model's exact values, within 4 standard errors."""
    world = fit_world(dataset, smoothing=0.5)
    n = 20_000
    sessions, clicks, bought, owners, transitions = world.start(3, np.arange(n)), [], [], [], []
    empty = np.zeros((n, 0), dtype=np.int64)
    while len(sessions):
        outcome, after = world.step(sessions, empty[: len(sessions)])
        if sessions.history.shape[1]:
            transitions.append(np.stack([sessions.history[:, -1], outcome.clicked], axis=1))
        clicks.append(outcome.clicked)
        bought.append(outcome.purchased)
        owners.append(sessions.index)
        sessions = after.select(~outcome.done)
    pairs = np.concatenate(transitions)
    source = int(np.bincount(pairs[:, 0]).argmax())
    expected = world.next_click_probabilities(np.array([source]), np.array([True]))[0]
    observed = np.bincount(pairs[pairs[:, 0] == source, 1], minlength=world.n_items)
    total = observed.sum()
    assert np.all(np.abs(observed / total - expected) <= 4 * np.sqrt(expected * (1 - expected) / total) + 1e-9)
    # clicks per session: E[L] = sum over n >= 1 of P(L >= n), from the fitted hazard
    reach = np.concatenate([[1.0], np.cumprod(1 - world.hazard[1:-1])])  # P(L >= n) for n = 1..max
    lengths = np.bincount(np.concatenate(owners), minlength=n)
    assert abs(lengths.mean() - reach.sum()) <= 4 * lengths.std() / math.sqrt(n)
    train = dataset.split("train")
    train_lengths = np.bincount(np.repeat(np.arange(train.n_sessions), np.diff(train.episode_starts))[
        train.event_types == 0])  # fmt: skip
    assert reach.sum() == pytest.approx(train_lengths.mean())  # the hazard is the train lengths' own
    all_clicks, all_bought = np.concatenate(clicks), np.concatenate(bought)
    rate = world.purchase[all_clicks].mean()
    assert abs(all_bought.mean() - rate) <= 4 * math.sqrt(rate * (1 - rate) / len(all_clicks))
    assert all_bought[all_clicks != dataset.raw_item_ids.tolist().index(12)].mean() < all_bought.mean()


def test_the_worlds_policies_run_in_a_fitted_world(dataset):
    world = fit_world(dataset)
    oracle = play(world, MyopicOraclePolicy(world), n_sessions=300, seed=1, slate_size=2)
    empty = play(world, None, n_sessions=300, seed=1, slate_size=2)
    assert oracle.mean() > empty.mean()  # slate clicks are extra clicks: showing the likely next items pays
    report = headroom(world, n_sessions=50, slate_size=2, planner={"candidates": 2, "rollouts": 2, "horizon": 2})
    assert report["myopic"] == pytest.approx(play(world, MyopicOraclePolicy(world), n_sessions=50, seed=0,
                                                  slate_size=2).mean())  # fmt: skip


def test_a_recommender_logs_in_a_fitted_world_and_the_benchmark_evaluates_in_it(dataset, tmp_path, one_thread):
    """A slate log written in a world fitted to a log: its propensities are the logger's, its dataset speaks the
    fitted world's item index, and a benchmark on it evaluates online in that world (given by its file)."""
    from recgym.benchmark import BenchmarkError, run_benchmark
    from recgym.worlds import log_sessions, logging_policy

    world = fit_world(dataset)
    path = world.save(tmp_path / "world.npz")
    log = log_sessions(world, logging_policy("epsilon_greedy", epsilon=0.5), n_sessions=200, seed=2, slate_size=2)
    assert log.card["world"]["options"] == {"fitted": True, **world.settings}
    greedy = log.slates == logging_policy("epsilon_greedy").base_slates(world, world.start(2, np.arange(1)), 2)[0]
    first = log.observations[:, 0] == world.pad_id  # the first step of every session: one state, one base slate
    np.testing.assert_allclose(log.propensities[first & greedy[:, 0]][:, 0], 0.5 + 0.5 / world.n_items)
    logged = load_dataset(log.save(tmp_path / "log.npz"))
    assert logged.item_index_fingerprint == world.item_index_fingerprint == dataset.item_index_fingerprint
    settings = {"seeds": 1, "steps": 1, "eval_every": 1, "progress": False, "online": 20}
    with pytest.raises(BenchmarkError, match="written in a world fitted to a log: give that world's file with --world"):
        run_benchmark(tmp_path / "log.npz", ["popularity"], out=tmp_path / "a", **settings)
    result = run_benchmark(tmp_path / "log.npz", ["popularity"], out=tmp_path / "b", world=path, **settings)
    assert result.table["online/return"].notna().all()
    # the same from the command line: recgym worlds log --world FILE
    out = tmp_path / "cli.npz"
    assert main(["worlds", "log", "--world", str(path), "--sessions", "200", "--seed", "2", "--slate-size", "2",
                 "-l", "epsilon=0.5", "--out", str(out), "-q"]) == 0  # fmt: skip
    np.testing.assert_array_equal(load_dataset(out).split("train").actions, logged.split("train").actions)
    assert main(["worlds", "log", "--world", str(path), "-o", "n_items=5", "--out", str(out), "-q"]) == 2


def test_save_load_round_trip_and_refusals(dataset, tmp_path):
    world = fit_world(dataset, smoothing=0.3)
    path = world.save(tmp_path / "world.npz")
    loaded = load_world(path, dataset)
    np.testing.assert_array_equal(loaded.counts.toarray(), world.counts.toarray())
    assert loaded.settings == world.settings
    sessions = world.start(0, np.arange(50))
    outcome, _ = world.step(sessions, np.zeros((50, 1), dtype=np.int64))
    again, _ = loaded.step(loaded.start(0, np.arange(50)), np.zeros((50, 1), dtype=np.int64))
    np.testing.assert_array_equal(outcome.clicked, again.clicked)
    other = load_dataset(toy_log(seed=5).assign(item_id=lambda frame: frame.item_id + 100), data_dir=tmp_path)
    with pytest.raises(InvalidOptionError, match="was fitted to another item index"):
        load_world(path, other)
    (tmp_path / "bad.npz").write_bytes(b"random bytes")
    with pytest.raises(RecgymDataError, match="bad.npz: not a fitted world"):
        load_world(tmp_path / "bad.npz")


def test_a_log_too_small_to_fit_is_one_line(tmp_path):
    small = load_dataset(toy_log(n_sessions=12), data_dir=tmp_path)
    with pytest.raises(RecgymDataError, match="the train split has 9 sessions with clicks; fitting a world needs"):
        fit_world(small)
    with pytest.raises(InvalidOptionError, match="smoothing must be a finite number > 0"):
        fit_world(small, smoothing=0)


def test_calibrate_scores_the_click_model_by_hand(dataset):
    world = fit_world(dataset)
    report = calibrate(dataset, world, k=2)
    test = dataset.split("test")
    nll, hits, count = 0.0, 0, 0
    for start, stop in zip(test.episode_starts[:-1], test.episode_starts[1:]):
        clicks = [int(a) for a, kind in zip(test.actions[start:stop], test.event_types[start:stop]) if kind == 0]
        for index, item in enumerate(clicks):
            started = np.array([index > 0])
            p = world.next_click_probabilities(np.array([clicks[index - 1] if index else 0]), started)[0]
            nll -= math.log(p[item])
            hits += item in np.argsort(-p, kind="stable")[:2]
            count += 1
    assert report["click_model"]["nll"] == pytest.approx(nll / count)
    assert report["click_model"]["hr@2"] == pytest.approx(hits / count)
    assert report["sessions"]["real"] == report["sessions"]["simulated"] == test.n_sessions
    assert 0 <= report["session_length"]["p_value"] <= 1 and report["purchase_rate"]["real"] > 0


def test_cli_calibrate_writes_the_report_and_the_world(dataset, tmp_path, capsys):
    log = tmp_path / "log.csv"
    toy_log().to_csv(log, index=False)
    out = tmp_path / "out"
    assert main(["calibrate", str(log), "--data-dir", str(tmp_path / "data"), "--out", str(out), "-q"]) == 0
    assert "Click model (Markov chain, smoothing 1) on the test split" in capsys.readouterr().out
    assert sorted(path.name for path in out.iterdir()) == [
        "calibration.json", "calibration.md", "calibration.png", "world.npz"
    ]  # fmt: skip
    assert json.loads((out / "calibration.json").read_text())["sessions"]["real"] > 0
    assert main(["calibrate", str(log), "--data-dir", str(tmp_path / "data"), "--out", str(tmp_path / "x"),
                 "--smoothing", "-1", "-q"]) == 2  # fmt: skip
    assert "smoothing must be" in capsys.readouterr().err and not (tmp_path / "x").exists()
    sequence = [
        "--click-model",
        "sasrec",
        "--click-steps",
        "20",
        "--click-seed",
        "7",
        "--out",
        str(tmp_path / "s"),
        "-q",
    ]
    assert main(["calibrate", str(log), "--data-dir", str(tmp_path / "data"), *sequence]) == 0
    assert "Click model (SASRec, 20 updates, seed 7) on the test split" in capsys.readouterr().out
    assert load_world(tmp_path / "s" / "world.npz").settings["click_model"] == "sasrec"


def test_fit_and_calibrate_on_the_real_rc15_clicks_sample(shared_data, tmp_path):
    sample = shared_data / "rc15-clicks-100k" / "yoochoose-clicks-100k_train_full.txt"
    columns = {"session_id": "SessionId", "item_id": "ItemId", "timestamp": "Time"}
    dataset = load_dataset(sample, columns=columns, timestamp_unit="s", data_dir=tmp_path)
    world = fit_world(dataset)
    report = calibrate(dataset, world)
    assert report["sessions"]["real"] == dataset.split("test").n_sessions
    assert 0 < report["click_model"]["hr@20"] < 1 and math.isfinite(report["click_model"]["nll"])
    assert report["purchase_rate"]["real"] == report["purchase_rate"]["simulated"] == 0  # a clicks-only log


# --- the sequence click model -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sequence_world(dataset, one_thread):
    return fit_world(dataset, click_model="sasrec", click_steps=60, click_seed=1)


def model_softmax(world, states: np.ndarray) -> np.ndarray:
    """The click model's softmax over its own ``scores``, by torch directly."""
    with torch.no_grad():
        scores = torch.as_tensor(world.sequence_model.scores(states)).double()
    return torch.softmax(scores, dim=1).numpy()


def test_the_sequence_world_clicks_by_the_models_softmax_of_the_session(dataset, sequence_world):
    """Monte Carlo: the first click (the empty state) and a slate's click shares of 20,000 simulated sessions against
    the model's exact probabilities and the choice model's w_j / (1 + sum w), within 4 standard errors."""
    world, n = sequence_world, 20_000
    empty_state = np.full((1, world.state_size), world.pad_id)
    expected = model_softmax(world, empty_state)[0]
    np.testing.assert_allclose(world.click_probabilities(empty_state)[0], expected, rtol=1e-12)
    assert world.sequence_model.predict(empty_state)[0] == expected.argmax()
    sessions = world.start(5, np.arange(n))
    outcome, after = world.step(sessions, np.zeros((n, 0), dtype=np.int64))
    observed = np.bincount(outcome.clicked, minlength=world.n_items) / n
    assert np.all(np.abs(observed - expected) <= 4 * np.sqrt(expected * (1 - expected) / n) + 1e-9)
    # one step later every session shows the same two items; P(position j) = w_j / (1 + w_1 + w_2)
    first = int(np.bincount(outcome.clicked).argmax())
    alike = after.select(outcome.clicked == first)
    states = world.observations(alike)
    assert (states[:, 0] == first).all() and (states[:, 1:] == world.pad_id).all()
    p = model_softmax(world, states[:1])[0]
    slate = np.argsort(-p, kind="stable")[:2]
    weights = np.array([p[slate[0]], p[slate[1]] / 2])  # slate_attention 1, position exponent 1
    shares = np.bincount(world.step(alike, np.tile(slate, (len(alike), 1)))[0].position, minlength=3) / len(alike)
    chosen = weights / (1 + weights.sum())
    bound = 4 * np.sqrt(chosen * (1 - chosen) / len(alike))
    assert np.all(np.abs(shares[1:] - chosen) <= bound), (shares, chosen)


def test_a_sequence_world_round_trips_and_refuses_damage(dataset, sequence_world, tmp_path):
    path = sequence_world.save(tmp_path / "world.npz")
    loaded = load_world(path, dataset)
    assert loaded.settings == sequence_world.settings and loaded.settings["click_model"] == "sasrec"
    states = dataset.split("test").observations[:50]
    np.testing.assert_array_equal(loaded.click_probabilities(states), sequence_world.click_probabilities(states))
    with np.load(path) as data:
        arrays = {name: data[name] for name in data.files}
    flipped = arrays["click_model"].copy()
    flipped[-200] ^= 1  # a bit in the weights
    np.savez(tmp_path / "flipped.npz", **{**arrays, "click_model": flipped})
    with pytest.raises(RecgymError, match=r"flipped.npz \(its click model\)"):
        load_world(tmp_path / "flipped.npz")
    np.savez(tmp_path / "dropped.npz", **{name: a for name, a in arrays.items() if name != "click_model"})
    with pytest.raises(RecgymDataError, match="its card and its click model do not match"):
        load_world(tmp_path / "dropped.npz")


def test_calibrate_scores_the_sequence_model_on_each_clicks_session_so_far(dataset, sequence_world):
    report = calibrate(dataset, sequence_world, k=3)
    test, world = dataset.split("test"), sequence_world
    nll, hits, count = 0.0, 0, 0
    for start, stop in zip(test.episode_starts[:-1], test.episode_starts[1:]):
        clicks = [int(a) for a, kind in zip(test.actions[start:stop], test.event_types[start:stop]) if kind == 0]
        for index, item in enumerate(clicks):
            earlier = clicks[max(0, index - world.state_size) : index]
            state = np.array([earlier + [world.pad_id] * (world.state_size - len(earlier))])
            p = model_softmax(world, state)[0]
            nll -= math.log(p[item])
            hits += item in np.argsort(-p, kind="stable")[:3]
            count += 1
    assert report["click_model"]["nll"] == pytest.approx(nll / count, rel=1e-6)  # float32 scores, batched or not
    assert report["click_model"]["hr@3"] == pytest.approx(hits / count)


def test_bad_click_model_options_are_one_line(dataset):
    with pytest.raises(InvalidOptionError, match="click_model must be one of markov, sasrec, got 'gru'"):
        fit_world(dataset, click_model="gru")
    with pytest.raises(InvalidOptionError, match="click_steps must be a finite integer >= 1, got 0"):
        fit_world(dataset, click_model="sasrec", click_steps=0)


def test_the_same_click_seed_fits_the_same_sequence_world(dataset, sequence_world):
    again = fit_world(dataset, click_model="sasrec", click_steps=60, click_seed=1)
    states = dataset.split("test").observations[:50]
    np.testing.assert_array_equal(again.click_probabilities(states), sequence_world.click_probabilities(states))
    other = fit_world(dataset, click_model="sasrec", click_steps=60, click_seed=2)
    assert not np.array_equal(other.click_probabilities(states), sequence_world.click_probabilities(states))
