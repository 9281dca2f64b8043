"""The results folder: its config hash, the claim that keeps two configs apart, finished runs, atomic files."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recgym.benchmark.specs import BenchmarkError

try:
    import fcntl
except ImportError:  # not POSIX: folders are not locked
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "RESULT_FILE",
    "claim_folder",
    "config_hash",
    "folder_lock",
    "load_result",
    "read_config",
    "read_json",
    "run_dir",
    "write_curves",
    "write_json",
]

RESULT_FILE = "result.json"
CONFIG_FILE = "config.json"
LOCK_FILE = ".lock"


def config_hash(config: Mapping[str, Any]) -> str:
    """Short sha256 of the canonical JSON of ``config`` (sorted keys), the key of a results folder."""
    blob = json.dumps(config, sort_keys=True, separators=(",", ":"), default=json_default)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (Path, os.PathLike)):
        return os.fspath(value)
    return str(value)


def write_json(path: Path, payload: Any) -> None:
    """Atomic write: a reader never sees a half-written file."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=json_default))
    os.replace(tmp, path)


@contextlib.contextmanager
def folder_lock(out: Path) -> Iterator[None]:
    """Hold ``out``'s lock while a benchmark writes it: a second benchmark on the same folder (from any process on
    this machine) stops at once with one line instead of colliding with the first. The lock is released when the
    holder exits, however it ends, kill -9 included (an advisory ``flock``; on a system without it, no lock)."""
    out.mkdir(parents=True, exist_ok=True)
    if fcntl is None:
        yield
        return
    path = out / LOCK_FILE
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BenchmarkError(
                f"another benchmark is writing {out} now; wait for it to end or choose another --out"
            ) from None
        try:
            yield
        finally:
            path.unlink(missing_ok=True)  # safe: a contender does not wait for this file, it fails at once


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object file of a results folder; a damaged one (or any other JSON value) is a one-line error naming it."""
    try:
        content = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise BenchmarkError(f"{path} is damaged ({error}); delete it to redo what it recorded") from error
    if not isinstance(content, dict):
        raise BenchmarkError(f"{path} is damaged (not a JSON object); delete it to redo what it recorded")
    return content


def claim_folder(out: Path, config: Mapping[str, Any], inputs: Sequence[Mapping[str, Any]] = ()) -> str:
    """Write ``config.json`` into ``out`` or check that the one there has the same hash and inputs; returns the hash.

    ``inputs`` (the dataset's input file fingerprints) are checked beside the hash: a changed input file under the
    same arguments refuses the folder too.
    """
    digest = config_hash(config)
    path = out / CONFIG_FILE
    inputs = json.loads(json.dumps(list(inputs), default=json_default))
    if path.exists():
        existing = read_json(path)
        recorded_inputs = existing.get("inputs")
        if recorded_inputs is not None and recorded_inputs != inputs:
            changed = sorted({i["name"] for i in inputs} ^ {i["name"] for i in recorded_inputs}) or [
                new["name"] for new, old in zip(inputs, recorded_inputs) if new != old
            ]
            raise BenchmarkError(
                f"{out} holds a benchmark of other input files ({', '.join(changed)} changed since); "
                "choose another --out to keep results apart"
            )
        recorded = existing["config"] if isinstance(existing.get("config"), dict) else {}
        if existing.get("config_hash") != digest:
            changed = sorted(key for key in set(config) | set(recorded) if config.get(key) != recorded.get(key))
            raise BenchmarkError(
                f"{out} holds a benchmark with config hash {existing.get('config_hash')}, this one has {digest} "
                f"(differs in: {', '.join(changed) or 'unknown'}); choose another --out to keep results apart"
            )
    else:
        out.mkdir(parents=True, exist_ok=True)
        write_json(path, {"config_hash": digest, "config": config, "inputs": inputs})
    return digest


def read_config(out: Path) -> dict[str, Any]:
    """``config.json`` of a results folder: {"config_hash", "config", "inputs"}."""
    path = out / CONFIG_FILE
    if not path.is_file():
        raise BenchmarkError(f"{path} not found: not a benchmark folder")
    recorded = read_json(path)
    if not isinstance(recorded.get("config"), dict):
        raise BenchmarkError(f"{path} is damaged (no config); delete the folder to redo the benchmark")
    return recorded


def run_dir(out: Path, label: str, seed: int) -> Path:
    return out / "runs" / label / f"seed{seed}"


def load_result(path: Path, digest: str) -> dict[str, Any] | None:
    """A finished run's result dict (``path`` is its run folder), or None when the run has not finished."""
    file = path / RESULT_FILE
    if not file.exists():
        return None
    result = read_json(file)
    owner = result.get("config_hash")
    if owner != digest:
        raise BenchmarkError(f"{file} belongs to config {owner}, not {digest}; delete that run folder to redo it")
    return result


def write_curves(out: Path, curves: pd.DataFrame) -> None:
    """``curves.csv`` (:func:`~recgym.benchmark.report.curves_table` of the finished runs), written atomically."""
    tmp = out / "curves.csv.tmp"
    curves.to_csv(tmp, index=False)
    os.replace(tmp, out / "curves.csv")
