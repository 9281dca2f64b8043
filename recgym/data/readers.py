"""Readers: raw session logs to the canonical events table of :mod:`recgym.data.schema`.

One reader per source format, plus a dispatcher:

- :func:`read_rc15` -- RecSys Challenge 2015 / YooChoose ``yoochoose-clicks.dat`` + ``yoochoose-buys.dat``;
- :func:`read_retailrocket` -- RetailRocket ``events.csv`` (reference mapping by default, documented variants);
- :func:`read_otto` -- OTTO JSON lines;
- :func:`read_table` -- any CSV / TSV / Parquet file, given a column mapping (headerless files with ``names=``, any
  single- or multi-character separator);
- :func:`read_frame` -- a pandas DataFrame or pyarrow Table in memory, with the same mapping;
- :func:`read_events` -- picks one of the file readers from the path (:func:`reader_for`).

Readers report the log as it is: duplicate events (same session, item, timestamp and type) and one-event sessions are
kept, and rows stay in file order. Sessionisation by time gaps (:mod:`recgym.data.sessions`), deduplication, length
filters and the stable click-before-purchase sort come later, so every protocol variant starts from the same table.
A table without a timestamp column gets the row number as its timestamp and ``attrs["timestamps"] = False``.

Big CSV files are streamed block by block with pyarrow: only the needed columns, with explicit types and timestamps
parsed in C++, so the 33M-row RC15 clicks file reads in seconds with memory close to the size of the output table.
OTTO's JSON lines are parsed in chunks of whole lines, with int32 ids: its 216M events take 17 bytes each.
A malformed input raises :class:`RecgymDataError` (missing files :class:`DatasetNotFoundError`) with one line naming
the file and the problem.
"""

from __future__ import annotations

import csv
import os
import re
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.json as pa_json
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from recgym.data.schema import EVENT_COLUMNS, EventType, validate_events
from recgym.errors import DatasetNotFoundError, InvalidOptionError, RecgymDataError

__all__ = [
    "DOWNLOADS",
    "OTTO_EVENT_TYPES",
    "RC15_FILES",
    "RETAILROCKET_FILES",
    "TABLE_COLUMNS",
    "event_type_map",
    "read_events",
    "read_frame",
    "read_otto",
    "read_rc15",
    "read_retailrocket",
    "read_table",
    "reader_for",
]

PathLike = str | os.PathLike[str]
EventTypeMap = Mapping[str, EventType | None]

RC15_FILES: tuple[str, ...] = ("yoochoose-clicks.dat", "yoochoose-buys.dat")
RETAILROCKET_FILES: tuple[str, ...] = ("events.csv",)

OTTO_EVENT_TYPES: dict[str, EventType | None] = {
    "clicks": EventType.CLICK,
    "carts": EventType.PURCHASE,
    "orders": EventType.PURCHASE,
}
"""OTTO ``type`` -> event type. Map a type to ``None`` to drop its rows (e.g. ``{"carts": None}`` keeps orders only)."""

_RC15_CLICK_COLUMNS = ("session_id", "timestamp", "item_id", "category")
_RC15_BUY_COLUMNS = ("session_id", "timestamp", "item_id", "price", "quantity")
DOWNLOADS: dict[str, str] = {
    "rc15": "RC15: https://www.kaggle.com/datasets/chadgostopp/recsys-challenge-2015, see datasets/rc15.md",
    "retailrocket": (
        "RetailRocket: https://www.kaggle.com/datasets/retailrocket/ecommerce-dataset, see datasets/retailrocket.md"
    ),
}
"""Where to get each dataset's raw files, for the "not found" messages."""
_RETAILROCKET_COLUMNS = {
    "session_id": "visitorid",
    "item_id": "itemid",
    "timestamp": "timestamp",
    "event_type": "event",
}
_RETAILROCKET_EVENT_TYPES: dict[str, dict[str, EventType | None]] = {
    "addtocart": {"view": EventType.CLICK, "addtocart": EventType.PURCHASE, "transaction": None},
    "transaction": {"view": EventType.CLICK, "addtocart": None, "transaction": EventType.PURCHASE},
}
_DEFAULT_EVENT_TYPES: dict[str, EventType | None] = {
    **{kind.name.lower(): kind for kind in EventType},
    **{str(int(kind)): kind for kind in EventType},
}
TABLE_COLUMNS: tuple[str, ...] = (*EVENT_COLUMNS, "user_id")
"""Canonical names a column mapping of :func:`read_table` / :func:`read_frame` may use."""
_EVENT_TYPE_NAMES = "click, purchase, 0, 1, or None to drop the rows"
_TIMESTAMP_DIVISORS = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}  # units per second
SECONDS_AS_MS_RANGE = (1e8, 1e10)  # ms since 1970 of Jan 2 - Apr 26, 1970: what seconds of 1973-2286 become as ms
_CSV_SUFFIXES = (".csv", ".tsv", ".txt", ".dat")
_PARQUET_SUFFIXES = (".parquet", ".pq")
_JSONL_SUFFIXES = (".jsonl", ".ndjson")
_BLOCK_SIZE = 1 << 24
_HEAD_BYTES = 1 << 20  # bytes read to find a file's first line
_LINE_END = re.compile(rb"\r\n|\r|\n")
_JSON_CHUNK = 1 << 26  # bytes of JSON lines parsed at a time
_INT32_MIN, _INT32_MAX = np.iinfo(np.int32).min, np.iinfo(np.int32).max
_ISO_EXAMPLE = "an ISO-8601 UTC timestamp like 2014-04-07T10:51:09.277Z"


