"""Sorted session events -> fixed-size padded state / next-state arrays, one row per event.

The construction follows the reference replay buffer (right padding, pad id = n_items): the state of an event is the
last ``state_size`` items of the session before it, oldest first, then pad ids; the next state is the same after the
event's own item. A :class:`Split` keeps the events only (about 14 bytes each) and builds its (N, state_size) state
windows (40 bytes per event and window at ``state_size=10``) on first use, with array operations (a
position-in-session array and a masked sliding-window gather): a million events take a fraction of a second, and a
split whose windows are never read never pays for them.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from recgym.data.schema import EventType

__all__ = ["Split", "build_split", "episode_starts", "padded_histories", "rewards_from_events"]


@dataclass(frozen=True)
class Split:
    """The transitions of one split; sessions are contiguous, in the order of ``session_ids``.

    Session ``i`` is rows ``episode_starts[i]:episode_starts[i + 1]``. Val/test rows are the evaluation events:
    predict ``actions[i]`` from ``observations[i]``. ``observations`` and ``next_observations`` are computed from
    ``actions`` on first access and kept. A split of a log written by a recommender (:mod:`recgym.worlds.logged`) also
    has ``slates`` (N, k): the slate shown before each click row (pad ids on purchase rows, where nothing was shown),
    and ``propensities`` (N, k): the logging policy's probability of showing each of those items at its position
    (NaN on purchase rows); other splits have None.
    """

    actions: np.ndarray  # (N,) int64, the logged item
    rewards: np.ndarray  # (N,) float32, from the event type
    terminals: np.ndarray  # (N,) bool, last event of its session
    event_types: np.ndarray  # (N,) int8, EventType
    episode_starts: np.ndarray  # (n_sessions + 1,) int64
    session_ids: np.ndarray  # (n_sessions,) int64, raw session ids
    state_size: int
    pad_id: int
    slates: np.ndarray | None = None  # (N, k) int64, the slate shown before the row (a recommender's log only)
    propensities: np.ndarray | None = None  # (N, k) float64, the logger's probability of each shown item

    @functools.cached_property
    def observations(self) -> np.ndarray:
        """(N, state_size) int32, right-padded item ids: the session's items before each event."""
        return padded_histories(self.actions, self.episode_starts, self.state_size, self.pad_id, include_current=False)

    @functools.cached_property
    def next_observations(self) -> np.ndarray:
        """(N, state_size) int32: the state after the logged item."""
        return padded_histories(self.actions, self.episode_starts, self.state_size, self.pad_id, include_current=True)

    @property
    def n_transitions(self) -> int:
        return int(self.actions.shape[0])

    @property
    def n_sessions(self) -> int:
        return int(self.session_ids.shape[0])


def episode_starts(sessions: np.ndarray) -> np.ndarray:
    """Row offsets of each run of equal session ids, plus the total: ``(n_sessions + 1,)`` int64."""
    change = np.flatnonzero(sessions[1:] != sessions[:-1]) + 1
    return np.concatenate(([0], change, [len(sessions)])).astype(np.int64)


HISTORY_BLOCK_ROWS = 1 << 16  # rows gathered at a time by padded_histories


def padded_histories(
    items: np.ndarray, starts: np.ndarray, state_size: int, pad_id: int, *, include_current: bool
) -> np.ndarray:
    """For every row, the last ``state_size`` items of its session before it (or up to it), oldest first, right-padded.

    ``items`` are the rows' item ids with sessions contiguous; ``starts`` comes from :func:`episode_starts`. Rows are
    gathered in blocks of :data:`HISTORY_BLOCK_ROWS`, so the temporaries stay a few MB on a log of any length.
    """
    n_rows = len(items)
    states = np.full((n_rows, state_size), pad_id, dtype=np.int32)
    if not n_rows:
        return states
    lengths = np.diff(starts)
    session_start = np.repeat(starts[:-1], lengths)
    items = items.astype(np.int32, copy=False)
    offsets = np.arange(state_size, dtype=np.int64)
    for first in range(0, n_rows, HISTORY_BLOCK_ROWS):
        stop = min(first + HISTORY_BLOCK_ROWS, n_rows)
        end = np.arange(first, stop, dtype=np.int64) + int(include_current)  # exclusive end of the history
        history_length = np.minimum(end - session_start[first:stop], state_size)
        index = (end - history_length)[:, None] + offsets[None, :]
        valid = offsets[None, :] < history_length[:, None]
        np.clip(index, 0, n_rows - 1, out=index)
        np.copyto(states[first:stop], items[index], where=valid)
    return states


def rewards_from_events(event_types: np.ndarray, *, reward_click: float, reward_purchase: float) -> np.ndarray:
    """Reward of each event: ``reward_purchase`` for a purchase, ``reward_click`` for a click (float32)."""
    return np.where(event_types == EventType.PURCHASE, reward_purchase, reward_click).astype(np.float32)


def build_split(
    sessions: np.ndarray,
    items: np.ndarray,
    event_types: np.ndarray,
    *,
    state_size: int,
    pad_id: int,
    reward_click: float = 0.2,
    reward_purchase: float = 1.0,
) -> Split:
    """Transitions of events already sorted so each session is contiguous and in time order.

    ``sessions`` are raw session ids per row, ``items`` encoded item ids (< ``pad_id``), ``event_types`` EventType codes.
    """
    if state_size < 1:
        raise ValueError(f"state_size must be >= 1, got {state_size}")
    sessions = np.asarray(sessions, dtype=np.int64)
    items = np.asarray(items, dtype=np.int64)
    event_types = np.asarray(event_types, dtype=np.int8)
    starts = episode_starts(sessions) if len(sessions) else np.zeros(1, dtype=np.int64)
    terminals = np.zeros(len(sessions), dtype=bool)
    terminals[starts[1:] - 1] = True
    return Split(
        actions=items,
        rewards=rewards_from_events(event_types, reward_click=reward_click, reward_purchase=reward_purchase),
        terminals=terminals,
        event_types=event_types,
        episode_starts=starts,
        session_ids=sessions[starts[:-1]],
        state_size=state_size,
        pad_id=pad_id,
    )
