"""Public entry point: ``recgym.load_dataset(...)`` turns a named benchmark, a log file or the synthetic generator
into a cached :class:`SessionDataset` (transitions per split, item popularity, statistics).

The first call reads the raw log, runs the protocol (:mod:`recgym.data.protocol`), builds the transitions
(:mod:`recgym.data.transitions`) and writes the cache (:mod:`recgym.data.cache`); later calls with the same parameters
and unchanged input files reload the cache. The cache sits in ``cache_dir``, else ``$RECGYM_CACHE``, else
``data_dir/processed``, so raw data on a read-only mount can be prepared elsewhere.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import inspect
import json
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import d3rlpy
import numpy as np
import pandas as pd
import pyarrow as pa
from tqdm.auto import tqdm

from recgym.checks import check_number
from recgym.contract import bind_contract, item_index_fingerprint, split_fingerprint
from recgym.data import readers
from recgym.data.cache import (
    FORMAT_VERSION,
    check_writable,
    file_fingerprint,
    read_cache,
    read_hash_memo,
    write_cache,
    write_hash_memo,
)
from recgym.data.protocol import SPLIT_NAMES, PreparedLog, ProtocolConfig, apply_protocol, protocol_config
from recgym.data.readers import DOWNLOADS
from recgym.data.schema import EventType
from recgym.data.sessions import check_gap, split_sessions
from recgym.data.slate_log import SlateLog, is_slate_log, slate_log_splits
from recgym.data.synthetic import SyntheticConfig, generate_events
from recgym.data.transitions import Split, build_split, rewards_from_events
from recgym.errors import DatasetNotFoundError, InvalidOptionError, RecgymDataError, RecgymError

__all__ = ["DATASET_NAMES", "SessionDataset", "default_data_dir", "load_dataset"]

DATASET_NAMES: tuple[str, ...] = ("synthetic", "rc15", "retailrocket")
_STORED_SPLIT_ARRAYS = ("actions", "terminals", "event_types", "episode_starts", "session_ids")
"""What the cache keeps of a split; its state windows are rebuilt from the actions on first use."""
_STORED_LAYOUT = {"items": ("raw_item_ids", "item_popularity"), **{name: _STORED_SPLIT_ARRAYS for name in SPLIT_NAMES}}
_REWARD_OPTIONS = ("reward_click", "reward_purchase")
_INPUT_OPTIONS = ("session_gap_minutes", "test", "val")


class SessionDataset:
    """Transitions of the train/val/test splits of one processed session log, plus item statistics.

    Items are 0..n_items-1 (``raw_item_ids[i]`` is the id in the source log), ``pad_id == n_items`` fills states.
    ``source`` names the input (a path or the dataset name) in messages; ``inputs`` are the content fingerprints
    (name, size, sha256) of the input files, so that a consumer can tell a changed input from the same one.
    ``load_arguments`` are the JSON arguments of :func:`load_dataset` that rebuild it (None for an in-memory table).
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

        :func:`load_dataset` only warns about an empty split; whatever needs one (checkpoint selection on val, a
        test report) calls this first.
        """
        for name in splits or tuple(self._splits):
            if self.split(name).n_sessions == 0:
                raise RecgymDataError(self._empty_split_message(name))

    def _empty_split_message(self, name: str) -> str:
        sessions = sum(split.n_sessions for split in self._splits.values())
        return (
            f"{self.source}: the {name} split is empty ({sessions} sessions survive the protocol); "
            "use a longer log, or other train_fraction / val_fraction"
        )

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


def default_data_dir() -> Path:
    """``$RECGYM_DATA``, else ``$XDG_CACHE_HOME/recgym``, else ``~/.cache/recgym``."""
    if os.environ.get("RECGYM_DATA"):
        return Path(os.environ["RECGYM_DATA"]).expanduser()
    cache_home = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache_home).expanduser() / "recgym"


def _cache_location(cache_dir: str | os.PathLike[str] | None, data_dir: Path) -> Path:
    """``cache_dir``, else ``$RECGYM_CACHE``, else ``data_dir/processed``."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    if os.environ.get("RECGYM_CACHE"):
        return Path(os.environ["RECGYM_CACHE"]).expanduser()
    return data_dir / "processed"


