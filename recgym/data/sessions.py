"""Sessionisation: cut a user's (or a session's) events into sessions at inactivity gaps, for any reader.

A session is a run of one user's events, in time order, without a gap longer than ``gap_minutes`` between two
consecutive events (a gap of exactly that length does not cut). Logs that carry user ids but no session ids map the
user column as ``user_id``; logs with sessions can be cut further the same way.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from recgym.checks import check_number

__all__ = ["check_gap", "earlier_clicks", "split_sessions"]


def check_gap(gap_minutes: Any) -> float:
    """``gap_minutes`` as a float, or InvalidOptionError naming the option."""
    check_number("session_gap_minutes", gap_minutes, above=0)
    return float(gap_minutes)


def split_sessions(events: pd.DataFrame, gap_minutes: float) -> pd.DataFrame:
    """Cut each user's events into sessions wherever two consecutive events are more than ``gap_minutes`` apart.

    The user is the ``user_id`` column when there is one, else the ``session_id`` column (whose old value is then kept
    as ``user_id``). Rows are returned sorted by (user, timestamp), stably; new session ids are 0, 1, 2... in that order.
    """
    gap_ms = check_gap(gap_minutes) * 60_000
    users = events["user_id"] if "user_id" in events.columns else events["session_id"]
    order = np.lexsort((events["timestamp"].to_numpy(), users.to_numpy()))
    events = events.iloc[order].reset_index(drop=True)
    user = users.to_numpy()[order]
    timestamp = events["timestamp"].to_numpy()
    starts = np.ones(len(events), dtype=bool)
    starts[1:] = (user[1:] != user[:-1]) | (np.diff(timestamp) > gap_ms)
    return events.assign(session_id=np.cumsum(starts, dtype=np.int64) - 1, user_id=user)


def earlier_clicks(session: np.ndarray, items: np.ndarray) -> np.ndarray:
    """For each click (session-major, in time order), how many earlier clicks of its session were on the same item."""
    if not len(items):
        return np.zeros(0, dtype=np.int64)
    key = session * (items.max() + 1) + items
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    new_group = np.concatenate([[True], sorted_key[1:] != sorted_key[:-1]])
    position = np.arange(len(key))
    earlier = np.empty(len(key), dtype=np.int64)
    earlier[order] = position - np.maximum.accumulate(np.where(new_group, position, 0))
    return earlier
