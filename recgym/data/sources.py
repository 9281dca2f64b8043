"""Where a dataset's events come from: the input of :func:`recgym.load_dataset` (a dataset name, a path, a list of
paths, ``{event type: path(s)}`` or an in-memory table) resolved into a :class:`Source`: its name, the files whose
content keys the cache, the parameters of the build, and the function that reads the events (with the reader chosen
by the file's format and the reader options checked against its signature)."""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from recgym.checks import check_number
from recgym.data import readers
from recgym.data.options import INPUT_OPTIONS, PROTOCOL_OPTIONS, REWARD_OPTIONS
from recgym.data.readers import DOWNLOADS
from recgym.data.schema import EventType
from recgym.data.sessions import split_sessions
from recgym.data.synthetic import SyntheticConfig, generate_events
from recgym.errors import DatasetNotFoundError, InvalidOptionError, RecgymDataError, RecgymError

__all__ = ["DATASET_NAMES", "Input", "Source", "default_data_dir", "is_table", "log_source", "resolve_source",
           "sessionised"]  # fmt: skip

DATASET_NAMES: tuple[str, ...] = ("synthetic", "rc15", "retailrocket")
Input = Any  # a path, a list of paths, {event type: path(s)}, a pandas DataFrame or a pyarrow Table


def default_data_dir() -> Path:
    """``$RECGYM_DATA``, else ``$XDG_CACHE_HOME/recgym``, else ``~/.cache/recgym``."""
    if os.environ.get("RECGYM_DATA"):
        return Path(os.environ["RECGYM_DATA"]).expanduser()
    cache_home = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache_home).expanduser() / "recgym"


@dataclass(frozen=True)
class Source:
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
        generic = {*PROTOCOL_OPTIONS, "protocol", *REWARD_OPTIONS, *INPUT_OPTIONS}
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


def _synthetic_source(options: dict[str, Any]) -> Source:
    _check_options(options, {f.name for f in dataclasses.fields(SyntheticConfig)} | {"generator_seed"}, "synthetic")
    options = dict(options)
    generator_seed = options.pop("generator_seed", 0)
    check_number("generator_seed", generator_seed, at_least=0, integer=True)
    try:
        config = SyntheticConfig(**options)
    except (TypeError, ValueError) as error:
        raise InvalidOptionError(f"synthetic: {error}") from error
    return Source(
        name="synthetic",
        where="synthetic",
        protocol="generic",
        inputs=(),
        parameters={"generator": dataclasses.asdict(config), "generator_seed": generator_seed},
        read=lambda progress: generate_events(config, seed=generator_seed),
    )


def _benchmark_source(name: str, data_dir: Path, options: dict[str, Any]) -> Source:
    """RC15 or RetailRocket: the official raw files under ``data_dir`` and the dataset's own protocol preset."""
    reader, files = {
        "rc15": (readers.read_rc15, readers.RC15_FILES),
        "retailrocket": (readers.read_retailrocket, readers.RETAILROCKET_FILES),
    }[name]
    _check_options(options, _keyword_names(reader, ("data_dir", "progress")), name)
    raw_dir = _find_raw_dir(data_dir, name, tuple(files))
    return Source(
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


def is_table(value: Any) -> bool:
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


def log_source(log: Input, options: dict[str, Any], role: str = "") -> Source:
    """A path, a list of paths of one format, {event type: path(s)} or an in-memory table, read with ``options``."""
    if is_table(log):
        fingerprint = _table_fingerprint(log)
        _check_options(options, _keyword_names(readers.read_frame, ("table", "where")), f"{role}table")
        where = f"{role}table"
        return Source(
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
        return Source(
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
        return Source(
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
    return Source(
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


def resolve_source(name_or_path: Input, data_dir: Path, options: dict[str, Any]) -> Source:
    """A dataset name (its raw files under ``data_dir``, or the generator) or a log, read with ``options``."""
    if isinstance(name_or_path, str) and name_or_path in DATASET_NAMES:
        if name_or_path == "synthetic":
            return _synthetic_source(options)
        return _benchmark_source(name_or_path, data_dir, options)
    return log_source(name_or_path, options)


def sessionised(source: Source, gap: float | None, needs_time: str | None) -> Source:
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