def read_rc15(data_dir: PathLike, *, progress: bool = True) -> pd.DataFrame:
    """Read ``yoochoose-clicks.dat`` (CLICK events) and ``yoochoose-buys.dat`` (PURCHASE events) from ``data_dir``.

    Clicks come first, then buys, each in file order. ``category``, ``price`` and ``quantity`` are not kept: nothing
    downstream uses them and the clicks file has 33M rows.
    """
    clicks_path, buys_path = _find_files(Path(data_dir), RC15_FILES, DOWNLOADS["rc15"])
    clicks = _read_headerless(clicks_path, _RC15_CLICK_COLUMNS, EventType.CLICK, progress)
    buys = _read_headerless(buys_path, _RC15_BUY_COLUMNS, EventType.PURCHASE, progress)
    return pd.concat([clicks, buys], ignore_index=True)


def read_retailrocket(
    data_dir: PathLike,
    *,
    purchase_event: str = "addtocart",
    progress: bool = True,
) -> pd.DataFrame:
    """Read RetailRocket ``events.csv`` from ``data_dir``.

    The default is the reference benchmark: ``view`` = CLICK, ``addtocart`` = PURCHASE, ``transaction`` rows dropped,
    one session per visitor (its whole 4.5-month history). ``purchase_event="transaction"`` makes transactions the
    purchases and drops add-to-carts instead. (Time-gap sessions: ``session_gap_minutes`` of ``load_dataset``.)
    """
    if purchase_event not in _RETAILROCKET_EVENT_TYPES:
        raise InvalidOptionError(
            f"purchase_event must be one of {sorted(_RETAILROCKET_EVENT_TYPES)}, got {purchase_event!r}"
        )
    (path,) = _find_files(Path(data_dir), RETAILROCKET_FILES, DOWNLOADS["retailrocket"])
    events = read_table(
        path,
        columns=_RETAILROCKET_COLUMNS,
        event_types=_RETAILROCKET_EVENT_TYPES[purchase_event],
        sep=",",
        timestamp_unit="ms",
        progress=progress,
    )
    return events


def event_type_map(mapping: Mapping[Any, Any]) -> dict[str, EventType | None]:
    """``event_types`` with every value an :class:`EventType` or None; values may be labels or integers.

    ``{"pv": "click", "buy": 1, "fav": None}`` is read the same from Python and from the CLI (``-o event_types=...``).
    """
    if not isinstance(mapping, Mapping):
        raise InvalidOptionError(
            f"event_types must map labels of the event-type column to {_EVENT_TYPE_NAMES}, got {mapping!r}"
        )
    return {str(label): _event_type(value, f"event_types[{label!r}]") for label, value in mapping.items()}


def _event_type(value: object, what: str) -> EventType | None:
    if value is None or isinstance(value, EventType):
        return value
    if isinstance(value, str) and value.strip().upper() in EventType.__members__:
        return EventType[value.strip().upper()]
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool) and int(value) in set(EventType):
        return EventType(int(value))
    raise InvalidOptionError(f"{what} is {value!r}, not an event type ({_EVENT_TYPE_NAMES})")


