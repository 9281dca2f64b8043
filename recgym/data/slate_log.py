"""A slate log: what a recommender showed, with what probability, and what the users did, one row per step.

:func:`recgym.worlds.log_sessions` writes one by playing a logging policy in a live world; :func:`slate_log_splits`
turns it into the train / val / test transitions of ``recgym.load_dataset(log)`` (or of ``load_dataset("log.npz")``),
whose rows carry the slate shown and its propensities. The file is one ``.npz`` of arrays and a JSON card: no pickle.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from recgym.checks import check_number
from recgym.data.cache import write_npz
from recgym.data.protocol import SPLIT_NAMES
from recgym.data.schema import EventType
from recgym.data.transitions import Split, build_split
from recgym.errors import RecgymDataError

__all__ = ["LOG_ARRAYS", "SlateLog", "is_slate_log", "slate_log_splits"]

LOG_ARRAYS = (
    "session",
    "step",
    "observations",
    "slates",
    "propensities",
    "clicked",
    "position",
    "purchased",
    "reward",
)


@dataclasses.dataclass(frozen=True, repr=False)
class SlateLog:
    """One row per logged step, session-major and in step order; item ids are the world's dataset ids.

    ``session`` (N,) the session's index, ``step`` (N,) its click number from 0, ``observations`` (N, state_size) the
    state the logger saw, ``slates`` (N, k) what it showed, ``propensities`` (N, k) its probability of each shown item
    at its position, ``clicked`` (N,) the item clicked, ``position`` (N,) its 1-based slate position (0: organic),
    ``purchased`` (N,) whether the click led to a purchase, ``reward`` (N,) the step's reward. ``card``: the world,
    the logger and the counts that produced it.
    """

    session: np.ndarray
    step: np.ndarray
    observations: np.ndarray
    slates: np.ndarray
    propensities: np.ndarray
    clicked: np.ndarray
    position: np.ndarray
    purchased: np.ndarray
    reward: np.ndarray
    card: dict[str, Any]

    def __len__(self) -> int:
        return int(self.session.shape[0])

    def __repr__(self) -> str:
        sessions = len(np.unique(self.session))
        return (
            f"SlateLog({len(self)} steps, {sessions} sessions, slates of {self.slates.shape[1]}, {self.card['logger']})"
        )

    def position_rewards(self) -> np.ndarray:
        """(N, k) the step's reward at the clicked slate position, 0 elsewhere (organic clicks: all 0): the rewards
        of :func:`recgym.ope.slate_ips`."""
        rewards = np.zeros(self.slates.shape)
        from_slate = np.flatnonzero(self.position > 0)
        rewards[from_slate, self.position[from_slate] - 1] = self.reward[from_slate]
        return rewards

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the log as one ``.npz`` (arrays, and the card as JSON; no pickle), whole or not at all. The bytes
        depend on the log only, so the same log gives the same file and content hash."""
        arrays = {"card": np.array(json.dumps(self.card)), **{name: getattr(self, name) for name in LOG_ARRAYS}}
        return write_npz(path, arrays)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> SlateLog:
        """Read a log written by :meth:`save`; RecgymDataError in one line if the file is not one."""
        try:
            with np.load(Path(path), allow_pickle=False) as data:
                arrays = {name: data[name] for name in LOG_ARRAYS}
                card = json.loads(str(data["card"]))
        except (OSError, KeyError, ValueError) as error:
            raise RecgymDataError(f"{path}: not a slate log written by SlateLog.save ({error})") from None
        return cls(**arrays, card=card)


def slate_log_splits(
    log: SlateLog,
    *,
    state_size: int,
    train_fraction: float,
    val_fraction: float,
    seed: int,
    reward_click: float,
    reward_purchase: float,
) -> tuple[dict[str, Split], np.ndarray, dict[str, Any]]:
    """The splits of a log, the train item popularity (share of train events) and the per-split counts.

    Sessions are split at random (``seed``) into train / val / test; each session's clicks come in step order, then its
    purchases (checked out after the last click, as in the generator's logs), so a click row's state is the state the
    logger saw (at the logger's state size). Click rows carry the slate and its propensities; purchase rows pad ids
    and NaN.
    """
    check_number("train_fraction", train_fraction, above=0, below=1)
    check_number("val_fraction", val_fraction, at_least=0, below=1 - train_fraction)
    n_items = int(log.card["world"]["n_items"])
    sessions = np.unique(log.session)
    order = np.random.default_rng(seed).permutation(len(sessions))
    bounds = (int(train_fraction * len(sessions)), int((train_fraction + val_fraction) * len(sessions)))
    split_of = np.empty(int(sessions.max()) + 1 if len(sessions) else 0, dtype=np.int64)
    for index, part in enumerate(np.split(order, bounds)):
        split_of[sessions[part]] = index

    bought = np.flatnonzero(log.purchased)
    row_of = np.concatenate([np.arange(len(log)), bought])
    phase = np.repeat([0, 1], [len(log), len(bought)])
    rows = np.lexsort((log.step[row_of], phase, log.session[row_of]))
    row_of, phase = row_of[rows], phase[rows]
    event_type = np.where(phase == 0, EventType.CLICK, EventType.PURCHASE).astype(np.int8)
    slates = np.where(phase[:, None] == 0, log.slates[row_of], n_items)
    propensities = np.where(phase[:, None] == 0, log.propensities[row_of], np.nan)

    splits, counts = {}, {}
    for index, name in enumerate(SPLIT_NAMES):
        keep = split_of[log.session[row_of]] == index
        split = build_split(
            log.session[row_of][keep],
            log.clicked[row_of][keep],
            event_type[keep],
            state_size=state_size,
            pad_id=n_items,
            reward_click=reward_click,
            reward_purchase=reward_purchase,
        )
        splits[name] = dataclasses.replace(split, slates=slates[keep], propensities=propensities[keep])
        counts[name] = {
            "sessions": split.n_sessions,
            "events": split.n_transitions,
            "clicks": int((event_type[keep] == EventType.CLICK).sum()),
            "purchases": int((event_type[keep] == EventType.PURCHASE).sum()),
            "slate_clicks": int((log.position[row_of][keep & (phase == 0)] > 0).sum()),
        }
    train = splits["train"]
    popularity = np.bincount(train.actions, minlength=n_items) / max(train.n_transitions, 1)
    return splits, popularity, counts


def is_slate_log(source: Any) -> bool:
    """A :class:`SlateLog`, or a path to the ``.npz`` one is saved as (what ``load_dataset`` reads as a slate log)."""
    if isinstance(source, SlateLog):
        return True
    return isinstance(source, (str, os.PathLike)) and Path(source).suffix.lower() == ".npz"
