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

Splits (``split=``): ``"random"`` (the default, above) filters the whole log, then shuffles sessions. ``"temporal"``
orders sessions by their first event: the earliest ``train_fraction`` are train, the next ``val_fraction`` val, the
latest test; or, with cut-off times, sessions starting at or after ``test_start`` are test, those starting at or after
``val_start`` before it val (without ``val_start``, the latest ``val_fraction`` of the sessions before ``test_start``).
An explicit test (and val) log, given to :func:`apply_protocol` as ``held_out``, replaces the test (val) part; val
then comes from the main log (its latest ``val_fraction`` when temporal, a random one otherwise). With a temporal or
explicit split the item filter (``min_item_events``, with ``iterate_filters``) is counted on the train split only and
the session filters apply to each session on its own, so nothing about val/test leaks into the catalogue.
Items absent from the train split are counted per split; ``unseen_items="keep"`` leaves their events (a policy trained
on train can only miss them), ``"drop"`` removes those val/test events (sessions then left shorter than the session
filters are dropped too).

Session cross-validation (``n_folds``, ``fold``; random split only): the filtered sessions are shuffled with the
seed and cut into ``n_folds`` folds; fold ``fold`` is the test split, the first ``val_fraction`` of all sessions among
the others val, the rest train (``train_fraction`` is not used). For one seed every session is in exactly one test
fold across ``fold = 0 .. n_folds - 1``.

Duplicate events (same session, item, timestamp and type) are kept by default, as in the reference;
``drop_duplicates=True`` removes them before any filter.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from recgym.checks import check_number
from recgym.data.schema import EventType
from recgym.errors import InvalidOptionError, RecgymDataError

__all__ = [
    "PROTOCOLS",
    "SPLIT_MODES",
    "SPLIT_NAMES",
    "UNSEEN_ITEMS",
    "PreparedLog",
    "ProtocolConfig",
    "SplitEvents",
    "apply_protocol",
    "cutoff_ms",
    "protocol_config",
]

SPLIT_NAMES: tuple[str, ...] = ("train", "val", "test")
SPLIT_MODES: tuple[str, ...] = ("random", "temporal")
UNSEEN_ITEMS: tuple[str, ...] = ("keep", "drop")
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
    split_mode: str = "random"  # "random" or "temporal" (by session start)
    test_start: int | str | None = None  # temporal cut-off: ms since the epoch or an ISO-8601 date-time
    val_start: int | str | None = None  # temporal: start of val (before test_start); None: the latest val_fraction
    unseen_items: str = "keep"  # val/test events of items absent from train: "keep" or "drop"
    n_folds: int | None = None  # session cross-validation: the shuffled sessions in n_folds test folds
    fold: int = 0  # with n_folds: the fold that is the test split (0 .. n_folds - 1)

    def __post_init__(self) -> None:
        for name in ("min_session_clicks", "min_session_events", "min_item_events"):
            check_number(name, getattr(self, name), at_least=0, integer=True)
        for name in ("iterate_filters", "drop_duplicates"):
            if not isinstance(getattr(self, name), bool):
                raise InvalidOptionError(f"{name} must be True or False, got {getattr(self, name)!r}")
        if self.n_sample_sessions is not None:
            check_number("n_sample_sessions", self.n_sample_sessions, at_least=1, integer=True)
        fractions = (self.train_fraction, self.val_fraction)
        numbers = all(isinstance(f, (int, float)) and 0 < f < 1 for f in fractions)
        summed = sum(fractions) if numbers and self.n_folds is None else 0  # with folds, train is what is left
        if not numbers or summed >= 1:
            raise InvalidOptionError(
                f"train_fraction and val_fraction must be in (0, 1) with a sum below 1, got {fractions}"
            )
        if self.split_mode not in SPLIT_MODES:
            raise InvalidOptionError(f"split_mode must be one of {', '.join(SPLIT_MODES)}, got {self.split_mode!r}")
        if self.unseen_items not in UNSEEN_ITEMS:
            raise InvalidOptionError(
                f"unseen_items must be one of {', '.join(UNSEEN_ITEMS)}, got {self.unseen_items!r}"
            )
        if self.n_folds is not None:
            check_number("n_folds", self.n_folds, at_least=2, integer=True)
            check_number("fold", self.fold, at_least=0, below=self.n_folds, integer=True)
            if self.split_mode != "random":
                raise InvalidOptionError("n_folds (session cross-validation) needs split_mode='random'")
            if self.val_fraction + 1 / self.n_folds >= 1:
                raise InvalidOptionError(
                    f"val_fraction ({self.val_fraction}) and a test fold of 1/{self.n_folds} leave no train sessions"
                )
        elif self.fold != 0:
            raise InvalidOptionError("fold needs n_folds (the number of cross-validation folds)")
        if (self.test_start is not None or self.val_start is not None) and self.split_mode != "temporal":
            raise InvalidOptionError("test_start and val_start need split_mode='temporal'")
        if self.val_start is not None and self.test_start is None:
            raise InvalidOptionError("val_start needs test_start")
        if (
            self.test_start is not None
            and self.val_start is not None
            and cutoff_ms("val_start", self.val_start) >= cutoff_ms("test_start", self.test_start)
        ):
            raise InvalidOptionError(
                f"val_start must be before test_start, got {self.val_start!r} and {self.test_start!r}"
            )

    def key(self) -> dict[str, object]:
        """The fields as a dict, leaving out the split fields at their defaults and naming ``split_mode`` by its
        former name ``split`` (both keep older cache keys valid)."""
        defaults = ProtocolConfig.__dataclass_fields__
        return {
            "split" if name == "split_mode" else name: value
            for name, value in dataclasses.asdict(self).items()
            if name not in _SPLIT_FIELDS or value != defaults[name].default
        }