def read_otto(path: PathLike, *, event_types: EventTypeMap = OTTO_EVENT_TYPES, progress: bool = True) -> pd.DataFrame:
    """Read an OTTO JSON-lines file: ``{"session": int, "events": [{"aid": int, "ts": ms, "type": str}, ...]}``.

    ``event_types`` maps each OTTO ``type`` to an :class:`EventType` (or ``None`` to drop it); default
    :data:`OTTO_EVENT_TYPES`. Events appear session by session in file order. Session and item ids are int32 when
    they fit (they do in OTTO's files), else int64.
    """
    path = _existing_file(path)
    event_types = event_type_map(event_types)
    event = pa.struct([("aid", pa.int64()), ("ts", pa.int64()), ("type", pa.string())])
    schema = pa.schema([("session", pa.int64()), ("events", pa.list_(event))])
    options = pa_json.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore")
    parts: dict[str, list[np.ndarray]] = {"session_id": [], "item_id": [], "timestamp": [], "event_type": []}
    with _progress_bar(path, progress) as (stream, advance):
        try:
            for batch in _json_chunks(stream, options):
                lists = batch.column("events")
                flat = pc.list_flatten(lists)
                sessions = pc.take(batch.column("session"), pc.list_parent_indices(lists))
                parts["session_id"].append(_compact_ids(_numpy(sessions)))
                parts["item_id"].append(_compact_ids(_numpy(pc.struct_field(flat, "aid"))))
                parts["timestamp"].append(_numpy(pc.struct_field(flat, "ts")))
                parts["event_type"].append(_event_codes(pc.struct_field(flat, "type"), event_types, path, "type"))
                advance()
        except pa.ArrowInvalid as error:
            raise RecgymDataError(f"{path}: {_first_line(error)}") from None
    columns = {}
    for name in list(parts):  # one column at a time, each freeing its blocks: the peak is the table + one column
        columns[name] = np.concatenate(parts.pop(name))
    return _events(path, **columns)


def read_table(
    path: PathLike,
    *,
    columns: Mapping[str, str] | None = None,
    event_types: Mapping[Any, Any] | None = None,
    sep: str | None = None,
    names: Sequence[str] | None = None,
    timestamp_unit: str = "ms",
    progress: bool = True,
) -> pd.DataFrame:
    """Read a CSV / TSV / Parquet file, given ``columns`` = {canonical name: column in the file}.

    ``item_id`` is required, and ``session_id`` or ``user_id`` (a user's events become sessions by
    ``session_gap_minutes`` of ``load_dataset``; without it a user's whole history is one session); ``timestamp`` is
    optional (without it, file order is time order), ``event_type`` too (without it every event is a CLICK). Default
    mapping: the columns already named canonically. ``event_types`` maps the values of the event-type column to an
    event type (see :func:`event_type_map`; default ``click``/``purchase`` or ``0``/``1``). Numeric timestamps are
    in ``timestamp_unit`` ("s", "ms", "us" or "ns"; fractions are rounded to the millisecond); text timestamps are
    parsed as ISO-8601 (UTC unless they carry an offset). ``sep`` (one or more characters, e.g. ``"::"``) is sniffed
    from the first line when not given. A file without a header takes its column names from ``names``. A file with a
    multi-character separator is read whole into memory; every other CSV is streamed.
    """
    unit = _check_unit(timestamp_unit)
    path = _existing_file(path)
    suffix = path.suffix.lower()
    delimiter = ""
    if suffix in _PARQUET_SUFFIXES:
        if names is not None:
            raise RecgymDataError(f"{path}: names= is for CSV/TSV files without a header, not for a Parquet file")
        with _parquet_errors(path):
            file_columns = pq.read_schema(path).names
    elif suffix in _CSV_SUFFIXES:
        line = _first_line_of(path)
        delimiter = sep or _sniff_separator(line)
        if not isinstance(delimiter, str) or not delimiter or "\n" in delimiter or '"' in delimiter:
            raise InvalidOptionError(f"sep must be one or more characters (not a quote or newline), got {sep!r}")
        fields = next(csv.reader([line], delimiter=delimiter)) if len(delimiter) == 1 else line.split(delimiter)
        file_columns = _checked_names(path, names, len(fields)) if names is not None else fields
    else:
        known = ", ".join(_CSV_SUFFIXES + _PARQUET_SUFFIXES)
        raise RecgymDataError(f"{path}: unsupported file type {suffix!r} (expected one of {known})")
    mapping = _column_mapping(path, columns, file_columns, headerless_hint=suffix in _CSV_SUFFIXES and names is None)
    wanted = list(dict.fromkeys(mapping.values()))
    if suffix in _PARQUET_SUFFIXES:
        with _parquet_errors(path):
            table = pq.read_table(path, columns=wanted)
    else:
        ids = {mapping[name]: pa.int64() for name in ("session_id", "user_id", "item_id") if name in mapping}
        options = pa_csv.ConvertOptions(column_types=ids, include_columns=wanted, strings_can_be_null=True)
        read_options = pa_csv.ReadOptions(
            block_size=_BLOCK_SIZE, **({"column_names": list(names)} if names is not None else {})
        )
        table = _stream_csv(path, read_options, delimiter, options, file_columns, progress)
    return _table_events(table, mapping, event_types, unit, path)


