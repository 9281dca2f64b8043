"""Tests of recgym/data/synthetic.py: shape of the logs, sequential signal, user model, RC15 files."""

from __future__ import annotations

import csv
import dataclasses
import json
from collections import Counter, defaultdict
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from recgym.data import synthetic
from recgym.data.schema import EventType
from recgym.data.synthetic import (
    SyntheticConfig,
    SyntheticUserModel,
    generate_events,
    write_otto_file,
    write_rc15_files,
)

SMALL = SyntheticConfig(n_sessions=2000, n_items=500)


@pytest.fixture(scope="module")
def moderate() -> pd.DataFrame:
    """20k sessions over the full-size catalogue: large enough for the statistics to settle."""
    return generate_events(SyntheticConfig(n_sessions=20_000), seed=3)


def test_same_seed_same_log_and_other_seed_differs():
    first = generate_events(SMALL, seed=7)
    pd.testing.assert_frame_equal(first, generate_events(SMALL, seed=7))
    other = generate_events(SMALL, seed=8)
    assert len(other) != len(first) or not np.array_equal(other["item_id"], first["item_id"])


def test_canonical_schema_and_ordering():
    events = generate_events(SMALL, seed=1)
    assert {c: str(t) for c, t in events.dtypes.items()} == {
        "session_id": "int64",
        "item_id": "int64",
        "timestamp": "int64",
        "event_type": "int8",
    }
    sessions = events["session_id"].to_numpy()
    assert np.all(np.diff(sessions) >= 0), "sessions are contiguous and in id order"
    assert np.array_equal(np.unique(sessions), np.arange(SMALL.n_sessions))
    assert events["item_id"].between(0, SMALL.n_items - 1).all()
    same_session = sessions[1:] == sessions[:-1]
    assert np.all(np.diff(events["timestamp"].to_numpy())[same_session] > 0), "timestamps increase within a session"
    assert datetime(2014, 4, 1, tzinfo=UTC).timestamp() * 1000 <= events["timestamp"].min()
    assert events["timestamp"].max() < datetime(2014, 10, 2, tzinfo=UTC).timestamp() * 1000


