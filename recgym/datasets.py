"""Public entry point: ``recgym.load_dataset(...)`` turns a named benchmark, a log file or the synthetic generator
into a cached :class:`~recgym.data.dataset.SessionDataset` (transitions per split, item popularity, statistics).

The first call resolves the input (:mod:`recgym.data.sources`), reads the raw log, runs the protocol
(:mod:`recgym.data.protocol`), builds the transitions (:mod:`recgym.data.transitions`) and writes the cache
(:mod:`recgym.data.cache`); later calls with the same parameters and unchanged input files reload the cache. The cache
sits in ``cache_dir``, else ``$RECGYM_CACHE``, else ``data_dir/processed``, so raw data on a read-only mount can be
prepared elsewhere. Options come as keywords or typed groups (:mod:`recgym.data.options`).
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from recgym.checks import check_number
from recgym.data.cache import (
    FORMAT_VERSION,
    check_writable,
    file_fingerprint,
    read_cache,
    read_hash_memo,
    write_cache,
    write_hash_memo,
)
from recgym.data.dataset import SessionDataset
from recgym.data.options import REWARD_OPTIONS, DatasetOptions, Rewards, dataset_options
from recgym.data.protocol import SPLIT_NAMES, PreparedLog, ProtocolConfig, apply_protocol
from recgym.data.slate_log import SlateLog, is_slate_log, slate_log_splits
from recgym.data.sources import (
    DATASET_NAMES,
    Input,
    Source,
    default_data_dir,
    is_table,
    log_source,
    resolve_source,
    sessionised,
)
from recgym.data.transitions import Split, build_split, rewards_from_events
from recgym.errors import DatasetNotFoundError, InvalidOptionError

__all__ = ["DATASET_NAMES", "SessionDataset", "default_data_dir", "load_dataset"]

_STORED_SPLIT_ARRAYS = ("actions", "terminals", "event_types", "episode_starts", "session_ids")
"""What the cache keeps of a split; its state windows are rebuilt from the actions on first use."""
_STORED_LAYOUT = {"items": ("raw_item_ids", "item_popularity"), **{name: _STORED_SPLIT_ARRAYS for name in SPLIT_NAMES}}


def _cache_location(cache_dir: str | os.PathLike[str] | None, data_dir: Path) -> Path:
    """``cache_dir``, else ``$RECGYM_CACHE``, else ``data_dir/processed``."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    if os.environ.get("RECGYM_CACHE"):
        return Path(os.environ["RECGYM_CACHE"]).expanduser()
    return data_dir / "processed"


def _build(
    source: Source, held_out: Mapping[str, Source], config: ProtocolConfig, state_size: int, seed: int, progress: bool
) -> tuple[dict, dict]:
    with tqdm(total=3, desc=f"preparing {source.name}", unit="step", disable=not progress) as bar:
        bar.set_postfix_str("reading")
        events = source.read(progress)
        held = {name: part.read(progress) for name, part in held_out.items()}
        bar.update()
        bar.set_postfix_str("protocol")
        prepared: PreparedLog = apply_protocol(events, config, seed, source=source.where, held_out=held)
        del events, held
        bar.update()
        bar.set_postfix_str("transitions")
        groups: dict[str, dict[str, np.ndarray]] = {
            "items": {"raw_item_ids": prepared.raw_item_ids, "item_popularity": prepared.item_popularity}
        }
        for name in SPLIT_NAMES:
            events_of_split = prepared.splits[name]
            split = build_split(
                events_of_split.sessions,
                events_of_split.items,
                events_of_split.event_types,
                state_size=state_size,
                pad_id=prepared.n_items,
            )
            groups[name] = {array: getattr(split, array) for array in _STORED_SPLIT_ARRAYS}
        bar.update()
    return groups, prepared.stats