def read_frame(
    table: pd.DataFrame | pa.Table,
    *,
    columns: Mapping[str, str] | None = None,
    event_types: Mapping[Any, Any] | None = None,
    timestamp_unit: str = "ms",
    where: str = "table",
) -> pd.DataFrame:
    """Events of an in-memory pandas DataFrame or pyarrow Table, with the column mapping of :func:`read_table`.

    ``where`` names the table in error messages.
    """
    unit = _check_unit(timestamp_unit)
    if isinstance(table, pd.DataFrame):
        try:
            table = pa.Table.from_pandas(table, preserve_index=False)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
            raise RecgymDataError(f"{where}: not convertible to a table of events ({_first_line(error)})") from None
    if not isinstance(table, pa.Table):
        raise RecgymDataError(f"{where}: expected a pandas DataFrame or a pyarrow Table, got {type(table).__name__}")
    mapping = _column_mapping(Path(where), columns, table.column_names, headerless_hint=False)
    return _table_events(table, mapping, event_types, unit, Path(where))


def _table_events(
    table: pa.Table, mapping: Mapping[str, str], event_types: Mapping[Any, Any] | None, unit: str, path: Path
) -> pd.DataFrame:
    """The canonical events of an Arrow table whose columns ``mapping`` names."""
    if "event_type" in mapping:
        kinds = mapping["event_type"]
        labels = _DEFAULT_EVENT_TYPES if event_types is None else event_type_map(event_types)
        codes = _event_codes(table.column(kinds), labels, path, kinds)
    else:
        codes = np.full(table.num_rows, int(EventType.CLICK), dtype=np.int8)
    if "timestamp" in mapping:
        timestamp = _timestamps_ms(table.column(mapping["timestamp"]), unit, path, mapping["timestamp"])
    else:
        timestamp = np.arange(table.num_rows, dtype=np.int64)
    user = {"user_id": _numpy(table.column(mapping["user_id"]))} if "user_id" in mapping else {}
    events = _events(
        path,
        session_id=_numpy(table.column(mapping.get("session_id", mapping.get("user_id")))),
        item_id=_numpy(table.column(mapping["item_id"])),
        timestamp=timestamp,
        event_type=codes,
        **user,
    )
    events.attrs["timestamps"] = "timestamp" in mapping
    return events


def reader_for(path: PathLike) -> Callable[..., pd.DataFrame]:
    """The reader a path calls for: a folder of RC15 or RetailRocket files, an OTTO ``.jsonl``, or a table file."""
    path = Path(path)
    if not path.exists():
        raise DatasetNotFoundError(f"{path}: no such file or directory")
    if path.is_dir():
        if any((path / name).is_file() for name in RC15_FILES):
            return read_rc15
        if all((path / name).is_file() for name in RETAILROCKET_FILES):
            return read_retailrocket
        expected = ", ".join(RC15_FILES + RETAILROCKET_FILES)
        raise DatasetNotFoundError(
            f"{path}: no dataset files found in this directory (expected {expected}; "
            "for other files pass them as a list or as {event type: file})"
        )
    suffix = path.suffix.lower()
    if suffix in _JSONL_SUFFIXES:
        return read_otto
    if suffix in _CSV_SUFFIXES + _PARQUET_SUFFIXES:
        return read_table
    known = ", ".join(_JSONL_SUFFIXES + _CSV_SUFFIXES + _PARQUET_SUFFIXES)
    raise RecgymDataError(f"{path}: unsupported file type {suffix!r} (expected a directory or one of {known})")


def read_events(path: PathLike, **options) -> pd.DataFrame:
    """Read events with the reader the path calls for (:func:`reader_for`); ``options`` go to that reader.

    Pass ``columns=`` to a table file unless it already uses the canonical column names.
    """
    return reader_for(path)(path, **options)


