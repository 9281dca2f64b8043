"""RecReplayEnv: replays the logged sessions of a split as Gymnasium episodes (reference protocol, §9).

The state path does not depend on the agent: each step moves to the next logged event of the session, whatever was
recommended. The agent earns the logged event's reward when the logged item is in its recommendation, so the return
summed over a split equals ``recgym.evaluate(...)["reward@k"]`` for a policy recommending its top-k.
"""

from __future__ import annotations

import os
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from recgym.checks import check_number
from recgym.data.transitions import rewards_from_events
from recgym.datasets import load_dataset
from recgym.envs.actions import check_slate

__all__ = ["RecReplayEnv"]

SPLITS = ("train", "val", "test")
SESSION_ORDERS = ("sequential", "shuffle")


class RecReplayEnv(gym.Env[np.ndarray, Any]):
    """One episode = one logged session of ``split``; one step = one logged event.

    Observation: the padded last ``state_size`` item ids, ``Box(0, n_items, (state_size,), int64)`` (pad = n_items).
    Action: an item id (``Discrete(n_items)``) when ``slate_size == 1``, else a slate of ``slate_size`` item ids,
    best first (``MultiDiscrete``; a repeated id counts at its first position).
    Reward: the logged event's reward if the logged item is recommended, else 0.
    ``info``: ``logged_item``, ``event_type`` (0 click, 1 purchase), ``hit``, ``rank`` (1-based slate position, 0 if
    absent), ``session_index``, ``session_id``.

    ``dataset`` is a :class:`~recgym.SessionDataset` or a name/path for :func:`recgym.load_dataset`, which then gets
    ``data_dir``, ``state_size`` (default 10), the reward overrides and ``dataset_options``.
    ``session_order="sequential"``: the i-th ``reset()`` after ``reset(seed=...)`` (or after construction) plays
    session i of the split, wrapping around; ``"shuffle"``: a random permutation per pass, drawn from the seeded
    ``np_random``. ``reset(options={"session_index": i})`` plays session i and continues from there.
    ``max_sessions`` keeps only the first sessions of the split.
    """

    metadata = {"render_modes": []}

    def __init__(
        self,
        dataset: Any = "synthetic",
        *,
        data_dir: str | os.PathLike[str] | None = None,
        split: str = "val",
        slate_size: int = 1,
        reward_click: float | None = None,
        reward_purchase: float | None = None,
        state_size: int | None = None,
        session_order: str = "sequential",
        max_sessions: int | None = None,
        render_mode: str | None = None,
        **dataset_options: Any,
    ) -> None:
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        if session_order not in SESSION_ORDERS:
            raise ValueError(f"session_order must be one of {SESSION_ORDERS}, got {session_order!r}")
        if render_mode is not None:
            raise ValueError(f"RecReplayEnv has no render modes, got render_mode={render_mode!r}")
        check_number("slate_size", slate_size, at_least=1, integer=True)
        if state_size is not None:
            check_number("state_size", state_size, at_least=1, integer=True)
        if max_sessions is not None:
            check_number("max_sessions", max_sessions, at_least=1, integer=True)
        for name, value in (("reward_click", reward_click), ("reward_purchase", reward_purchase)):
            if value is not None:
                check_number(name, value)

        self.dataset = self._load(dataset, data_dir, state_size, reward_click, reward_purchase, dataset_options)
        self.split_name, self.slate_size, self.session_order = split, slate_size, session_order
        n_items = self.dataset.n_items
        check_number(f"slate_size (catalogue of {n_items} items)", slate_size, at_most=n_items, integer=True)
        events = self.dataset.split(split)
        self._observations, self._next_observations = events.observations, events.next_observations
        self._actions, self._event_types = events.actions, events.event_types
        self._rewards = self._event_rewards(events, reward_click, reward_purchase)
        self._starts, self._session_ids = events.episode_starts, events.session_ids
        self.n_sessions = len(self._session_ids) if max_sessions is None else min(max_sessions, len(self._session_ids))
        if self.n_sessions == 0:
            raise ValueError(f"split {split!r} of {self.dataset.name!r} has no sessions")

        self.observation_space = spaces.Box(0, n_items, (self.dataset.state_size,), np.int64)
        self.action_space = (
            spaces.Discrete(n_items) if slate_size == 1 else spaces.MultiDiscrete([n_items] * slate_size)
        )
        self._order: np.ndarray | None = None
        self._next_episode = 0
        self._session = -1
        self._row = self._end = 0

    @staticmethod
    def _load(
        dataset: Any,
        data_dir: Any,
        state_size: int | None,
        reward_click: float | None,
        reward_purchase: float | None,
        options: dict[str, Any],
    ) -> Any:
        if isinstance(dataset, (str, os.PathLike)):
            rewards: dict[str, Any] = {
                name: value
                for name, value in (("reward_click", reward_click), ("reward_purchase", reward_purchase))
                if value is not None
            }
            return load_dataset(dataset, data_dir=data_dir, state_size=state_size or 10, **rewards, **options)
        if data_dir is not None or options:
            raise ValueError(
                f"data_dir and dataset options ({', '.join(sorted(options)) or 'data_dir'}) apply only when dataset is a name or path"
            )
        if state_size is not None and state_size != dataset.state_size:
            raise ValueError(f"state_size={state_size} differs from the dataset's state_size={dataset.state_size}")
        return dataset

    def _event_rewards(self, events: Any, reward_click: float | None, reward_purchase: float | None) -> np.ndarray:
        """The split's logged rewards, or rewards recomputed from the event type when an override is given."""
        if reward_click is None and reward_purchase is None:
            return events.rewards
        click = self.dataset.reward_click if reward_click is None else reward_click
        purchase = self.dataset.reward_purchase if reward_purchase is None else reward_purchase
        return rewards_from_events(events.event_types, reward_click=click, reward_purchase=purchase)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        if seed is not None or self._order is None:
            self._order, self._next_episode = self._permutation(), 0
        options = options or {}
        unknown = set(options) - {"session_index"}
        if unknown:
            raise ValueError(f"unknown reset option(s) {sorted(unknown)}; valid: ['session_index']")
        if "session_index" in options:
            index = options["session_index"]
            check_number("session_index", index, at_least=0, below=self.n_sessions, integer=True)
            self._session = int(index)
            self._next_episode = int(np.flatnonzero(self._order == index)[0]) + 1
        else:
            if self._next_episode == len(self._order):
                self._order, self._next_episode = self._permutation(), 0
            self._session = int(self._order[self._next_episode])
            self._next_episode += 1
        self._row, self._end = int(self._starts[self._session]), int(self._starts[self._session + 1])
        info = {"session_index": self._session, "session_id": int(self._session_ids[self._session])}
        return self._observations[self._row].astype(np.int64), info

    def _permutation(self) -> np.ndarray:
        if self.session_order == "shuffle":
            return self.np_random.permutation(self.n_sessions)
        return np.arange(self.n_sessions)

    def step(self, action: Any) -> tuple[np.ndarray, SupportsFloat, bool, bool, dict[str, Any]]:
        if self._row >= self._end:
            raise RuntimeError("the episode has ended (or never started): call reset() first")
        slate = self._check_action(action)
        row = self._row
        logged = int(self._actions[row])
        positions = np.flatnonzero(slate == logged)
        rank = int(positions[0]) + 1 if len(positions) else 0
        reward = float(self._rewards[row]) if rank else 0.0
        self._row += 1
        info = {
            "logged_item": logged,
            "event_type": int(self._event_types[row]),
            "hit": bool(rank),
            "rank": rank,
            "session_index": self._session,
            "session_id": int(self._session_ids[self._session]),
        }
        return self._next_observations[row].astype(np.int64), reward, self._row == self._end, False, info

    def _check_action(self, action: Any) -> np.ndarray:
        return check_slate(action, self.slate_size, self.dataset.n_items)
