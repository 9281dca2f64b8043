"""The preprocessing protocol on hand-made event tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recgym.data.protocol import SPLIT_NAMES, apply_protocol, protocol_config
from recgym.errors import InvalidOptionError

CLICK, BUY = 0, 1


def table(rows: list[tuple[int, int, int, int]]) -> pd.DataFrame:
    """Events from (session, item, timestamp, event type) tuples."""
    frame = pd.DataFrame(rows, columns=["session_id", "item_id", "timestamp", "event_type"])
    return frame.astype({"session_id": "int64", "item_id": "int64", "timestamp": "int64", "event_type": "int8"})


def all_events(prepared) -> pd.DataFrame:
    """The kept events of every split, items mapped back to raw ids."""
    parts = [
        pd.DataFrame(
            {"session": s.sessions, "item": prepared.raw_item_ids[s.items], "type": s.event_types, "split": name}
        )
        for name, s in prepared.splits.items()
    ]
    return pd.concat(parts).sort_values("session", kind="stable")


def random_log(rng: np.random.Generator, n_sessions: int = 300, n_items: int = 40) -> pd.DataFrame:
    lengths = rng.integers(1, 8, size=n_sessions)
    sessions = np.repeat(rng.choice(10**6, size=n_sessions, replace=False), lengths)
    return table(
        list(
            zip(
                sessions,
                rng.integers(100, 100 + n_items, size=len(sessions)),
                rng.integers(0, 1000, size=len(sessions)),
                (rng.random(len(sessions)) < 0.1).astype(int),
            )
        )
    )


def test_rc15_keeps_sessions_with_more_than_two_clicks_and_their_buys() -> None:
    events = table(
        [
            (1, 10, 0, CLICK),
            (1, 11, 1, CLICK),
            (1, 12, 2, CLICK),
            (1, 99, 3, BUY),  # 3 clicks: kept, buy item 99 encoded
            (2, 10, 0, CLICK),
            (2, 11, 1, CLICK),
            (2, 11, 2, BUY),
            (2, 11, 3, BUY),
        ]  # 2 clicks: dropped despite 4 events
    )
    prepared = apply_protocol(events, protocol_config("rc15"), seed=0)
    kept = all_events(prepared)
    assert set(kept["session"]) == {1}
    np.testing.assert_array_equal(prepared.raw_item_ids, [10, 11, 12, 99])
    assert prepared.stats["sessions"] == 1 and prepared.stats["events"] == 4


def test_click_precedes_purchase_at_equal_timestamps_and_sort_is_stable() -> None:
    events = table([(5, 30, 7, BUY), (5, 20, 7, CLICK), (5, 10, 1, CLICK), (5, 40, 7, BUY), (5, 50, 7, CLICK)])
    prepared = apply_protocol(events, protocol_config("generic"), seed=0)
    kept = all_events(prepared)
    assert kept["item"].tolist() == [10, 20, 50, 30, 40]
    assert kept["type"].tolist() == [CLICK, CLICK, CLICK, BUY, BUY]


def test_items_encoded_by_sorted_raw_id() -> None:
    events = table([(1, 500, 0, CLICK), (1, 7, 1, CLICK), (1, 42, 2, BUY)])
    prepared = apply_protocol(events, protocol_config("generic"), seed=0)
    np.testing.assert_array_equal(prepared.raw_item_ids, [7, 42, 500])
    events_of_session = next(s for s in prepared.splits.values() if len(s.items))
    np.testing.assert_array_equal(events_of_session.items, [2, 0, 1])


def retailrocket_table() -> pd.DataFrame:
    return table(
        [
            (1, 1, 0, CLICK),
            (1, 2, 1, CLICK),
            (1, 2, 2, CLICK),  # item 2: 3 events once session 2 is gone
            (2, 1, 0, CLICK),
            (2, 2, 1, CLICK),  # 2 events: dropped
            (3, 1, 0, CLICK),
            (3, 2, 1, BUY),
            (3, 3, 2, CLICK),  # item 3 has one event: dropped -> session 3 has 2 left
            (4, 1, 0, CLICK),
            (4, 1, 1, CLICK),
            (4, 1, 2, CLICK),
        ]
    )


def test_retailrocket_single_pass_then_fixed_point() -> None:
    prepared = apply_protocol(retailrocket_table(), protocol_config("retailrocket"), seed=0)
    kept = all_events(prepared)
    assert sorted(set(kept["session"])) == [1, 3, 4]
    assert (kept["session"] == 3).sum() == 2  # fell back to <= 2 events after the item filter, kept as the reference
    np.testing.assert_array_equal(prepared.raw_item_ids, [1, 2])

    fixed = apply_protocol(retailrocket_table(), protocol_config("retailrocket", iterate_filters=True), seed=0)
    kept = all_events(fixed)
    # session 3 goes, item 2 then has only 1 event and goes, session 1 keeps 2 events and goes
    assert sorted(set(kept["session"])) == [4]
    np.testing.assert_array_equal(fixed.raw_item_ids, [1])


def test_generic_min_session_length_and_item_support() -> None:
    events = table([(1, 1, 0, CLICK), (2, 1, 0, CLICK), (2, 2, 1, CLICK), (3, 1, 0, CLICK), (3, 3, 1, CLICK)])
    prepared = apply_protocol(events, protocol_config("generic", min_item_events=2), seed=0)
    kept = all_events(prepared)
    assert sorted(set(kept["session"])) == [2, 3] and set(kept["item"]) == {1}


def test_duplicates_kept_by_default_dropped_on_request() -> None:
    events = table([(1, 1, 0, CLICK), (1, 1, 0, CLICK), (1, 2, 1, CLICK), (1, 2, 1, BUY)])
    assert apply_protocol(events, protocol_config("generic"), seed=0).stats["events"] == 4
    deduplicated = apply_protocol(events, protocol_config("generic", drop_duplicates=True), seed=0)
    assert deduplicated.stats["events"] == 3 and deduplicated.stats["duplicates_dropped"] == 1


def test_sampling_is_uniform_subset_and_seeded() -> None:
    events = random_log(np.random.default_rng(0))
    config = protocol_config("generic", min_session_events=1, n_sample_sessions=50)
    first, again, other = (apply_protocol(events, config, seed=s) for s in (3, 3, 4))
    sessions = lambda p: set(all_events(p)["session"])  # noqa: E731
    assert len(sessions(first)) == 50 and sessions(first) <= set(events["session_id"])
    assert sessions(first) == sessions(again) and sessions(first) != sessions(other)
    # every event of a sampled session is kept
    assert len(all_events(first)) == events["session_id"].isin(sessions(first)).sum()


def test_split_is_80_10_10_by_session_seeded_and_disjoint() -> None:
    events = random_log(np.random.default_rng(1), n_sessions=1000)
    config = protocol_config("generic", min_session_events=1)
    first, again, other = (apply_protocol(events, config, seed=s) for s in (0, 0, 1))
    split_sessions = {name: np.unique(first.splits[name].sessions) for name in SPLIT_NAMES}
    assert [len(split_sessions[name]) for name in SPLIT_NAMES] == [800, 100, 100]
    assert len(np.unique(np.concatenate(list(split_sessions.values())))) == 1000
    for name in SPLIT_NAMES:
        np.testing.assert_array_equal(first.splits[name].sessions, again.splits[name].sessions)
        np.testing.assert_array_equal(first.splits[name].items, again.splits[name].items)
    assert not np.array_equal(first.splits["val"].sessions, other.splits["val"].sessions)
    sessions = first.splits["train"].sessions
    assert np.all(np.diff(sessions) >= 0)  # contiguous, ascending session id


def test_popularity_from_train_only_and_oov_rate() -> None:
    events = random_log(np.random.default_rng(2), n_sessions=400, n_items=300)
    prepared = apply_protocol(events, protocol_config("generic", min_session_events=1), seed=0)
    train_items = prepared.splits["train"].items
    expected = np.bincount(train_items, minlength=prepared.n_items) / len(train_items)
    np.testing.assert_allclose(prepared.item_popularity, expected)
    assert prepared.item_popularity.sum() == pytest.approx(1.0)
    for name in ("val", "test"):
        items = prepared.splits[name].items
        oov = np.mean([item not in set(train_items.tolist()) for item in items])
        assert prepared.stats["splits"][name]["oov_rate"] == pytest.approx(oov)
    assert prepared.stats["splits"]["train"]["oov_rate"] == 0.0
    counts = prepared.stats["splits"]["val"]
    assert counts["clicks"] + counts["purchases"] == counts["events"] == len(prepared.splits["val"].items)


def test_bad_options() -> None:
    with pytest.raises(InvalidOptionError, match="valid: .*min_session_events"):
        protocol_config("generic", min_sesion_events=2)
    with pytest.raises(InvalidOptionError, match="n_sample_sessions"):
        protocol_config("rc15", n_sample_sessions=0)
    with pytest.raises(InvalidOptionError, match="valid: rc15, retailrocket, generic"):
        protocol_config("movielens")
    with pytest.raises(InvalidOptionError, match="train_fraction"):
        protocol_config("generic", train_fraction=0.95, val_fraction=0.1)


def brute_force_filter(events: pd.DataFrame, config) -> set[int]:
    """Row numbers kept by the session and item filters, counted with Python loops and dicts."""
    kept = set(range(len(events)))
    rows = list(events.itertuples(index=False))
    while True:
        before = set(kept)
        per_session: dict[int, list[int]] = {}
        for row in kept:
            per_session.setdefault(rows[row].session_id, []).append(row)
        for members in per_session.values():
            clicks = sum(rows[row].event_type == CLICK for row in members)
            if len(members) < config.min_session_events or clicks < config.min_session_clicks:
                kept -= set(members)
        item_counts: dict[int, int] = {}
        for row in kept:
            item_counts[rows[row].item_id] = item_counts.get(rows[row].item_id, 0) + 1
        kept = {row for row in kept if item_counts[rows[row].item_id] >= config.min_item_events}
        if not config.iterate_filters or kept == before:
            return kept


@pytest.mark.parametrize("case", range(12))
def test_filters_match_a_brute_force_loop(case: int) -> None:
    rng = np.random.default_rng(100 + case)
    events = random_log(rng, n_sessions=120, n_items=int(rng.integers(5, 60)))
    config = protocol_config(
        "generic",
        min_session_events=int(rng.integers(1, 4)),
        min_session_clicks=int(rng.integers(0, 3)),
        min_item_events=int(rng.integers(0, 5)),
        iterate_filters=bool(case % 2),
    )
    expected = events.iloc[sorted(brute_force_filter(events, config))]
    prepared = apply_protocol(events, config, seed=case)
    kept = all_events(prepared)
    assert sorted(zip(kept["session"], kept["item"])) == sorted(zip(expected["session_id"], expected["item_id"]))


@pytest.mark.parametrize(
    "preset, options",
    [
        ("rc15", {"n_sample_sessions": 40}),
        ("retailrocket", {"iterate_filters": True}),
        ("generic", {"min_item_events": 2, "n_sample_sessions": 100}),
        ("generic", {"split_mode": "temporal"}),
    ],
)
def test_int32_ids_give_the_same_log_as_int64(preset: str, options: dict) -> None:
    wide = random_log(np.random.default_rng(5), n_sessions=400)
    narrow = wide.astype({"session_id": "int32", "item_id": "int32"})
    config = protocol_config(preset, **options)
    expected, prepared = apply_protocol(wide, config, seed=2), apply_protocol(narrow, config, seed=2)
    assert prepared.stats == expected.stats
    np.testing.assert_array_equal(prepared.raw_item_ids, expected.raw_item_ids)
    assert prepared.raw_item_ids.dtype == np.int64
    np.testing.assert_array_equal(prepared.item_popularity, expected.item_popularity)
    for name in SPLIT_NAMES:
        for field in ("sessions", "items", "event_types"):
            np.testing.assert_array_equal(getattr(prepared.splits[name], field), getattr(expected.splits[name], field))


@pytest.mark.parametrize("block", [1, 2, 3, 1 << 20])
def test_the_event_order_check_matches_a_pairwise_loop(block: int, monkeypatch: pytest.MonkeyPatch) -> None:
    from recgym.data import protocol

    monkeypatch.setattr(protocol, "ORDER_CHECK_ROWS", block)
    rng = np.random.default_rng(block)
    for _ in range(500):
        n = int(rng.integers(0, 10))
        columns = rng.integers(0, 3, n), rng.integers(0, 5, n), rng.integers(0, 3, n), rng.integers(0, 2, n)
        rows = protocol._Rows(columns[0], columns[1], columns[2].astype(np.int64), columns[3].astype(np.int8))
        keys = list(zip(columns[0], columns[2], columns[3]))  # session, timestamp, type
        assert protocol._in_event_order(rows) == all(keys[i] <= keys[i + 1] for i in range(n - 1))


@pytest.mark.parametrize("preset", ["generic", "rc15"])
def test_a_log_in_event_order_gives_what_its_shuffled_rows_give(preset: str) -> None:
    rng = np.random.default_rng(8)
    ordered = random_log(rng, n_sessions=400)
    ordered["timestamp"] = rng.permutation(len(ordered))  # no ties, whose order is the input's
    ordered = ordered.sort_values(["session_id", "timestamp", "event_type"], kind="stable", ignore_index=True)
    shuffled = ordered.sample(frac=1.0, random_state=3, ignore_index=True)
    expected, prepared = (apply_protocol(log, protocol_config(preset), seed=4) for log in (shuffled, ordered))
    assert prepared.stats == expected.stats
    np.testing.assert_array_equal(prepared.raw_item_ids, expected.raw_item_ids)
    for name in SPLIT_NAMES:
        for field in ("sessions", "items", "event_types"):
            np.testing.assert_array_equal(getattr(prepared.splits[name], field), getattr(expected.splits[name], field))