def _check_unit(unit: object) -> str:
    if unit not in _TIMESTAMP_DIVISORS:
        raise InvalidOptionError(f"timestamp_unit must be one of {sorted(_TIMESTAMP_DIVISORS)}, got {unit!r}")
    return str(unit)


def _checked_names(path: Path, names: object, n_fields: int) -> list[str]:
    """``names`` of a headerless file: distinct strings, one per field of its first line."""
    if isinstance(names, str) or not isinstance(names, Sequence) or not all(isinstance(n, str) for n in names):
        raise InvalidOptionError(f"names must be a list of column names, got {names!r}")
    if len(set(names)) != len(names):
        raise InvalidOptionError(f"names must be distinct, got {list(names)!r}")
    if len(names) != n_fields:
        raise RecgymDataError(f"{path}: names= gives {len(names)} column names but line 1 has {n_fields} fields")
    return list(names)


def _find_files(data_dir: Path, names: Sequence[str], source: str) -> list[Path]:
    """The dataset's files in ``data_dir``; one DatasetNotFoundError listing all that are missing."""
    missing = [name for name in names if not (data_dir / name).is_file()]
    if missing:
        where = data_dir if data_dir.is_dir() else f"{data_dir} (no such directory)"
        raise DatasetNotFoundError(f"{', '.join(missing)} not found in {where} (download {source})")
    return [data_dir / name for name in names]


def _existing_file(path: PathLike) -> Path:
    path = Path(path)
    if not path.is_file():
        raise DatasetNotFoundError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise RecgymDataError(f"{path}: file is empty")
    return path


def _first_line_of(path: Path) -> str:
    """The file's first line, ended by LF, CRLF or a lone CR (old Mac files), read from its first MiB only."""
    with path.open("rb") as file:
        head = file.read(_HEAD_BYTES)
    return _LINE_END.split(head, maxsplit=1)[0].decode("utf-8-sig", errors="replace")


def _read_headerless(path: Path, names: Sequence[str], kind: EventType, progress: bool) -> pd.DataFrame:
    """Read one of the RC15 files (comma-separated, no header); every row becomes an event of type ``kind``."""
    path = _existing_file(path)
    line = _first_line_of(path)
    fields = line.split(",")
    if not any(char.isdigit() for char in line):
        raise RecgymDataError(
            f"{path}: line 1 {_clip(line)!r} is not a data row (a header?); the file has no header, "
            f"only rows of {', '.join(names)}"
        )
    if len(fields) != len(names):
        raise RecgymDataError(f"{path}: line 1 has {len(fields)} fields, expected {len(names)} ({', '.join(names)})")
    types = {"session_id": pa.int64(), "timestamp": pa.timestamp("ms", tz="UTC"), "item_id": pa.int64()}
    table = _stream_csv(
        path,
        pa_csv.ReadOptions(column_names=list(names), block_size=_BLOCK_SIZE),
        ",",
        pa_csv.ConvertOptions(column_types=types, include_columns=list(types)),
        names,
        progress,
    )
    return _events(
        path,
        session_id=_numpy(table.column("session_id")),
        item_id=_numpy(table.column("item_id")),
        timestamp=_numpy(table.column("timestamp").cast(pa.int64())),
        event_type=np.full(table.num_rows, int(kind), dtype=np.int8),
    )


def _sniff_separator(header: str) -> str:
    """The most frequent of tab, comma, semicolon and pipe in the header line (comma if none occurs)."""
    counts = {sep: header.count(sep) for sep in "\t,;|"}
    best = max(counts, key=counts.__getitem__)
    return best if counts[best] else ","


