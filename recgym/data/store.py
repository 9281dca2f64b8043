"""On-disk cache of processed datasets: one .npz per array group plus ``manifest.json``.

The manifest records the format version, the parameters that produced the arrays, fingerprints of the input files,
statistics, and a CRC-32 per array. A cache is used only when its parameters and input fingerprints match and every
array checks out; a corrupt or partial cache is reported with a warning and treated as missing, never used.
Writes go to a temporary sibling folder that replaces the cache folder in one rename, so readers never see half a cache.
Arrays are read with ``allow_pickle=False``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import uuid
import warnings
import zipfile
import zlib
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

__all__ = ["FORMAT_VERSION", "MANIFEST_NAME", "file_fingerprint", "read_cache", "write_cache"]

FORMAT_VERSION = 2
MANIFEST_NAME = "manifest.json"
_FULL_HASH_LIMIT = 16 * 2**20  # files up to this size are hashed entirely
_BLOCK = 2**20  # larger files: hash of the first and last block, plus size and mtime

logger = logging.getLogger(__name__)


def file_fingerprint(path: Path) -> dict[str, object]:
    """Size, mtime and a sha256 of an input file (whole file when small, head and tail blocks when large)."""
    stat = path.stat()
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        if stat.st_size <= _FULL_HASH_LIMIT:
            for block in iter(lambda: handle.read(_BLOCK), b""):
                digest.update(block)
            method = "sha256"
        else:
            digest.update(handle.read(_BLOCK))
            handle.seek(stat.st_size - _BLOCK)
            digest.update(handle.read(_BLOCK))
            method = "sha256-head-tail"
    return {"name": path.name, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns, method: digest.hexdigest()}


def _describe(array: np.ndarray) -> dict[str, object]:
    """Dtype, shape and CRC-32 of an array's bytes (fast enough to verify on every load; guards against damage)."""
    checksum = zlib.crc32(np.ascontiguousarray(array).data) if array.size else 0
    return {"dtype": array.dtype.str, "shape": list(array.shape), "crc32": checksum}


def write_cache(
    directory: Path, key: Mapping[str, object], groups: Mapping[str, Mapping[str, np.ndarray]], stats: Mapping[str, object]
) -> None:
    """Write ``groups`` ({group: {array name: array}}) and the manifest to ``directory``, replacing it atomically.

    ``key`` (format version, parameters, input fingerprints) is what :func:`read_cache` compares against.
    """
    directory.parent.mkdir(parents=True, exist_ok=True)
    temporary = directory.parent / f".{directory.name}.tmp-{uuid.uuid4().hex}"
    temporary.mkdir()
    try:
        arrays: dict[str, dict[str, object]] = {}
        for group, members in groups.items():
            if any(array.dtype == object for array in members.values()):
                raise TypeError(f"cache group {group!r} holds an object array; only numeric arrays are stored")
            np.savez(temporary / f"{group}.npz", **members)
            arrays[group] = {name: _describe(array) for name, array in members.items()}
        manifest = {"key": dict(key), "stats": dict(stats), "arrays": arrays}
        (temporary / MANIFEST_NAME).write_text(json.dumps(manifest, indent=1))
        old = None
        if directory.exists():
            old = directory.parent / f".{directory.name}.old-{uuid.uuid4().hex}"
            os.replace(directory, old)
        try:
            os.replace(temporary, directory)
        except OSError:
            if not (directory / MANIFEST_NAME).is_file():
                raise
            shutil.rmtree(temporary, ignore_errors=True)  # a concurrent writer installed the same cache first
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _corrupt(directory: Path, problem: str) -> None:
    warnings.warn(f"recgym: cache {directory} is corrupt ({problem}); rebuilding it", RuntimeWarning, stacklevel=3)


def read_cache(
    directory: Path, key: Mapping[str, object], groups: Iterable[str]
) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, object]] | None:
    """The cached ``groups`` and statistics when ``directory`` holds a valid cache for ``key``, else None.

    A missing cache returns None quietly, a stale one (other parameters or changed inputs) with a log message,
    a corrupt one (unreadable manifest, missing or damaged array) with a warning.
    """
    manifest_path = directory / MANIFEST_NAME
    if not manifest_path.is_file():
        if directory.exists():
            _corrupt(directory, f"{MANIFEST_NAME} missing")
        return None
    try:
        manifest = json.loads(manifest_path.read_text())
        cached_key, described, stats = manifest["key"], manifest["arrays"], manifest["stats"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        _corrupt(directory, f"unreadable {MANIFEST_NAME}: {error}")
        return None
    if cached_key != json.loads(json.dumps(dict(key))):
        logger.info("cache %s is stale (parameters or input files changed); rebuilding it", directory)
        return None
    loaded: dict[str, dict[str, np.ndarray]] = {}
    for group in groups:
        path = directory / f"{group}.npz"
        try:
            expected = described[group]
            with np.load(path, allow_pickle=False) as archive:
                members = {name: archive[name] for name in expected}
        except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile) as error:
            _corrupt(directory, f"{path.name}: {type(error).__name__}: {error}")
            return None
        for name, array in members.items():
            if _describe(array) != expected[name]:
                _corrupt(directory, f"{path.name}: array {name} does not match its checksum")
                return None
        loaded[group] = members
    return loaded, stats