@dataclass(frozen=True)
class _Source:
    """Where events come from: a name, the protocol preset, input files to fingerprint, parameters and a reader.

    ``where`` names the input in messages: the raw folder or file, or the dataset name. ``inputs`` are files (content
    fingerprints are taken at load time) or the fingerprints of in-memory tables.
    """

    name: str
    where: str
    protocol: str
    inputs: tuple[Path | dict[str, Any], ...]
    parameters: dict[str, Any]
    read: Callable[[bool], pd.DataFrame]


Input = Any  # a path, a list of paths, {event type: path(s)}, a pandas DataFrame or a pyarrow Table


def _keyword_names(function: Callable[..., Any], skip: tuple[str, ...]) -> set[str] | None:
    """Keyword parameters of a reader (None when it accepts any keyword)."""
    parameters = inspect.signature(function).parameters.values()
    if any(parameter.kind is inspect.Parameter.VAR_KEYWORD for parameter in parameters):
        return None
    return {p.name for p in parameters if p.kind is not inspect.Parameter.VAR_POSITIONAL and p.name not in skip}


def _check_options(options: Mapping[str, Any], source_options: set[str] | None, label: str) -> None:
    if source_options is None:
        return
    unknown = sorted(set(options) - source_options)
    if unknown:
        generic = {f.name for f in dataclasses.fields(ProtocolConfig)} | {"protocol", *_REWARD_OPTIONS, *_INPUT_OPTIONS}
        raise InvalidOptionError(
            f"unknown option(s) {', '.join(unknown)} for {label}; valid: {', '.join(sorted(source_options | generic))}"
        )


def _call_reader(
    label: str, reader: Callable[..., pd.DataFrame], where: Any, options: dict[str, Any], progress: bool
) -> pd.DataFrame:
    """Run a reader; a TypeError/ValueError caused by user-given reader options becomes an InvalidOptionError."""
    try:
        return reader(where, progress=progress, **options)
    except (TypeError, ValueError) as error:
        if not options or isinstance(error, RecgymError):
            raise
        raise InvalidOptionError(f"{label}: bad reader option(s) {', '.join(sorted(options))}: {error}") from error


def _find_raw_dir(data_dir: Path, name: str, files: tuple[str, ...]) -> Path:
    """``data_dir`` or ``data_dir/name``, whichever holds all ``files``; else an error naming only what is missing."""
    candidates = (data_dir, data_dir / name)
    missing = {candidate: [file for file in files if not (candidate / file).is_file()] for candidate in candidates}
    best = min(candidates, key=lambda candidate: len(missing[candidate]))
    if not missing[best]:
        return best
    if len(missing[best]) < len(files):
        present = [file for file in files if file not in missing[best]]
        raise DatasetNotFoundError(
            f"{name}: {', '.join(missing[best])} not found in {best}, where {', '.join(present)} is "
            f"(download {DOWNLOADS[name]})"
        )
    raise DatasetNotFoundError(
        f"{name}: {', '.join(files)} not found in {candidates[0]} or {candidates[1]} (download {DOWNLOADS[name]})"
    )


def _synthetic_source(options: dict[str, Any]) -> _Source:
    _check_options(options, {f.name for f in dataclasses.fields(SyntheticConfig)} | {"generator_seed"}, "synthetic")
    generator_seed = options.pop("generator_seed", 0)
    check_number("generator_seed", generator_seed, at_least=0, integer=True)
    try:
        config = SyntheticConfig(**options)
    except (TypeError, ValueError) as error:
        raise InvalidOptionError(f"synthetic: {error}") from error
    return _Source(
        name="synthetic",
        where="synthetic",
        protocol="generic",
        inputs=(),
        parameters={"generator": dataclasses.asdict(config), "generator_seed": generator_seed},
        read=lambda progress: generate_events(config, seed=generator_seed),
    )