def _column_mapping(
    path: Path, columns: Mapping[str, str] | None, file_columns: Sequence[str], *, headerless_hint: bool
) -> dict[str, str]:
    """Check ``columns`` (canonical name -> file column) against the file; default: the canonical names present."""
    if columns is None:
        mapping = {name: name for name in TABLE_COLUMNS if name in file_columns}
        if "session_id" not in file_columns and "user_id" not in file_columns:
            mapping["session_id"] = "session_id"  # reported below as a missing column
        mapping.setdefault("item_id", "item_id")
    else:
        if not isinstance(columns, Mapping) or not all(isinstance(v, str) for v in columns.values()):
            raise InvalidOptionError(f"columns must map canonical names to file column names, got {columns!r}")
        mapping = dict(columns)
        shared = sorted({column for column in mapping.values() if list(mapping.values()).count(column) > 1})
        if shared:
            names = sorted(name for name, column in mapping.items() if column in shared)
            raise InvalidOptionError(f"columns maps file column(s) {shared} to more than one name ({', '.join(names)})")
        unknown = sorted(set(mapping) - set(TABLE_COLUMNS))
        if unknown or "item_id" not in mapping or not {"session_id", "user_id"} & set(mapping):
            raise InvalidOptionError(
                f"columns must map item_id and session_id or user_id (timestamp, event_type optional) to file "
                f"columns; got {sorted(mapping)}" + (f", unknown {unknown}" if unknown else "")
            )
    missing = sorted({column for column in mapping.values() if column not in file_columns})
    if missing:
        if _looks_binary("".join(file_columns)):
            raise RecgymDataError(f"{path}: binary content, not a text table (is it a CSV/TSV file?)")
        hint = "pass columns={canonical name: file column}"
        if headerless_hint and all(_looks_like_data(field) for field in file_columns):
            hint = f"line 1 looks like data, not a header: for a file without a header pass names=[{len(file_columns)} column names]"
        raise RecgymDataError(
            f"{path}: no column(s) {', '.join(map(repr, missing))} among {_clip(repr(list(file_columns)))} ({hint})"
            + _encoding_hint("".join(file_columns))
        )
    return mapping


def _looks_like_data(field: str) -> bool:
    """A number or a date-time: what a data row holds and a header rarely does."""
    text = field.strip()
    return bool(text) and (text.replace(".", "", 1).lstrip("-").isdigit() or bool(re.match(r"\d{4}-\d\d-\d\d", text)))


@contextmanager
def _parquet_errors(path: Path) -> Iterator[None]:
    """Turn pyarrow's errors on a corrupt or non-Parquet file into one RecgymDataError line."""
    try:
        yield
    except (pa.ArrowInvalid, OSError) as error:
        raise RecgymDataError(f"{path}: not a readable Parquet file ({_first_line(error)})") from None


def _stream_csv(
    path: Path,
    read_options: pa_csv.ReadOptions,
    sep: str,
    convert_options: pa_csv.ConvertOptions,
    file_columns: Sequence[str],
    progress: bool,
) -> pa.Table:
    """Read a CSV file block by block (bounded parser memory, a progress bar by bytes read).

    pyarrow splits on one character: a longer ``sep`` is replaced by the unit separator in memory first.
    """
    if len(sep) > 1:
        data = path.read_bytes()
        if b"\x1f" in data:
            raise RecgymDataError(f"{path}: holds the control character \\x1f, so separator {sep!r} cannot be read")
        sep, source = "\x1f", pa.BufferReader(data.replace(sep.encode(), b"\x1f"))
    else:
        source = None
    parse_options = pa_csv.ParseOptions(delimiter=sep)
    with _progress_bar(path, progress and source is None) as (stream, advance):
        try:
            reader = pa_csv.open_csv(
                source or stream,
                read_options=read_options,
                parse_options=parse_options,
                convert_options=convert_options,
            )
            batches = []
            for batch in reader:
                batches.append(batch)
                advance()
        except (pa.ArrowInvalid, pa.ArrowKeyError) as error:
            raise _csv_error(path, error, file_columns) from None
    return pa.Table.from_batches(batches, schema=reader.schema)


@contextmanager
def _progress_bar(path: Path, enabled: bool) -> Iterator[tuple[pa.NativeFile, Callable[[], None]]]:
    """Open ``path`` as a pyarrow stream; yield it with an ``advance()`` that moves a tqdm bar to the bytes read."""
    with (
        pa.input_stream(str(path)) as stream,
        tqdm(
            total=path.stat().st_size, unit="B", unit_scale=True, desc=f"reading {path.name}", disable=not enabled
        ) as bar,
    ):

        def advance() -> None:
            bar.update(max(0, min(stream.tell(), bar.total) - bar.n))

        yield stream, advance


_COLUMN_COUNT = re.compile(r"Expected (\d+) columns, got (\d+): ?(.*)", re.S)
_CONVERSION = re.compile(r"In CSV column #(\d+): .*?CSV conversion error to ([^:]+): [^']*'(.*)'", re.S)