def _load_arguments(name_or_path: Input, common: dict[str, Any], options: DatasetOptions) -> dict[str, Any] | None:
    """The keywords that rebuild this dataset, as JSON (paths as text), or None when an input is an in-memory table."""

    def plain(value: Any) -> Any:
        if is_table(value):
            raise TypeError("an in-memory table")
        if isinstance(value, os.PathLike):
            return str(Path(value).expanduser().resolve())
        if isinstance(value, Mapping):
            return {str(key): plain(item) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return [plain(item) for item in value]
        return value

    arguments = {
        **common,
        **options.reader,
        "protocol": options.protocol,
        **options.protocol_overrides,
        **options.reward_overrides,
        "session_gap_minutes": options.session_gap_minutes,
        **options.held_out,
    }
    try:
        loaded = plain({"dataset": name_or_path, **{k: v for k, v in arguments.items() if v is not None}})
        return json.loads(json.dumps(loaded))
    except (TypeError, ValueError):
        return None


def load_dataset(
    name_or_path: Input,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    state_size: int = 10,
    seed: int = 0,
    progress: bool = False,
    reader: Mapping[str, Any] | None = None,
    protocol: str | ProtocolConfig | None = None,
    rewards: Rewards | None = None,
    **options: Any,
) -> SessionDataset:
    """Load a processed dataset, building and caching it on first use.

    ``name_or_path``: ``"synthetic"`` (options: the fields of ``SyntheticConfig`` and ``generator_seed``), ``"rc15"``
    (raw files in ``data_dir`` or ``data_dir/rc15``), ``"retailrocket"`` (``events.csv``; reader option
    ``purchase_event``); a recommender's slate log (:class:`~recgym.data.slate_log.SlateLog` or its ``.npz``); or a
    log: a path (a file, or a folder of RC15 / RetailRocket files), a list of files of one format,
    ``{"click": path(s), "purchase": path(s)}`` (each file's rows get its key's event type), or a pandas DataFrame /
    pyarrow Table of events.

    Options, as keywords or as one object per group (:mod:`recgym.data.options`; a setting given both ways is refused):

    - ``reader``: the reader options of :func:`~recgym.data.readers.read_table` (``columns``, ``names``, ``sep``,
      ``event_types``, ``timestamp_unit``; ``columns`` may be {file name: mapping}), or the generator's fields;
    - ``protocol``: a preset of :data:`recgym.data.protocol.PROTOCOLS` (default: the dataset's) or a
      :class:`~recgym.data.protocol.ProtocolConfig`, and any of its fields as keywords (``split_mode="temporal"``,
      ``test_start``, ``unseen_items``...);
    - ``rewards``: a :class:`~recgym.data.options.Rewards`, or ``reward_click`` (0.2) / ``reward_purchase`` (1.0);
    - ``session_gap_minutes`` (sessions = runs of one user's events without a longer gap, for every input), ``test`` /
      ``val`` (an explicit test, and val, log of the same kinds, read with the same options and encoded with the
      training item index).

    ``data_dir`` defaults to :func:`~recgym.data.sources.default_data_dir`. The cache lives in
    ``<cache_dir>/<name>-<key>``, ``cache_dir`` defaulting to ``$RECGYM_CACHE``, else ``data_dir/processed``; a build
    into a location that cannot be written stops with :class:`~recgym.errors.CacheLocationError` before reading
    anything (a valid cache there still loads). An empty split gives a RuntimeWarning naming the input and the split;
    :meth:`SessionDataset.require_nonempty` turns it into an error for callers that need the split. ``split=`` for the
    split mode is the former name of ``split_mode=``: still accepted, with a FutureWarning (elsewhere ``split`` names a
    split: "train", "val", "test").
    """
    grouped = dataset_options(options, reader=reader, protocol=protocol, rewards=rewards)
    check_number("state_size", state_size, at_least=1, integer=True)
    check_number("seed", seed, at_least=0, integer=True)
    common = {"data_dir": data_dir, "cache_dir": cache_dir, "state_size": state_size, "seed": seed}
    load_arguments = _load_arguments(name_or_path, common, grouped)
    if is_slate_log(name_or_path):
        return _logged_dataset(name_or_path, int(state_size), int(seed), grouped, load_arguments)
    chosen_rewards = grouped.rewards()
    root = Path(data_dir).expanduser() if data_dir is not None else default_data_dir()
    source = resolve_source(name_or_path, root, grouped.reader)
    config = grouped.protocol_for(source.protocol)
    gap = grouped.session_gap_minutes
    needs_time = (
        "split_mode='temporal'" if config.split_mode == "temporal" else ("session_gap_minutes" if gap else None)
    )
    source = sessionised(source, gap, needs_time)
    held_out = {
        name: sessionised(log_source(log, grouped.reader, role=f"{name}="), gap, needs_time)
        for name, log in grouped.held_out.items()
    }

    parameters = {
        "dataset": source.name,
        "source": {**source.parameters, **{name: held.parameters for name, held in held_out.items()}},
        "protocol": config.key(),
        "state_size": int(state_size),
        "seed": int(seed),
    }
    digest = hashlib.sha256(json.dumps(parameters, sort_keys=True, default=str).encode()).hexdigest()[:16]
    location = _cache_location(cache_dir, root) / f"{source.name}-{digest}"
    inputs = [item for part in (source, *held_out.values()) for item in part.inputs]
    remembered = read_hash_memo(location.parent)
    memo = dict(remembered)
    key = {
        "format_version": FORMAT_VERSION,
        "parameters": json.loads(json.dumps(parameters, default=str)),
        "inputs": [item if isinstance(item, dict) else file_fingerprint(item, memo) for item in inputs],
    }
    cached = read_cache(location, key, _STORED_LAYOUT)
    if cached is None:
        check_writable(location.parent)
        groups, stats = _build(source, held_out, config, int(state_size), int(seed), progress)
        write_cache(location, key, groups, stats)
    else:
        groups, stats = cached
    if memo != remembered:  # a cache stands there now: keep the hashes for its next load
        write_hash_memo(location.parent, memo)
    splits = {
        name: Split(
            rewards=rewards_from_events(groups[name]["event_types"], **chosen_rewards.keywords()),
            state_size=int(state_size),
            pad_id=len(groups["items"]["raw_item_ids"]),
            **{array: groups[name][array] for array in _STORED_SPLIT_ARRAYS},
        )
        for name in SPLIT_NAMES
    }
    dataset = SessionDataset(
        source.name,
        splits,
        groups["items"]["raw_item_ids"],
        groups["items"]["item_popularity"],
        state_size=int(state_size),
        stats=stats,
        cache_dir=location,
        source=source.where,
        inputs=key["inputs"],
        load_arguments=load_arguments,
        reward_click=chosen_rewards.click,
        reward_purchase=chosen_rewards.purchase,
    )
    for name in dataset.empty_splits():
        warnings.warn(f"recgym: {dataset._empty_split_message(name)}", RuntimeWarning, stacklevel=2)
    for name, counts in dataset.stats().get("splits", {}).items():
        if name != "train" and counts.get("events") and counts.get("oov_rate") == 1.0:
            warnings.warn(
                f"recgym: {dataset.source}: every event of the {name} split is of an item never seen in train "
                f"(oov_rate 1): no model can rank them; is the {name} log from another catalogue?",
                RuntimeWarning,
                stacklevel=2,
            )
    return dataset


_LOGGED_PROTOCOL_OPTIONS = ("train_fraction", "val_fraction")
"""The protocol settings a slate log takes: its sessions are split at random, nothing is filtered."""


def _logged_dataset(
    log: SlateLog | str | os.PathLike[str],
    state_size: int,
    seed: int,
    options: DatasetOptions,
    load_arguments: dict[str, Any] | None,
) -> SessionDataset:
    """The dataset of a recommender's slate log: its sessions split at random (``seed``), the world's item index, the
    slates and propensities on the rows (:func:`~recgym.data.slate_log.slate_log_splits`); nothing is cached."""
    unknown = sorted(
        {*options.reader, *(set(options.protocol_overrides) - set(_LOGGED_PROTOCOL_OPTIONS)), *options.held_out}
        | ({"protocol"} if options.protocol else set())
        | ({"session_gap_minutes"} if options.session_gap_minutes is not None else set())
    )
    if unknown:
        valid = (*_LOGGED_PROTOCOL_OPTIONS, *REWARD_OPTIONS)
        raise InvalidOptionError(f"unknown option(s) {', '.join(unknown)} for a slate log; valid: {', '.join(valid)}")
    inputs: list[dict[str, Any]] = []
    where = "in-memory slate log"
    if not isinstance(log, SlateLog):
        path = Path(log).expanduser()
        if not path.is_file():
            raise DatasetNotFoundError(f"{path}: no such file")
        inputs.append(file_fingerprint(path, {}))
        log, where = SlateLog.load(path), str(path)
    world = log.card["world"]
    chosen_rewards = options.rewards(
        Rewards(click=world["options"]["reward_click"], purchase=world["options"]["reward_purchase"])
    )
    splits, popularity, counts = slate_log_splits(
        log,
        state_size=state_size,
        train_fraction=options.protocol_overrides.get("train_fraction", 0.8),
        val_fraction=options.protocol_overrides.get("val_fraction", 0.1),
        seed=seed,
        **chosen_rewards.keywords(),
    )
    sessions = sum(split.n_sessions for split in splits.values())
    events = sum(split.n_transitions for split in splits.values())
    stats = {**log.card, "sessions": sessions, "events": events, "mean_session_length": events / max(sessions, 1),
             "splits": counts}  # fmt: skip
    stats["world"] = {key: value for key, value in world.items() if key != "raw_item_ids"}
    dataset = SessionDataset(
        "slate-log",
        splits,
        np.asarray(world["raw_item_ids"], dtype=np.int64),
        popularity,
        state_size=state_size,
        stats=stats,
        source=where,
        inputs=inputs,
        load_arguments=load_arguments,
        reward_click=chosen_rewards.click,
        reward_purchase=chosen_rewards.purchase,
    )
    for name in dataset.empty_splits():
        warnings.warn(f"recgym: {dataset._empty_split_message(name)}", RuntimeWarning, stacklevel=3)
    return dataset