def test_statistics_match_rc15_targets(moderate):
    config = SyntheticConfig()
    n_sessions = moderate["session_id"].nunique()
    purchases = moderate["event_type"] == EventType.PURCHASE
    clicks_per_session = moderate.loc[~purchases].groupby("session_id").size()
    assert len(moderate) / n_sessions == pytest.approx(config.mean_session_length, rel=0.03)
    assert purchases.mean() == pytest.approx(config.purchase_rate, rel=0.08)
    assert clicks_per_session.min() >= 3
    assert clicks_per_session.max() >= 40, "session lengths have a long tail"
    counts = np.sort(moderate["item_id"].value_counts().to_numpy())[::-1]
    top_share = counts[: config.n_items // 100].sum() / counts.sum()
    assert top_share > 0.10, f"the top 1% of items hold {top_share:.3f} of events, far above uniform (0.01)"


def test_purchases_follow_a_click_of_the_same_item(moderate):
    clicked: dict[int, set[int]] = defaultdict(set)
    n_purchases = 0
    for session, item, kind in moderate[["session_id", "item_id", "event_type"]].itertuples(index=False):
        if kind == EventType.CLICK:
            clicked[session].add(item)
        else:
            assert item in clicked[session], f"purchase of {item} in session {session} before any click of it"
            n_purchases += 1
    assert n_purchases > 0


def test_first_order_predictor_beats_popularity(moderate):
    """Sequential signal: 'most frequent next item after the current one' (train half) vs global popularity."""
    rows = list(moderate[["session_id", "item_id"]].itertuples(index=False))
    pairs = [(a.item_id, b.item_id, a.session_id % 2) for a, b in zip(rows, rows[1:]) if a.session_id == b.session_id]
    following: dict[int, Counter] = defaultdict(Counter)
    popularity: Counter = Counter()
    for current, nxt, half in pairs:
        if half == 0:
            following[current][nxt] += 1
            popularity[nxt] += 1
    popular = [item for item, _ in popularity.most_common(10)]
    markov_hits = popular_hits = n = 0
    for current, nxt, half in pairs:
        if half == 1:
            guess = [item for item, _ in following[current].most_common(10)]
            guess += [item for item in popular if item not in guess][: 10 - len(guess)]
            markov_hits += nxt in guess
            popular_hits += nxt in popular
            n += 1
    markov_hr, popular_hr = markov_hits / n, popular_hits / n
    assert markov_hr > 0.15 and markov_hr > 5 * popular_hr, (markov_hr, popular_hr)


@pytest.fixture(scope="module")
def dense() -> tuple[SyntheticConfig, pd.DataFrame]:
    """A small, steep catalogue with many sessions, so that histories repeat often enough to count."""
    config = SyntheticConfig(n_sessions=50_000, n_items=60, n_topics=2, popularity_exponent=1.0, popularity_offset=0.0)
    return config, generate_events(config, seed=5)


def _clicks_by_session(events: pd.DataFrame) -> list[np.ndarray]:
    clicks = events[events["event_type"] == EventType.CLICK]
    starts = np.flatnonzero(np.diff(clicks["session_id"].to_numpy(), prepend=-1))
    return np.split(clicks["item_id"].to_numpy(), starts[1:])


def _assert_matches(probabilities: np.ndarray, observed: Counter, n_items: int) -> None:
    n = sum(observed.values())
    empirical = np.bincount(list(observed.elements()), minlength=n_items) / n
    tolerance = 5 * np.sqrt(probabilities * (1 - probabilities) / n) + 2 / n
    assert n >= 200
    assert np.all(np.abs(empirical - probabilities) <= tolerance), np.abs(empirical - probabilities).max()


def test_click_probabilities_match_generated_frequencies(dense):
    config, events = dense
    model = SyntheticUserModel(config, seed=5)
    sessions = _clicks_by_session(events)
    first_clicks = Counter(int(s[0]) for s in sessions)
    _assert_matches(model.click_probabilities([]), first_clicks, config.n_items)
    for prefix_length in (1, 2):
        prefixes = Counter(tuple(s[:prefix_length].tolist()) for s in sessions)
        history = next(p for p, _ in prefixes.most_common() if len(set(p)) == len(p))  # recall differs from last
        following = Counter(int(s[prefix_length]) for s in sessions if tuple(s[:prefix_length].tolist()) == history)
        probabilities = model.click_probabilities(list(history))
        assert probabilities.shape == (config.n_items,) and probabilities.sum() == pytest.approx(1.0)
        _assert_matches(probabilities, following, config.n_items)


def test_click_probabilities_are_calibrated_beyond_the_last_item():
    """Summed over positions, the model's mass on neighbours of earlier (not last) clicks matches their frequency."""
    model = SyntheticUserModel(SMALL, seed=6)
    expected = observed = 0.0
    for clicks in _clicks_by_session(generate_events(SMALL, seed=6)):
        for t in range(2, len(clicks)):
            last = clicks[t - 1]
            earlier = set(model.neighbours[clicks[: t - 1]].ravel().tolist())
            targets = list(earlier - set(model.neighbours[last].tolist()) - {last})
            expected += model.click_probabilities(clicks[:t])[targets].sum()
            observed += clicks[t] in targets
    assert observed > 300
    assert observed == pytest.approx(expected, abs=5 * np.sqrt(expected))


def test_purchase_probability_predicts_the_number_of_purchases(dense):
    config, events = dense
    model = SyntheticUserModel(config, seed=5)
    sessions = _clicks_by_session(events)[:4000]
    expected = sum(model.purchase_probability(s[:t], s[t]) for s in sessions for t in range(len(s)))
    purchases = events[(events["event_type"] == EventType.PURCHASE) & (events["session_id"] < 4000)]
    assert len(purchases) == pytest.approx(expected, abs=5 * np.sqrt(expected))


def test_purchase_probabilities_vector_matches_scalar():
    model = SyntheticUserModel(SMALL, seed=0)
    history = [3, 17, 3, 42, 3]
    vector = model.purchase_probabilities(history)
    assert vector.shape == (SMALL.n_items,) and np.all((vector > 0) & (vector < 1))
    for item in (3, 17, 99):
        assert vector[item] == pytest.approx(model.purchase_probability(history, item))
    assert vector[3] > model.purchase_probability([], 3), "earlier clicks of an item raise its purchase odds"


def test_user_model_rejects_unknown_items():
    model = SyntheticUserModel(SMALL, seed=0)
    with pytest.raises(ValueError, match="item id 500 is outside 0..499"):
        model.click_probabilities([1, 500])
    with pytest.raises(ValueError, match="item id -1"):
        model.purchase_probability([1], -1)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"n_sessions": 0}, "n_sessions must be a finite integer >= 1, got 0"),
        ({"purchase_rate": 0.6}, "purchase_rate must be a finite number >= 0 and < 0.5, got 0.6"),
        ({"mean_session_length": 3.0}, "clicks must exceed 3"),
        ({"repeat_prob": 0.5, "neighbour_prob": 0.5, "recall_prob": 0.1}, "must be <= 1"),
        (
            {"n_topics": 1000, "n_items": 500},
            r"n_topics \(catalogue of 500 items\) must be a finite number <= 500, got 1000",
        ),
        ({"neighbour_decay": 0.0}, "neighbour_decay must be a finite number > 0 and <= 1, got 0.0"),
        ({"short_session_share": 1.0}, "short_session_share must be a finite number >= 0 and < 1, got 1.0"),
    ],
)
def test_config_validation(overrides, message):
    with pytest.raises(ValueError, match=message):
        SyntheticConfig(**overrides)