def _csv_error(path: Path, error: Exception, file_columns: Sequence[str]) -> RecgymDataError:
    """Turn a pyarrow CSV error into one line naming the file, the column and the offending text."""
    message = str(error)
    if match := _COLUMN_COUNT.search(message):
        expected, got, row = match.groups()
        return RecgymDataError(
            f"{path}: a row has {got} fields, expected {expected} ({', '.join(file_columns)}): {_clip(row)!r}"
        )
    if match := _CONVERSION.search(message):
        index, arrow_type, value = match.groups()
        column = file_columns[int(index)] if int(index) < len(file_columns) else f"#{index}"
        if arrow_type.startswith("timestamp"):
            expected = _ISO_EXAMPLE
        elif "int" in arrow_type and value.strip().lstrip("-").isdigit():
            expected = "an integer that fits in 64 bits (ids above 9223372036854775807 do not)"
        else:
            expected = "an integer" if "int" in arrow_type else arrow_type
        return RecgymDataError(
            f"{path}: column {column!r} has {_clip(value)!r}, expected {expected}{_encoding_hint(value)}"
        )
    return RecgymDataError(f"{path}: {_first_line(error)}")


def _looks_binary(text: str) -> bool:
    """More than a fifth of undecodable or control characters: no text encoding (UTF-16's NULs are not counted)."""
    odd = sum(char == "\ufffd" or (char < " " and char not in "\t\x00") for char in text)
    return odd > len(text) / 5


def _encoding_hint(text: str) -> str:
    """A hint when text read as UTF-8 shows the marks of another encoding (UTF-16's NULs, latin-1's bad bytes)."""
    if "\x00" in text:
        return "; the file looks UTF-16 encoded and recgym reads UTF-8: convert it (iconv -f utf-16 -t utf-8)"
    if "\ufffd" in text:
        return "; the file is not UTF-8 (latin-1?): convert it (iconv -f latin1 -t utf-8)"
    return ""


def _first_line(error: Exception) -> str:
    return _clip(str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__)


def _clip(text: str, width: int = 100) -> str:
    text = text.strip()
    return text if len(text) <= width else text[: width - 3] + "..."