_SPLIT_FIELDS = ("split_mode", "test_start", "val_start", "unseen_items", "n_folds", "fold")


def cutoff_ms(name: str, value: object) -> int:
    """A cut-off time in ms since the epoch: an integer of ms, or an ISO-8601 date-time (UTC unless it has an offset)."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, str):
        moment = pd.to_datetime(value, utc=True, errors="coerce", format="ISO8601")
        if not pd.isna(moment):
            return int(moment.value // 1_000_000)
    raise InvalidOptionError(f"{name} must be ms since 1970 or an ISO-8601 date-time like 2016-05-01, got {value!r}")


PROTOCOLS: dict[str, ProtocolConfig] = {
    "rc15": ProtocolConfig(min_session_clicks=3, n_sample_sessions=200_000),
    "retailrocket": ProtocolConfig(min_session_events=3, min_item_events=3),
    "generic": ProtocolConfig(min_session_events=2),
}


def protocol_config(preset: str, **overrides: Any) -> ProtocolConfig:
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

    sessions: np.ndarray  # raw session ids (int32 or int64, as read)
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


def _filter_rows(
    session_codes: np.ndarray, items: np.ndarray, event_types: np.ndarray, config: ProtocolConfig
) -> np.ndarray:
    """Boolean row mask after the session and item filters (once, or to a fixed point).

    ``session_codes`` are 0..n-1 per session, ``items`` raw or coded item ids. A count is only taken when its filter
    can remove something (an item filter of 1 cannot: every kept row's item has that row), so the default protocol of
    a log of 216M events never codes its items.
    """
    n_sessions = int(session_codes.max()) + 1
    item_codes = None
    keep = np.ones(len(session_codes), dtype=bool)
    while True:
        before = int(keep.sum())
        kept_codes = session_codes if before == len(keep) else session_codes[keep]
        good_session = np.bincount(kept_codes, minlength=n_sessions) >= config.min_session_events
        del kept_codes
        if config.min_session_clicks > 0:
            clicks = np.bincount(session_codes[keep & (event_types == EventType.CLICK)], minlength=n_sessions)
            good_session &= clicks >= config.min_session_clicks
        keep &= good_session[session_codes]
        if config.min_item_events > 1:
            if item_codes is None:
                item_codes = _codes(items)
            item_events = np.bincount(item_codes[keep], minlength=int(item_codes.max()) + 1)
            keep &= (item_events >= config.min_item_events)[item_codes]
        if not config.iterate_filters or int(keep.sum()) == before:
            return keep


def _codes(values: np.ndarray) -> np.ndarray:
    """0..n-1 codes of the distinct values, in order of first appearance (int32 when they fit)."""
    codes, uniques = pd.factorize(values)
    return _narrow(codes, len(uniques))


def _narrow(codes: np.ndarray, n_codes: int) -> np.ndarray:
    """``codes`` (0..n_codes-1) as int32 when they fit: half the memory of pandas' int64 codes on a big log."""
    return codes.astype(np.int32) if n_codes <= np.iinfo(np.int32).max else codes


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


@dataclass(frozen=True)
class _Rows:
    """Events of one split before re-indexing: parallel arrays, raw ids (int32 or int64, as read)."""

    session: np.ndarray
    item: np.ndarray
    timestamp: np.ndarray
    event_type: np.ndarray

    @classmethod
    def of(cls, events: pd.DataFrame, mask: np.ndarray | None = None) -> _Rows:
        """The columns of ``events`` (views where their dtypes allow), or of its rows where ``mask`` is True."""
        columns = [events[name].to_numpy(dtype=dtype) for name, dtype in _ROW_COLUMNS]
        if mask is None or mask.all():
            return cls(*columns)
        return cls(*(column[mask] for column in columns))

    def where(self, mask: np.ndarray) -> _Rows:
        return _Rows(self.session[mask], self.item[mask], self.timestamp[mask], self.event_type[mask])


# ids stay as read (int32 or int64)
_ROW_COLUMNS = (("session_id", None), ("item_id", None), ("timestamp", np.int64), ("event_type", np.int8))


def _drop_duplicates(events: pd.DataFrame, config: ProtocolConfig) -> tuple[pd.DataFrame, int]:
    if not config.drop_duplicates:
        return events, 0
    repeated = events.duplicated(subset=["session_id", "item_id", "timestamp", "event_type"]).to_numpy()
    return (events.loc[~repeated] if repeated.any() else events), int(repeated.sum())


def _no_survivor(source: str, config: ProtocolConfig, n_sessions: int) -> RecgymDataError:
    filters = ", ".join(f"{name}={getattr(config, name)}" for name in _FILTER_FIELDS)
    return RecgymDataError(
        f"{source}: no session survives the protocol filters ({filters}) out of {n_sessions} "
        "sessions; lower them to keep shorter sessions or rarer items"
    )


def _session_filter(rows: _Rows, config: ProtocolConfig) -> _Rows:
    """The rows of the sessions that pass the session filters on their own events (no item filter)."""
    if not len(rows.session):
        return rows
    per_session = dataclasses.replace(config, min_item_events=0, iterate_filters=False)
    return rows.where(_filter_rows(_codes(rows.session), rows.item, rows.event_type, per_session))


def _random_split(
    events: pd.DataFrame, config: ProtocolConfig, rng: np.random.Generator, source: str
) -> tuple[dict[str, _Rows], dict[str, int]]:
    """Filter the whole log (session and item filters), sample, then shuffle whole sessions into the splits."""
    session_codes, session_uniques = pd.factorize(events["session_id"].to_numpy(), sort=True)
    session_codes = _narrow(session_codes, len(session_uniques))
    keep = _filter_rows(session_codes, events["item_id"].to_numpy(), events["event_type"].to_numpy(), config)

    kept_sessions = np.zeros(len(session_uniques), dtype=bool)
    kept_sessions[session_codes[keep]] = True
    filtered_sessions = int(kept_sessions.sum())
    if config.n_sample_sessions is not None and config.n_sample_sessions < filtered_sessions:
        chosen = rng.choice(np.flatnonzero(kept_sessions), size=config.n_sample_sessions, replace=False)
        kept_sessions[:] = False
        kept_sessions[chosen] = True
        keep &= kept_sessions[session_codes]
    if not keep.any():
        raise _no_survivor(source, config, len(session_uniques))

    rows = _Rows.of(events, keep)
    kept_codes = np.flatnonzero(kept_sessions)  # the kept sessions in ascending id
    split_of_code = np.empty(len(session_uniques), dtype=np.int8)
    for index, part in enumerate(_random_parts(len(kept_codes), config, rng)):
        split_of_code[kept_codes[part]] = index
    row_split = split_of_code[session_codes if len(rows.session) == len(keep) else session_codes[keep]]
    del session_codes, keep
    splits = {name: rows.where(row_split == index) for index, name in enumerate(SPLIT_NAMES)}
    return splits, {"raw_sessions": int(len(session_uniques)), "filtered_sessions": filtered_sessions}


def _random_parts(n: int, config: ProtocolConfig, rng: np.random.Generator) -> list[np.ndarray]:
    """Train, val and test positions of ``n`` shuffled sessions: by the fractions, or with ``n_folds`` the fold
    ``fold`` of ``np.array_split`` of the shuffled order as test (every session in exactly one test fold for one
    seed) and the first ``val_fraction`` of all sessions among the others as val."""
    order = rng.permutation(n)
    if config.n_folds is None:
        bounds = (int(config.train_fraction * n), int((config.train_fraction + config.val_fraction) * n))
        return np.split(order, bounds)
    folds = np.array_split(order, config.n_folds)
    rest = np.concatenate([fold for index, fold in enumerate(folds) if index != config.fold])
    n_val = int(config.val_fraction * n)
    return [rest[n_val:], rest[:n_val], folds[config.fold]]


ORDER_CHECK_ROWS = 1 << 20  # rows compared at a time by _in_event_order


def _in_event_order(rows: _Rows) -> bool:
    """Whether the rows are sorted by session, timestamp and event type already (a log written session by session in
    time order, as OTTO's and RC15's files are): then they need no sort, and no sorted copy."""
    last = len(rows.session) - 1
    for start in range(0, max(last, 0), ORDER_CHECK_ROWS):
        end = min(start + ORDER_CHECK_ROWS, last)
        before, after = slice(start, end), slice(start + 1, end + 1)
        session, following_session = rows.session[before], rows.session[after]
        time, following_time = rows.timestamp[before], rows.timestamp[after]
        kind, following_kind = rows.event_type[before], rows.event_type[after]
        not_later = (time < following_time) | ((time == following_time) & (kind <= following_kind))
        if not ((session < following_session) | ((session == following_session) & not_later)).all():
            return False
    return True


def _session_starts(rows: _Rows) -> tuple[np.ndarray, np.ndarray]:
    """Sessions in order of their first event (ties by session id), and those first timestamps."""
    sessions, inverse = np.unique(rows.session, return_inverse=True)
    starts = np.full(len(sessions), np.iinfo(np.int64).max)
    np.minimum.at(starts, inverse.reshape(-1), rows.timestamp)
    order = np.lexsort((sessions, starts))
    return sessions[order], starts[order]


def _latest(n: int, fraction: float) -> int:
    return int(round(fraction * n))


def _held_out_split(
    events: pd.DataFrame,
    held_out: Mapping[str, pd.DataFrame],
    config: ProtocolConfig,
    rng: np.random.Generator,
    source: str,
) -> tuple[dict[str, _Rows], dict[str, int]]:
    """Temporal or explicit split: sessions filtered on their own, then split; items filtered on train only."""
    main = _Rows.of(events)
    raw_sessions = len(np.unique(main.session))
    main = _session_filter(main, config)
    sessions = np.unique(main.session)
    filtered_sessions = len(sessions)
    if config.n_sample_sessions is not None and config.n_sample_sessions < filtered_sessions:
        sessions = np.sort(rng.choice(sessions, size=config.n_sample_sessions, replace=False))
        main = main.where(np.isin(main.session, sessions))
    if not len(sessions):
        raise _no_survivor(source, config, raw_sessions)

    parts = [name for name in ("train", "val", "test") if name not in held_out]  # what the main log provides
    if config.split_mode == "temporal":
        ordered, starts = _session_starts(main)
    else:
        ordered, starts = sessions[rng.permutation(len(sessions))], None
    n = len(ordered)
    if parts == ["train", "val", "test"]:  # temporal, no held-out log
        if config.test_start is None:
            bounds = [int(config.train_fraction * n), int((config.train_fraction + config.val_fraction) * n)]
        else:
            assert starts is not None  # cut-offs need split_mode="temporal" (ProtocolConfig refuses them otherwise)
            test_from = int(np.searchsorted(starts, cutoff_ms("test_start", config.test_start)))
            if config.val_start is None:
                val_from = test_from - _latest(test_from, config.val_fraction)
            else:
                val_from = int(np.searchsorted(starts, cutoff_ms("val_start", config.val_start)))
            bounds = [val_from, test_from]
    elif parts == ["train", "val"]:
        bounds = [n - _latest(n, config.val_fraction)]
    else:
        bounds = []
    groups = dict(zip(parts, np.split(ordered, bounds)))
    splits = {name: main.where(np.isin(main.session, members)) for name, members in groups.items()}
    splits.update({name: _session_filter(_Rows.of(held), config) for name, held in held_out.items()})

    train = splits["train"]
    if len(train.session):
        codes = _codes(train.session)
        splits["train"] = train.where(_filter_rows(codes, train.item, train.event_type, config))
    if not len(splits["train"].session):
        raise _no_survivor(source, config, raw_sessions)
    return splits, {"raw_sessions": raw_sessions, "filtered_sessions": filtered_sessions}


def apply_protocol(
    events: pd.DataFrame,
    config: ProtocolConfig,
    seed: int,
    *,
    source: str = "events",
    held_out: Mapping[str, pd.DataFrame] | None = None,
) -> PreparedLog:
    """Run the protocol on a canonical events table (see :mod:`recgym.data.schema`) with a seeded generator.

    ``source`` names the input in errors (a file, a folder or a dataset name). ``held_out`` holds explicit ``"test"``
    (and ``"val"``) event tables, encoded with the same item index.
    """
    if events.empty:
        raise RecgymDataError(f"{source}: the log has no events")
    held_out = dict(held_out or {})
    if set(held_out) - {"val", "test"} or ("val" in held_out and "test" not in held_out):
        raise InvalidOptionError(f"held-out logs are a test log and optionally a val log, got {sorted(held_out)}")
    if held_out and config.n_folds is not None:
        raise InvalidOptionError("n_folds (session cross-validation) makes the test split: give no explicit test= log")
    rng = np.random.default_rng(seed)
    raw_rows = len(events)
    events, duplicates = _drop_duplicates(events, config)
    held_out = {name: _drop_duplicates(held, config)[0] for name, held in held_out.items()}
    if config.split_mode == "random" and not held_out:
        rows, counts = _random_split(events, config, rng, source)
    else:
        rows, counts = _held_out_split(events, held_out, config, rng, source)

    seen = np.unique(rows["train"].item)
    dropped: dict[str, int] = {}
    if config.unseen_items == "drop":
        for name in ("val", "test"):
            unseen = ~np.isin(rows[name].item, seen)
            dropped[name] = int(unseen.sum())
            rows[name] = _session_filter(rows[name].where(~unseen), config)
    others = [np.unique(rows[name].item) for name in ("val", "test")]
    raw_item_ids = np.unique(np.concatenate([seen, *others]))  # of the splits' distinct items, not of every event
    splits = {}
    for name in SPLIT_NAMES:  # each split's unsorted rows are freed once it is sorted
        part = rows.pop(name)
        if not _in_event_order(part):
            order = np.lexsort((part.event_type, part.timestamp, part.session))
            part = _Rows(part.session[order], part.item[order], part.timestamp[order], part.event_type[order])
            del order
        encoded = np.searchsorted(raw_item_ids, part.item).astype(np.int64, copy=False)
        splits[name] = SplitEvents(part.session, encoded, part.event_type)
        del part, encoded

    n_items = len(raw_item_ids)
    train_counts = np.bincount(splits["train"].items, minlength=n_items).astype(np.float64)
    popularity = train_counts / max(train_counts.sum(), 1.0)
    in_train = train_counts > 0
    n_events = sum(len(split.items) for split in splits.values())
    n_sessions = sum(len(np.unique(split.sessions)) for split in splits.values())
    split_stats = {name: _split_stats(splits[name], in_train) for name in SPLIT_NAMES}
    for name, count in dropped.items():
        split_stats[name]["unseen_events_dropped"] = count
    stats: dict[str, object] = {
        "raw_events": raw_rows,
        "raw_sessions": counts["raw_sessions"],
        "duplicates_dropped": duplicates,
        "filtered_sessions": counts["filtered_sessions"],
        "sessions": n_sessions,
        "events": n_events,
        "n_items": n_items,
        "items_not_in_train": int((~in_train).sum()),
        "mean_session_length": n_events / n_sessions,
        "splits": split_stats,
    }
    return PreparedLog(
        splits=splits, raw_item_ids=raw_item_ids.astype(np.int64), item_popularity=popularity, stats=stats
    )
