"""The benchmark preprocessing protocol: filter, sample, sort, re-index items, split by session; seeded.

Presets (:data:`PROTOCOLS`) follow the reference code with the fixes of reference-protocol §7:

- ``"rc15"``: keep sessions with more than 2 clicks (``min_session_clicks=3``; buys do not count), then sample
  ``n_sample_sessions=200_000`` sessions uniformly without replacement.
- ``"retailrocket"``: drop sessions with <= 2 events, then items with <= 2 events, in one pass as the reference does
  (some sessions fall back to <= 2 events); ``iterate_filters=True`` repeats both filters until nothing changes.
- ``"generic"``: sessions with at least 2 events, every item kept; tune ``min_session_events`` / ``min_item_events``.

Then, for every preset: events are sorted stably by (session, timestamp, event type), so a click precedes a purchase
at equal timestamps; items of the kept events (clicks and purchases) are re-indexed 0..n-1 in sorted raw-id order,
the pad id being n; sessions are shuffled with the seeded generator and split 80/10/10. Item popularity comes from
the train split only, and the share of val/test events whose item never occurs in train is reported (OOV rate).

Duplicate events (same session, item, timestamp and type) are kept by default, as in the reference;
``drop_duplicates=True`` removes them before any filter.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd

from recgym.data.schema import EventType
from recgym.errors import InvalidOptionError, RecgymDataError

__all__ = [
    "PROTOCOLS",
    "SPLIT_NAMES",
    "PreparedLog",
    "ProtocolConfig",
    "SplitEvents",
    "apply_protocol",
    "protocol_config",
]

SPLIT_NAMES: tuple[str, ...] = ("train", "val", "test")
_FILTER_FIELDS = ("min_session_clicks", "min_session_events", "min_item_events")


@dataclass(frozen=True)
class ProtocolConfig:
    """Parameters of the preprocessing protocol (see the module docstring for the presets)."""

    min_session_clicks: int = 0  # sessions need at least this many CLICK events
    min_session_events: int = 1  # sessions need at least this many events of any type
    min_item_events: int = 1  # items need at least this many events (counted after the session filters)
    iterate_filters: bool = False  # repeat the session and item filters until a fixed point
    n_sample_sessions: int | None = None  # uniform sample of the filtered sessions, without replacement; None keeps all
    drop_duplicates: bool = False  # drop repeated (session, item, timestamp, event type) rows before filtering
    train_fraction: float = 0.8
    val_fraction: float = 0.1  # the test split gets the rest

    def __post_init__(self) -> None:
        for name in ("min_session_clicks", "min_session_events", "min_item_events"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
                raise InvalidOptionError(f"{name} must be an integer >= 0, got {value!r}")
        for name in ("iterate_filters", "drop_duplicates"):
            if not isinstance(getattr(self, name), bool):
                raise InvalidOptionError(f"{name} must be True or False, got {getattr(self, name)!r}")
        n = self.n_sample_sessions
        if n is not None and (isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1):
            raise InvalidOptionError(f"n_sample_sessions must be an integer >= 1 or None, got {n!r}")
        fractions = (self.train_fraction, self.val_fraction)
        if not all(isinstance(f, (int, float)) and 0 < f < 1 for f in fractions) or sum(fractions) >= 1:
            raise InvalidOptionError(
                f"train_fraction and val_fraction must be in (0, 1) with a sum below 1, got {fractions}"
            )


PROTOCOLS: dict[str, ProtocolConfig] = {
    "rc15": ProtocolConfig(min_session_clicks=3, n_sample_sessions=200_000),
    "retailrocket": ProtocolConfig(min_session_events=3, min_item_events=3),
    "generic": ProtocolConfig(min_session_events=2),
}


def protocol_config(preset: str, **overrides: object) -> ProtocolConfig:
    """A preset of :data:`PROTOCOLS` with some fields replaced; unknown names or bad values raise InvalidOptionError."""
    if preset not in PROTOCOLS:
        raise InvalidOptionError(f"unknown protocol {preset!r}; valid: {', '.join(PROTOCOLS)}")
    valid = [field.name for field in dataclasses.fields(ProtocolConfig)]
    unknown = sorted(set(overrides) - set(valid))
    if unknown:
        raise InvalidOptionError(f"unknown protocol option(s) {', '.join(unknown)}; valid: {', '.join(valid)}")
    return dataclasses.replace(PROTOCOLS[preset], **overrides)


@dataclass(frozen=True)
class SplitEvents:
    """Sorted events of one split: parallel arrays, sessions contiguous in ascending session id."""

    sessions: np.ndarray  # int64 raw session ids
    items: np.ndarray  # int64 encoded item ids
    event_types: np.ndarray  # int8


@dataclass(frozen=True)
class PreparedLog:
    """Output of :func:`apply_protocol`."""

    splits: dict[str, SplitEvents]
    raw_item_ids: np.ndarray  # (n_items,) int64: encoded id i is raw id raw_item_ids[i]
    item_popularity: np.ndarray  # (n_items,) float64 share of train events per item
    stats: dict[str, object]

    @property
    def n_items(self) -> int:
        return int(len(self.raw_item_ids))


def _filter_rows(session_codes: np.ndarray, item_codes: np.ndarray, is_click: np.ndarray, config: ProtocolConfig) -> np.ndarray:
    """Boolean row mask after the session and item filters (once, or to a fixed point)."""
    n_sessions = int(session_codes.max()) + 1
    n_items = int(item_codes.max()) + 1
    keep = np.ones(len(session_codes), dtype=bool)
    while True:
        before = int(keep.sum())
        events = np.bincount(session_codes, weights=keep, minlength=n_sessions)
        clicks = np.bincount(session_codes, weights=keep & is_click, minlength=n_sessions)
        good_session = (events >= config.min_session_events) & (clicks >= config.min_session_clicks)
        keep &= good_session[session_codes]
        item_events = np.bincount(item_codes, weights=keep, minlength=n_items)
        keep &= (item_events >= config.min_item_events)[item_codes]
        if not config.iterate_filters or int(keep.sum()) == before:
            return keep


def _split_stats(events: SplitEvents, train_items: np.ndarray) -> dict[str, float | int]:
    n_events = len(events.items)
    n_sessions = len(np.unique(events.sessions))
    purchases = int((events.event_types == EventType.PURCHASE).sum())
    oov = ~train_items[events.items] if n_events else np.zeros(0, dtype=bool)
    return {
        "sessions": n_sessions,
        "events": n_events,
        "clicks": n_events - purchases,
        "purchases": purchases,
        "mean_session_length": n_events / n_sessions if n_sessions else 0.0,
        "oov_events": int(oov.sum()),
        "oov_rate": float(oov.mean()) if n_events else 0.0,
    }


def apply_protocol(events: pd.DataFrame, config: ProtocolConfig, seed: int, *, source: str = "events") -> PreparedLog:
    """Run the protocol on a canonical events table (see :mod:`recgym.data.schema`) with a seeded generator.

    ``source`` names the input in errors (a file, a folder or a dataset name).
    """
    if events.empty:
        raise RecgymDataError(f"{source}: the log has no events")
    rng = np.random.default_rng(seed)
    raw_rows = len(events)
    duplicates = 0
    if config.drop_duplicates:
        repeated = events.duplicated(subset=["session_id", "item_id", "timestamp", "event_type"]).to_numpy()
        duplicates = int(repeated.sum())
        if duplicates:
            events = events.loc[~repeated]
    session = events["session_id"].to_numpy(dtype=np.int64)
    item = events["item_id"].to_numpy(dtype=np.int64)
    session_codes, session_uniques = pd.factorize(session, sort=True)
    item_codes, _ = pd.factorize(item)
    is_click = events["event_type"].to_numpy() == EventType.CLICK
    keep = _filter_rows(session_codes, item_codes, is_click, config)

    kept_sessions = np.zeros(len(session_uniques), dtype=bool)
    kept_sessions[session_codes[keep]] = True
    filtered_sessions = int(kept_sessions.sum())
    if config.n_sample_sessions is not None and config.n_sample_sessions < filtered_sessions:
        chosen = rng.choice(np.flatnonzero(kept_sessions), size=config.n_sample_sessions, replace=False)
        kept_sessions[:] = False
        kept_sessions[chosen] = True
        keep &= kept_sessions[session_codes]
    if not keep.any():
        filters = ", ".join(f"{name}={getattr(config, name)}" for name in _FILTER_FIELDS)
        raise RecgymDataError(
            f"{source}: no session survives the protocol filters ({filters}) out of {len(session_uniques)} "
            "sessions; lower them to keep shorter sessions or rarer items"
        )

    rows = np.flatnonzero(keep)
    session, item = session[rows], item[rows]
    timestamp = events["timestamp"].to_numpy(dtype=np.int64)[rows]
    event_type = events["event_type"].to_numpy(dtype=np.int8)[rows]
    order = np.lexsort((event_type, timestamp, session))
    session, item, event_type = session[order], item[order], event_type[order]
    raw_item_ids, encoded = np.unique(item, return_inverse=True)
    encoded = encoded.astype(np.int64).reshape(-1)

    unique_sessions = session_uniques[kept_sessions].astype(np.int64)  # ascending
    n = len(unique_sessions)
    bounds = (int(config.train_fraction * n), int((config.train_fraction + config.val_fraction) * n))
    split_of_session = np.empty(n, dtype=np.int8)
    for index, part in enumerate(np.split(rng.permutation(n), bounds)):
        split_of_session[part] = index
    row_split = split_of_session[np.searchsorted(unique_sessions, session)]
    splits = {
        name: SplitEvents(session[row_split == index], encoded[row_split == index], event_type[row_split == index])
        for index, name in enumerate(SPLIT_NAMES)
    }

    n_items = len(raw_item_ids)
    train_counts = np.bincount(splits["train"].items, minlength=n_items).astype(np.float64)
    popularity = train_counts / max(train_counts.sum(), 1.0)
    in_train = train_counts > 0
    stats: dict[str, object] = {
        "raw_events": raw_rows,
        "raw_sessions": int(len(session_uniques)),
        "duplicates_dropped": duplicates,
        "filtered_sessions": filtered_sessions,
        "sessions": n,
        "events": int(len(session)),
        "n_items": n_items,
        "items_not_in_train": int((~in_train).sum()),
        "mean_session_length": len(session) / n,
        "splits": {name: _split_stats(splits[name], in_train) for name in SPLIT_NAMES},
    }
    return PreparedLog(splits=splits, raw_item_ids=raw_item_ids.astype(np.int64), item_popularity=popularity, stats=stats)