def _numpy(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Column as numpy; nulls become NaN so that validate_events reports them with their row."""
    return column.to_numpy(zero_copy_only=False) if isinstance(column, pa.Array) else column.to_numpy()


_ROW_IN_CHUNK = re.compile(r"in row (\d+)")


def _json_chunks(stream: pa.NativeFile, options: pa_json.ParseOptions) -> Iterator[pa.Table]:
    """The JSON lines of ``stream`` parsed in chunks of whole lines of about ``_JSON_CHUNK`` bytes.

    pyarrow's streaming JSON reader reads the whole file ahead of the batches it yields (all of OTTO's 11 GB would sit
    in memory); parsing chunk by chunk bounds the text in memory to one chunk, each still parsed on all cores.
    """
    read_options = pa_json.ReadOptions(block_size=_BLOCK_SIZE)
    rest, lines_before = b"", 0

    def parse(text: bytes) -> pa.Table:
        try:
            return pa_json.read_json(pa.BufferReader(text), read_options=read_options, parse_options=options)
        except pa.ArrowInvalid as error:  # its row counts from the chunk: say the file's line instead
            message = _ROW_IN_CHUNK.sub(lambda m: f"on line {lines_before + int(m.group(1)) + 1}", str(error))
            raise pa.ArrowInvalid(message) from None

    while True:
        data = stream.read(_JSON_CHUNK)
        if not data:
            break
        text = rest + data
        end = text.rfind(b"\n") + 1
        if end == 0:  # no line ends in this chunk yet: keep reading
            rest = text
            continue
        rest = text[end:]
        yield parse(text[:end])
        lines_before += text.count(b"\n", 0, end)
    if rest.strip():
        yield parse(rest)


def _compact_ids(ids: np.ndarray) -> np.ndarray:
    """int32 ids when they fit (OTTO's 12.9M sessions and 1.8M items do), else as they are (the schema takes both)."""
    fits = ids.dtype == np.int64 and (not len(ids) or (ids.min() >= _INT32_MIN and ids.max() <= _INT32_MAX))
    return ids.astype(np.int32) if fits else ids


def _timestamps_ms(column: pa.ChunkedArray, unit: str, path: Path, name: str) -> np.ndarray:
    """Milliseconds since the epoch from a numeric column in ``unit``, a timestamp column or ISO-8601 text; warns
    when numbers read as milliseconds all fall in the first months of 1970 (they look like seconds)."""
    values = _parse_timestamps_ms(column, unit, path, name)
    if unit == "ms" and not pa.types.is_timestamp(column.type) and values.size:
        finite = values[np.isfinite(values)] if values.dtype.kind == "f" else values
        if finite.size and SECONDS_AS_MS_RANGE[0] <= np.median(finite) < SECONDS_AS_MS_RANGE[1]:
            warnings.warn(
                f"{path}: column {name!r} read as milliseconds puts the events in the first months of 1970; if they "
                "are seconds, pass timestamp_unit='s'",
                UserWarning,
                stacklevel=2,
            )
    return values


def _parse_timestamps_ms(column: pa.ChunkedArray, unit: str, path: Path, name: str) -> np.ndarray:
    kind = column.type
    if pa.types.is_timestamp(kind):
        return _numpy(column.cast(pa.timestamp("ms", tz=kind.tz), safe=False).cast(pa.int64()))
    divisor = _TIMESTAMP_DIVISORS[unit]
    if pa.types.is_integer(kind):
        values = _numpy(column)
        if values.dtype.kind == "f":  # nulls: validate_events reports them
            return np.round(values * 1_000 / divisor)
        return values * (1_000 // divisor) if divisor <= 1_000 else values // (divisor // 1_000)
    if pa.types.is_floating(kind):
        return np.round(_numpy(column) * 1_000 / divisor)
    text = column.to_pandas()
    numbers = pd.to_numeric(text, errors="coerce")
    if numbers.notna().any():
        parsed, expected = numbers * (1_000 / divisor), f"a number of {unit} since 1970"
    else:
        moments = pd.to_datetime(text, utc=True, format="ISO8601", errors="coerce")
        parsed, expected = moments.dt.as_unit("ms").astype("int64").where(moments.notna()), "an ISO-8601 date-time"
    bad = parsed.isna() & text.notna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        value = _clip(str(text.iloc[row]))
        raise RecgymDataError(f"{path}: column {name!r} has {value!r} in row {row}, expected {expected}")
    return np.round(parsed.to_numpy(dtype=np.float64, na_value=np.nan))


def _event_codes(column: pa.Array | pa.ChunkedArray, mapping: EventTypeMap, path: Path, name: str) -> np.ndarray:
    """int8 event types of a column of labels; -1 marks rows whose label maps to None (to be dropped)."""
    lookup = {str(label): kind for label, kind in mapping.items()}
    if isinstance(column, pa.ChunkedArray):
        chunks = [_event_codes(chunk, mapping, path, name) for chunk in column.chunks]
        return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int8)
    if column.null_count:
        row = int(np.flatnonzero(_numpy(column.is_null()))[0])
        raise RecgymDataError(f"{path}: missing {name!r} in row {row}")
    encoded = column.dictionary_encode()
    labels = [str(label) for label in encoded.dictionary.to_pylist()]
    unknown = [label for label in labels if label not in lookup]
    if unknown:
        raise RecgymDataError(
            f"{path}: unknown event type {unknown[0]!r} in column {name!r} (known: {', '.join(map(repr, lookup))})"
        )
    codes = [lookup[label] for label in labels]
    table = np.array([-1 if code is None else int(code) for code in codes], dtype=np.int8)
    return table[_numpy(encoded.indices).astype(np.intp, copy=False)]


def _events(
    path: Path,
    *,
    session_id: np.ndarray,
    item_id: np.ndarray,
    timestamp: np.ndarray,
    event_type: np.ndarray,
    **extra: np.ndarray,
) -> pd.DataFrame:
    """Validate the columns as an events table and drop the rows whose event type maps to None (code -1).

    ``extra`` columns (``user_id``) are carried along."""
    # The columns are numpy's now; what arrow's pool still caches of the parsed blocks (about 14 bytes per event of
    # an OTTO file with mimalloc) goes back to the OS before the protocol needs the memory.
    pa.default_memory_pool().release_unused()
    keep = event_type >= 0
    dropping = not keep.all()
    # Dropped rows are validated too, with a placeholder type, so that row numbers in errors match the file.
    placeholder = np.where(keep, event_type, np.int8(EventType.CLICK)) if dropping else event_type
    frame = pd.DataFrame(
        {"session_id": session_id, "item_id": item_id, "timestamp": timestamp, "event_type": placeholder, **extra},
        copy=False,
    )
    events = validate_events(frame, str(path))
    return events[keep].reset_index(drop=True) if dropping else events