def _benchmark_source(name: str, data_dir: Path, options: dict[str, Any]) -> _Source:
    """RC15 or RetailRocket: the official raw files under ``data_dir`` and the dataset's own protocol preset."""
    reader, files = {
        "rc15": (readers.read_rc15, readers.RC15_FILES),
        "retailrocket": (readers.read_retailrocket, readers.RETAILROCKET_FILES),
    }[name]
    _check_options(options, _keyword_names(reader, ("data_dir", "progress")), name)
    raw_dir = _find_raw_dir(data_dir, name, tuple(files))
    return _Source(
        name=name,
        where=str(raw_dir),
        protocol=name,
        inputs=tuple(raw_dir / file for file in files),
        parameters=dict(options),
        read=lambda progress: _call_reader(name, reader, raw_dir, options, progress),
    )


def _table_fingerprint(table: pd.DataFrame | pa.Table) -> dict[str, Any]:
    """Rows and a sha256 of an in-memory table's content (Arrow IPC bytes of its columns, schema metadata dropped)."""
    try:
        arrow = table if isinstance(table, pa.Table) else pa.Table.from_pandas(table, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
        raise RecgymDataError(f"table: not convertible to a table of events ({error})") from None
    sink = pa.BufferOutputStream()
    arrow = arrow.replace_schema_metadata(None).combine_chunks()
    with pa.ipc.new_stream(sink, arrow.schema) as writer:
        writer.write_table(arrow)
    return {"name": "table", "rows": arrow.num_rows, "sha256": hashlib.sha256(sink.getvalue()).hexdigest()}


def _is_table(value: Any) -> bool:
    return isinstance(value, pd.DataFrame) or type(value).__module__.startswith("pyarrow")


def _columns_for(path: Path, columns: Any) -> Any:
    """The column mapping of one file: ``columns`` itself, or its entry when ``columns`` is {file name: mapping}."""
    if not isinstance(columns, Mapping) or not columns or not all(isinstance(v, Mapping) for v in columns.values()):
        return columns
    for key in (str(path), path.name):
        if key in columns:
            return columns[key]
    raise InvalidOptionError(
        f"{path}: no entry in columns (per-file mappings given for {', '.join(map(str, columns))})"
    )


def _read_one(path: Path, options: dict[str, Any], progress: bool, kind: EventType | None) -> pd.DataFrame:
    """One file with its reader and its own column mapping; ``kind`` (from an event-type mapping) types every row."""
    reader = readers.reader_for(path)
    options = dict(options)
    if "columns" in options:
        options["columns"] = _columns_for(path, options["columns"])
    if kind is not None:
        if reader is not readers.read_table:
            raise RecgymDataError(f"{path}: a file of an event-type mapping must be a CSV/TSV/Parquet table")
        if isinstance(options.get("columns"), Mapping) and "event_type" in options["columns"]:
            raise InvalidOptionError(
                f"{path}: its event type comes from the mapping key; drop event_type from its columns"
            )
        if "event_types" in options:
            raise InvalidOptionError(
                "event_types: with a mapping of event type -> file, each file's key is its event type"
            )
    _check_options(options, _keyword_names(reader, ("path", "data_dir", "progress")), f"{path} ({reader.__name__})")
    events = _call_reader(str(path), reader, path, options, progress)
    if kind is not None:
        events["event_type"] = np.int8(kind)
    return events


def _paths(value: Any) -> list[Path]:
    values = [value] if isinstance(value, (str, os.PathLike)) else list(value)
    if not values or not all(isinstance(v, (str, os.PathLike)) for v in values):
        raise InvalidOptionError(f"expected a path or a list of paths, got {value!r}")
    paths = [Path(v).expanduser().resolve() for v in values]
    for path in paths:
        if not path.exists():
            raise DatasetNotFoundError(
                f"{path}: no such file or directory (and not a dataset name: {', '.join(DATASET_NAMES)})"
            )
    return paths


def _input_files(paths: list[Path]) -> tuple[Path, ...]:
    return tuple(
        child
        for path in paths
        for child in (sorted(c for c in path.iterdir() if c.is_file()) if path.is_dir() else [path])
    )


def _log_source(log: Input, options: dict[str, Any], role: str = "") -> _Source:
    """A path, a list of paths of one format, {event type: path(s)} or an in-memory table, read with ``options``."""
    if _is_table(log):
        fingerprint = _table_fingerprint(log)
        _check_options(options, _keyword_names(readers.read_frame, ("table", "where")), f"{role}table")
        where = f"{role}table"
        return _Source(
            name="table",
            where=where,
            protocol="generic",
            inputs=(fingerprint,),
            parameters={"table": fingerprint["sha256"], **options},
            read=lambda progress: readers.read_frame(log, where=where, **options),
        )
    if isinstance(log, Mapping):
        kinds = {key: readers.event_type_map({key: key})[str(key)] for key in log}
        if any(kind is None for kind in kinds.values()):
            raise InvalidOptionError(f"an event-type mapping maps click or purchase to files, got keys {list(log)}")
        files = {key: _paths(value) for key, value in log.items()}
        parts = [(path, kinds[key]) for key, paths in files.items() for path in paths]
        return _Source(
            name="+".join(path.stem for path, _ in parts),
            where=", ".join(str(path) for path, _ in parts),
            protocol="generic",
            inputs=_input_files([path for path, _ in parts]),
            parameters={"files": {str(key): [str(p) for p in paths] for key, paths in files.items()}, **options},
            read=lambda progress: _concat([_read_one(path, options, progress, kind) for path, kind in parts]),
        )
    paths = _paths(log)
    if len(paths) == 1:
        (path,) = paths
        return _Source(
            name=path.stem,
            where=str(path),
            protocol="generic",
            inputs=_input_files(paths),
            parameters={"path": str(path), **options},
            read=lambda progress: _read_one(path, options, progress, None),
        )
    formats = {readers.reader_for(path) for path in paths}
    if len(formats) > 1:
        raise InvalidOptionError(
            f"{', '.join(map(str, paths))}: a list of files must be of one format (for views and purchases in separate "
            "files pass {'click': ..., 'purchase': ...})"
        )
    return _Source(
        name="+".join(path.stem for path in paths),
        where=", ".join(map(str, paths)),
        protocol="generic",
        inputs=_input_files(paths),
        parameters={"paths": [str(p) for p in paths], **options},
        read=lambda progress: _concat([_read_one(path, options, progress, None) for path in paths]),
    )


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    events = pd.concat(frames, ignore_index=True)
    events.attrs["timestamps"] = all(frame.attrs.get("timestamps", True) for frame in frames)
    return events


def _resolve_source(name_or_path: Input, data_dir: Path, options: dict[str, Any]) -> _Source:
    if isinstance(name_or_path, str) and name_or_path in DATASET_NAMES:
        if name_or_path == "synthetic":
            return _synthetic_source(options)
        return _benchmark_source(name_or_path, data_dir, options)
    return _log_source(name_or_path, options)


def _sessionised(source: _Source, gap: float | None, needs_time: str | None) -> _Source:
    """``source`` whose events are cut into sessions at gaps longer than ``gap`` minutes (None: as read).

    ``needs_time`` names the option that needs real timestamps (a log without a timestamp column is refused).
    """

    def read(progress: bool) -> pd.DataFrame:
        events = source.read(progress)
        if needs_time and not events.attrs.get("timestamps", True):
            raise RecgymDataError(
                f"{source.where}: {needs_time} needs timestamps, but the log has no timestamp column "
                "(map one with columns={'timestamp': ...})"
            )
        return events if gap is None else split_sessions(events, gap)

    parameters = source.parameters if gap is None else {**source.parameters, "session_gap_minutes": gap}
    return dataclasses.replace(source, parameters=parameters, read=read)


def _build(
    source: _Source, held_out: Mapping[str, _Source], config: ProtocolConfig, state_size: int, seed: int, progress: bool
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


def _load_arguments(name_or_path: Input, arguments: dict[str, Any]) -> dict[str, Any] | None:
    """What rebuilds this dataset as JSON (paths as text), or None when an input is an in-memory table."""

    def plain(value: Any) -> Any:
        if _is_table(value):
            raise TypeError("an in-memory table")
        if isinstance(value, os.PathLike):
            return str(Path(value).expanduser().resolve())
        if isinstance(value, Mapping):
            return {str(key): plain(item) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return [plain(item) for item in value]
        return value

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
    **options: Any,
) -> SessionDataset:
    """Load a processed dataset, building and caching it on first use.

    ``name_or_path``: ``"synthetic"`` (options: the fields of ``SyntheticConfig`` and ``generator_seed``), ``"rc15"``
    (raw files in ``data_dir`` or ``data_dir/rc15``), ``"retailrocket"`` (``events.csv``; reader option
    ``purchase_event``); or a log: a path (a file, or a folder of RC15 / RetailRocket files), a list of files of one
    format, ``{"click": path(s), "purchase": path(s)}`` (each file's rows get its key's event type), or a pandas
    DataFrame / pyarrow Table of events, with the reader options of :func:`~recgym.data.readers.read_table`
    (``columns``, ``names``, ``sep``, ``event_types``, ``timestamp_unit``; ``columns`` may be {file name: mapping}).
    ``options`` also take ``session_gap_minutes`` (sessions = runs of one user's events without a longer gap, for
    every input), ``test`` / ``val`` (an explicit test, and val, log of the same kinds, read with the same options
    and encoded with the training item index), ``protocol`` (a preset of :data:`recgym.data.protocol.PROTOCOLS`,
    defaulting to the dataset's), any :class:`~recgym.data.protocol.ProtocolConfig` field (``split_mode="temporal"``,
    ``test_start``, ``unseen_items``...), and ``reward_click`` (0.2) / ``reward_purchase`` (1.0).
    ``data_dir`` defaults to :func:`default_data_dir`. The cache lives in ``<cache_dir>/<name>-<key>``, ``cache_dir``
    defaulting to ``$RECGYM_CACHE``, else ``data_dir/processed``; a build into a location that cannot be written stops
    with :class:`~recgym.errors.CacheLocationError` before reading anything (a valid cache there still loads).
    An empty split gives a RuntimeWarning naming the input and the split; :meth:`SessionDataset.require_nonempty`
    turns it into an error for callers that need the split. ``split=`` for the split mode is the former name of
    ``split_mode=``: still accepted, with a FutureWarning (elsewhere ``split`` names a split: "train", "val", "test").
    """
    _rename_split_mode(options)
    load_arguments = _load_arguments(
        name_or_path,
        {"data_dir": data_dir, "cache_dir": cache_dir, "state_size": state_size, "seed": seed, **options},
    )
    check_number("state_size", state_size, at_least=1, integer=True)
    check_number("seed", seed, at_least=0, integer=True)
    if is_slate_log(name_or_path):
        return _logged_dataset(name_or_path, int(state_size), int(seed), options, load_arguments)
    rewards = {"reward_click": options.pop("reward_click", 0.2), "reward_purchase": options.pop("reward_purchase", 1.0)}
    for name, value in rewards.items():
        check_number(name, value)
    protocol_fields = {f.name for f in dataclasses.fields(ProtocolConfig)}
    protocol_options = {name: options.pop(name) for name in list(options) if name in protocol_fields}
    preset = options.pop("protocol", None)
    gap = options.pop("session_gap_minutes", None)
    if gap is not None:
        gap = check_gap(gap)
    held_logs = {name: options.pop(name) for name in ("val", "test") if options.get(name) is not None}
    if "val" in held_logs and "test" not in held_logs:
        raise InvalidOptionError("val= (an explicit val log) needs test= (an explicit test log) too")
    root = Path(data_dir).expanduser() if data_dir is not None else default_data_dir()
    source = _resolve_source(name_or_path, root, options)
    config = protocol_config(preset or source.protocol, **protocol_options)
    needs_time = (
        "split_mode='temporal'" if config.split_mode == "temporal" else ("session_gap_minutes" if gap else None)
    )
    source = _sessionised(source, gap, needs_time)
    held_out = {
        name: _sessionised(_log_source(log, options, role=f"{name}="), gap, needs_time)
        for name, log in held_logs.items()
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
            rewards=rewards_from_events(groups[name]["event_types"], **rewards),
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
        **{name: float(value) for name, value in rewards.items()},
    )
    for name in dataset.empty_splits():
        warnings.warn(f"recgym: {dataset._empty_split_message(name)}", RuntimeWarning, stacklevel=2)
    return dataset


_LOGGED_OPTIONS = ("train_fraction", "val_fraction", *_REWARD_OPTIONS)


def _logged_dataset(
    log: SlateLog | str | os.PathLike[str],
    state_size: int,
    seed: int,
    options: dict[str, Any],
    load_arguments: dict[str, Any] | None,
) -> SessionDataset:
    """The dataset of a recommender's slate log: its sessions split at random (``seed``), the world's item index, the
    slates and propensities on the rows (:func:`~recgym.data.slate_log.slate_log_splits`); nothing is cached."""
    unknown = sorted(set(options) - set(_LOGGED_OPTIONS))
    if unknown:
        raise InvalidOptionError(
            f"unknown option(s) {', '.join(unknown)} for a slate log; valid: {', '.join(_LOGGED_OPTIONS)}"
        )
    inputs: list[dict[str, Any]] = []
    where = "in-memory slate log"
    if not isinstance(log, SlateLog):
        path = Path(log).expanduser()
        if not path.is_file():
            raise DatasetNotFoundError(f"{path}: no such file")
        inputs.append(file_fingerprint(path, {}))
        log, where = SlateLog.load(path), str(path)
    world = log.card["world"]
    rewards = {name: options.get(name, world["options"][name]) for name in _REWARD_OPTIONS}
    for name, value in rewards.items():
        check_number(name, value)
    splits, popularity, counts = slate_log_splits(
        log,
        state_size=state_size,
        train_fraction=options.get("train_fraction", 0.8),
        val_fraction=options.get("val_fraction", 0.1),
        seed=seed,
        **rewards,
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
        reward_click=float(rewards["reward_click"]),
        reward_purchase=float(rewards["reward_purchase"]),
        stats=stats,
        source=where,
        inputs=inputs,
        load_arguments=load_arguments,
    )
    for name in dataset.empty_splits():
        warnings.warn(f"recgym: {dataset._empty_split_message(name)}", RuntimeWarning, stacklevel=3)
    return dataset


def _rename_split_mode(options: dict[str, Any]) -> None:
    """``split=`` given as the split mode (its former name): warn and move it to ``split_mode``."""
    if "split" not in options:
        return
    if "split_mode" in options:
        raise InvalidOptionError("give split_mode= (the split mode), not also its former name split=")
    warnings.warn(
        "load_dataset(split=...) is deprecated: the split mode ('random' or 'temporal') is split_mode=",
        FutureWarning,
        stacklevel=3,
    )
    options["split_mode"] = options.pop("split")
