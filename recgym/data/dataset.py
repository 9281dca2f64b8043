"""The processed dataset: the transitions of the train / val / test splits of one session log, its item index and
statistics, and its export to d3rlpy (:class:`SessionDataset`, built by :func:`recgym.load_dataset`)."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import d3rlpy
import numpy as np

from recgym.contract import bind_contract, item_index_fingerprint, split_fingerprint
from recgym.data.transitions import Split
from recgym.errors import InvalidOptionError, RecgymDataError

__all__ = ["SessionDataset"]


class SessionDataset:
    """Transitions of the train/val/test splits of one processed session log, plus item statistics.

    Items are 0..n_items-1 (``raw_item_ids[i]`` is the id in the source log), ``pad_id == n_items`` fills states.
    ``source`` names the input (a path or the dataset name) in messages; ``inputs`` are the content fingerprints
    (name, size, sha256) of the input files, so that a consumer can tell a changed input from the same one.
    ``load_arguments`` are the JSON arguments of :func:`~recgym.load_dataset` that rebuild it (None for an in-memory table).
    """

    def __init__(
        self,
        name: str,
        splits: Mapping[str, Split],
        raw_item_ids: np.ndarray,
        item_popularity: np.ndarray,
        *,
        state_size: int,
        reward_click: float,
        reward_purchase: float,
        stats: Mapping[str, Any],
        cache_dir: Path | None = None,
        source: str | None = None,
        inputs: Sequence[Mapping[str, Any]] = (),
        load_arguments: Mapping[str, Any] | None = None,
    ) -> None:
        self.name = name
        self.source = source or name
        self.inputs = [{k: v for k, v in fingerprint.items() if k != "mtime_ns"} for fingerprint in inputs]
        self.raw_item_ids = raw_item_ids
        self.n_items = int(len(raw_item_ids))
        self.pad_id = self.n_items
        self.state_size = state_size
        self.reward_click = reward_click
        self.reward_purchase = reward_purchase
        self.item_popularity = item_popularity
        self.cache_dir = cache_dir
        self.load_arguments = dict(load_arguments) if load_arguments is not None else None
        self._splits = dict(splits)
        self._stats = dict(stats)

    def __repr__(self) -> str:
        sizes = ", ".join(f"{name}={split.n_sessions} sessions" for name, split in self._splits.items())
        return f"SessionDataset({self.name!r}, n_items={self.n_items}, state_size={self.state_size}, {sizes})"

    @functools.cached_property
    def item_index_fingerprint(self) -> str:
        """A fingerprint of the item index (:func:`recgym.contract.item_index_fingerprint` of ``raw_item_ids``)."""
        return item_index_fingerprint(self.raw_item_ids)

    @functools.cached_property
    def train_fingerprint(self) -> str:
        """A fingerprint of the train split (:func:`recgym.contract.split_fingerprint` of its sessions, items and
        event types): another split seed, other fractions or another synthetic world give another one."""
        train = self.split("train")
        return split_fingerprint(train.session_ids, train.episode_starts, train.actions, train.event_types)

    def split(self, name: str) -> Split:
        """The transitions of ``"train"``, ``"val"`` or ``"test"``."""
        if name not in self._splits:
            raise InvalidOptionError(f"unknown split {name!r}; valid: {', '.join(self._splits)}")
        return self._splits[name]

    def empty_splits(self) -> list[str]:
        """The names of the splits without any session (a small log split 80/10/10 can leave val or test empty)."""
        return [name for name, split in self._splits.items() if split.n_sessions == 0]

    def require_nonempty(self, *splits: str) -> None:
        """Raise RecgymDataError naming the input and the split when one of ``splits`` (default: all) is empty.

        :func:`~recgym.load_dataset` only warns about an empty split; whatever needs one (checkpoint selection on val, a
        test report) calls this first.
        """
        for name in splits or tuple(self._splits):
            if self.split(name).n_sessions == 0:
                raise RecgymDataError(self._empty_split_message(name))

    def _empty_split_message(self, name: str) -> str:
        sessions = sum(split.n_sessions for split in self._splits.values())
        arguments = self.load_arguments or {}
        cutoffs = {key: arguments[key] for key in ("test_start", "val_start") if arguments.get(key) is not None}
        advice = (
            f"no session starts in its time window: move {', '.join(f'{k}={v}' for k, v in cutoffs.items())} "
            "inside the log's time span"
            if cutoffs and name in ("val", "test")
            else "use a longer log, or other train_fraction / val_fraction"
        )
        return f"{self.source}: the {name} split is empty ({sessions} sessions survive the protocol); {advice}"

    def stats(self) -> dict[str, Any]:
        """Counts before and after the protocol, per split sessions/events/clicks/purchases/OOV rate, and settings."""
        return {
            "name": self.name,
            "n_items": self.n_items,
            "pad_id": self.pad_id,
            "state_size": self.state_size,
            "reward_click": self.reward_click,
            "reward_purchase": self.reward_purchase,
            **json.loads(json.dumps(self._stats)),
        }

    def to_d3rlpy(self, split: str = "train") -> d3rlpy.dataset.MDPDataset:
        """A d3rlpy MDPDataset of one split: int32 (N, state_size) observations, one episode per session.

        d3rlpy takes the next observation from the next row of the episode (our next state) and zeros at terminals.
        ``action_size`` is ``n_items`` even when some items never occur in the split. The MDPDataset carries this
        dataset's :class:`~recgym.contract.DatasetContract`, which a recgym agent trained on it keeps.
        """
        data = self.split(split)
        mdp = d3rlpy.dataset.MDPDataset(
            observations=data.observations,
            actions=data.actions,
            rewards=data.rewards,
            terminals=data.terminals.astype(np.float32),
            action_space=d3rlpy.ActionSpace.DISCRETE,
            action_size=self.n_items,
        )
        bind_contract(mdp, self)
        return mdp
