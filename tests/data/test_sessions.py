"""Tests of recgym/data/sessions.py: time-gap sessions against a brute-force loop, strict gaps, user columns."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recgym.data.readers import read_retailrocket
from recgym.data.sessions import split_sessions
from recgym.errors import InvalidOptionError


def brute_force_sessions(users: list[int], timestamps: list[int], gap_minutes: float) -> list[list[int]]:
    """Row indices of each session: per user in time order, a new session after every gap > gap_minutes."""
    sessions: list[list[int]] = []
    for user in sorted(set(users)):
        rows = sorted((t, i) for i, (u, t) in enumerate(zip(users, timestamps)) if u == user)
        previous = None
        for timestamp, row in rows:
            if previous is None or timestamp - previous > gap_minutes * 60_000:
                sessions.append([])
            sessions[-1].append(row)
            previous = timestamp
    return sessions


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("column", ["session_id", "user_id"])
def test_matches_a_brute_force_loop(seed: int, column: str) -> None:
    rng = np.random.default_rng(seed)
    n = 300
    users = rng.integers(0, 12, n).tolist()
    timestamps = rng.integers(0, 50 * 60_000, n).tolist()  # 50 minutes; gaps of 0..several minutes
    events = pd.DataFrame(
        {"session_id": users, "item_id": np.arange(n), "timestamp": timestamps, "event_type": np.zeros(n, np.int8)}
    )
    if column == "user_id":
        events = events.assign(user_id=users, session_id=0)
    gap = float(rng.choice([0.5, 1, 3]))
    result = split_sessions(events, gap)
    expected = brute_force_sessions(users, timestamps, gap)
    got = [group["item_id"].tolist() for _, group in result.groupby("session_id", sort=True)]
    assert got == expected  # item_id is the original row index
    assert result["user_id"].tolist() == [users[row] for session in expected for row in session]


def test_gap_is_strict_and_checked() -> None:
    events = pd.DataFrame(
        {
            "session_id": [5, 5, 5, 3, 3],
            "item_id": [1, 2, 3, 4, 5],
            "timestamp": [0, 60_000, 120_001, 0, 30_000],
            "event_type": np.zeros(5, dtype=np.int8),
        }
    )
    one_minute = split_sessions(events, 1)
    assert one_minute["item_id"].tolist() == [4, 5, 1, 2, 3]
    assert one_minute["session_id"].tolist() == [0, 0, 1, 1, 2]  # 60,000 ms is not > 1 min, 60,001 ms is
    assert split_sessions(events, 0.5)["session_id"].tolist() == [0, 0, 1, 2, 3]
    with pytest.raises(InvalidOptionError, match="session_gap_minutes must be a finite number > 0, got 0"):
        split_sessions(events, 0)
    with pytest.raises(InvalidOptionError, match="session_gap_minutes must be a finite number > 0, got 'abc'"):
        split_sessions(events, "abc")


def test_retailrocket_visitors_cut_into_sessions(tmp_path: Path, retailrocket_sample: str) -> None:
    (tmp_path / "events.csv").write_text(retailrocket_sample)
    events = split_sessions(read_retailrocket(tmp_path, progress=False), 30)
    # visitor 3: 10000, 50000 -> one session; visitor 5: 0, 60000 | 2 h gap | 7260000, 7300000.
    assert events[["session_id", "item_id", "timestamp"]].values.tolist() == [
        [0, 21, 10000],
        [0, 20, 50000],
        [1, 10, 0],
        [1, 10, 60000],
        [2, 11, 7260000],
        [2, 12, 7300000],
    ]
    assert events["user_id"].tolist() == [3, 3, 5, 5, 5, 5] and events["session_id"].dtype == np.int64