def test_short_sessions_and_chunking(monkeypatch):
    monkeypatch.setattr(synthetic, "CHUNK_SESSIONS", 300)
    config = dataclasses.replace(SMALL, short_session_share=0.3)
    events = generate_events(config, seed=2)
    clicks = events[events["event_type"] == EventType.CLICK].groupby("session_id").size()
    assert np.array_equal(clicks.index, np.arange(config.n_sessions))
    assert (clicks < 3).mean() == pytest.approx(0.3, abs=0.04)
    assert set(clicks[clicks < 3]) == {1, 2}
    pd.testing.assert_frame_equal(events, generate_events(config, seed=2))


def _epoch_ms(text: str) -> int:
    moment = datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    return round(moment.timestamp() * 1000)


def test_write_rc15_files_matches_events(tmp_path):
    config = dataclasses.replace(SMALL, short_session_share=0.2)
    clicks_path, buys_path = write_rc15_files(tmp_path, config, seed=4, progress=False)
    assert (clicks_path.name, buys_path.name) == ("yoochoose-clicks.dat", "yoochoose-buys.dat")
    events = generate_events(config, seed=4)
    model = SyntheticUserModel(config, seed=4)
    with clicks_path.open(newline="") as file:
        clicks = list(csv.reader(file))
    with buys_path.open(newline="") as file:
        buys = list(csv.reader(file))
    assert clicks[0][1].endswith("Z") and len(clicks[0][1]) == len("2014-04-07T10:51:09.277Z")
    assert all(len(row) == 4 for row in clicks) and all(len(row) == 5 for row in buys)
    for rows, kind in ((clicks, EventType.CLICK), (buys, EventType.PURCHASE)):
        expected = events[events["event_type"] == kind]
        parsed = [(int(row[0]), _epoch_ms(row[1]), int(row[2])) for row in rows]
        assert parsed == list(expected[["session_id", "timestamp", "item_id"]].itertuples(index=False, name=None))
    assert all(int(row[3]) == model.topic_of[int(row[2])] + 1 for row in clicks)
    assert all(int(row[3]) >= 1 and int(row[4]) >= 1 for row in buys)


def test_write_otto_file_matches_events(tmp_path):
    path = write_otto_file(tmp_path / "otto" / "train.jsonl", SMALL, seed=4, progress=False)
    events = generate_events(SMALL, seed=4)
    lines = [json.loads(line) for line in path.read_text().splitlines()]  # every line is one JSON object
    names = {EventType.CLICK: "clicks", EventType.PURCHASE: "orders"}
    expected = [
        {"session": int(session), "events": [
            {"aid": int(e.item_id), "ts": int(e.timestamp), "type": names[EventType(e.event_type)]}
            for e in group.itertuples()
        ]}
        for session, group in events.groupby("session_id", sort=True)
    ]  # fmt: skip
    assert lines == expected
