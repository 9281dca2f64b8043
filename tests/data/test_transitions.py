"""Transition arrays against a per-session Python construction of the reference replay buffer."""

from __future__ import annotations

import numpy as np
import pytest

from recgym.data import transitions
from recgym.data.transitions import build_split


def brute_force(sessions, items, event_types, state_size, pad_id, reward_click, reward_purchase):
    """Walk each session in order, keeping the item history, as the reference replay buffer does."""
    rows = {key: [] for key in ("obs", "next", "reward", "terminal")}
    starts, session_ids = [0], []

    def pad(history):
        window = history[-state_size:] if history else []
        return window + [pad_id] * (state_size - len(window))

    i = 0
    while i < len(sessions):
        j = i
        while j < len(sessions) and sessions[j] == sessions[i]:
            j += 1
        session_ids.append(sessions[i])
        history = []
        for row in range(i, j):
            rows["obs"].append(pad(history))
            history.append(int(items[row]))
            rows["next"].append(pad(history))
            rows["reward"].append(reward_purchase if event_types[row] == 1 else reward_click)
            rows["terminal"].append(row == j - 1)
        starts.append(j)
        i = j
    return rows, starts, session_ids


@pytest.mark.parametrize("block_rows", [7, transitions.HISTORY_BLOCK_ROWS])  # blocks that cut sessions, and one
@pytest.mark.parametrize("case", range(60))
def test_matches_brute_force_on_random_logs(case: int, block_rows: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transitions, "HISTORY_BLOCK_ROWS", block_rows)
    rng = np.random.default_rng(case)
    n_sessions = int(rng.integers(1, 30))
    lengths = rng.choice([1, 1, 2, 3, 5, 9, 10, 11, 17, 30], size=n_sessions)
    sessions = np.repeat(np.sort(rng.choice(10_000, size=n_sessions, replace=False)), lengths)
    n_items = int(rng.integers(1, 50))
    items = rng.integers(0, n_items, size=len(sessions))
    event_types = (rng.random(len(sessions)) < 0.2).astype(np.int8)
    state_size = int(rng.choice([1, 3, 10]))
    rewards = {"reward_click": float(rng.choice([0.2, 0.5])), "reward_purchase": float(rng.choice([1.0, 2.0]))}

    split = build_split(sessions, items, event_types, state_size=state_size, pad_id=n_items, **rewards)
    rows, starts, session_ids = brute_force(sessions, items, event_types, state_size, n_items, **rewards)

    assert split.observations.dtype == np.int32 and split.next_observations.dtype == np.int32
    assert split.actions.dtype == np.int64 and split.rewards.dtype == np.float32
    assert split.terminals.dtype == bool and split.event_types.dtype == np.int8
    np.testing.assert_array_equal(split.observations, np.array(rows["obs"]))
    np.testing.assert_array_equal(split.next_observations, np.array(rows["next"]))
    np.testing.assert_array_equal(split.actions, items)
    np.testing.assert_allclose(split.rewards, np.array(rows["reward"], dtype=np.float32))
    np.testing.assert_array_equal(split.terminals, np.array(rows["terminal"]))
    np.testing.assert_array_equal(split.event_types, event_types)
    np.testing.assert_array_equal(split.episode_starts, starts)
    np.testing.assert_array_equal(split.session_ids, session_ids)
    assert split.n_transitions == len(sessions) and split.n_sessions == n_sessions


def test_hand_computed_session() -> None:
    split = build_split(np.array([7, 7, 7, 9]), np.array([4, 2, 4, 1]), np.array([0, 0, 1, 0]), state_size=2, pad_id=5)
    np.testing.assert_array_equal(split.observations, [[5, 5], [4, 5], [4, 2], [5, 5]])
    np.testing.assert_array_equal(split.next_observations, [[4, 5], [4, 2], [2, 4], [1, 5]])
    np.testing.assert_allclose(split.rewards, [0.2, 0.2, 1.0, 0.2])
    np.testing.assert_array_equal(split.terminals, [False, False, True, True])
    np.testing.assert_array_equal(split.episode_starts, [0, 3, 4])
    np.testing.assert_array_equal(split.session_ids, [7, 9])


def test_empty_split() -> None:
    split = build_split(np.zeros(0), np.zeros(0), np.zeros(0), state_size=3, pad_id=4)
    assert split.observations.shape == (0, 3) and split.n_sessions == 0
    np.testing.assert_array_equal(split.episode_starts, [0])


def test_million_events_is_fast() -> None:
    import time

    rng = np.random.default_rng(0)
    sessions = np.repeat(np.arange(200_000), rng.integers(1, 11, size=200_000))
    items = rng.integers(0, 26_000, size=len(sessions))
    started = time.perf_counter()
    split = build_split(sessions, items, np.zeros(len(sessions), np.int8), state_size=10, pad_id=26_000)
    assert time.perf_counter() - started < 3.0
    assert split.n_transitions == len(sessions)


def test_state_windows_are_built_on_first_use_and_kept() -> None:
    split = build_split(np.array([7, 7, 9]), np.array([4, 2, 1]), np.zeros(3, np.int8), state_size=2, pad_id=5)
    assert "observations" not in vars(split) and "next_observations" not in vars(split)
    assert split.observations is split.observations  # computed once
    np.testing.assert_array_equal(split.observations, [[5, 5], [4, 5], [5, 5]])
    assert "next_observations" not in vars(split)
