"""On-disk cache of processed datasets: one .npz per array group plus ``manifest.json``.

The manifest records the format version, the parameters that produced the arrays, fingerprints of the input files,
statistics with their SHA-256, and dtype, shape and CRC-32 of every array. A cache is used only when its parameters
and input fingerprints match and the manifest checks out completely (every array the caller needs listed, present and
matching, statistics a mapping matching their checksum); anything else is a damaged cache, reported with a warning and
treated as missing, never used. Writes go to a temporary sibling folder that replaces the cache folder in one rename,
so readers never see half a cache; the folders of writers killed mid-write are removed by the next write.
Arrays are read with ``allow_pickle=False``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import socket
import tempfile
import time
import uuid
import warnings
import zipfile
import zlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from recgym.errors import CacheLocationError

__all__ = [
    "FORMAT_VERSION",
    "MANIFEST_NAME",
    "check_writable",
    "file_fingerprint",
    "read_hash_memo",
    "read_cache",
    "remove_dead_leftovers",
    "write_cache",
    "write_hash_memo",
    "write_npz",
]

FORMAT_VERSION = 4
MANIFEST_NAME = "manifest.json"
ABANDONED_AFTER_S = 86_400  # a leftover whose writer cannot be checked (another host, older recgym) goes after a day
_BLOCK = 8 * 2**20  # input files are hashed whole, in blocks of this size (bounded memory)
HASH_MEMO = ".input-hashes.json"
"""In a cache location: each input file's last hash, by its path, with the (size, mtime, ctime, inode) it had."""
_HOST = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]
# .<cache>.tmp-<host>-<pid>-<uuid> while written, .<cache>.old-... while replaced; older recgym: .<cache>.tmp-<uuid>
_LEFTOVER = re.compile(r"^\..+\.(?:tmp|old)-(?:(?P<host>[0-9a-f]{8})-(?P<pid>\d+)-)?[0-9a-f]{32}$")

logger = logging.getLogger(__name__)


def file_fingerprint(path: Path, memo: dict[str, Any] | None = None) -> dict[str, object]:
    """Size, mtime and the sha256 of an input file's whole content, read in blocks: an edit anywhere in the file, even
    one that keeps its size and mtime, changes it.

    Hashing costs about 1 s per 1.3 GB (``benchmarks/input_hash_cost.py``). With ``memo`` (:func:`read_hash_memo`),
    a file whose size, mtime, ctime and inode are those of its last hashing reuses that hash, and a new hash is added
    to it (:func:`write_hash_memo` keeps it).
    Any write to a file changes its ctime, restoring its mtime included, so a reused hash is the content's.
    """
    stat = path.stat()
    identity = [stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino]
    where = str(path.resolve())
    known = (memo or {}).get(where)
    if isinstance(known, dict) and known.get("identity") == identity and isinstance(known.get("sha256"), str):
        sha256 = known["sha256"]
    else:
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(_BLOCK), b""):
                digest.update(block)
        sha256 = digest.hexdigest()
        if memo is not None:
            memo[where] = {"identity": identity, "sha256": sha256}
    return {"name": path.name, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": sha256}


def write_npz(path: str | os.PathLike[str], arrays: Mapping[str, np.ndarray]) -> Path:
    """One ``.npz`` of ``arrays`` (no pickle) whose bytes depend on the arrays only (deflated members with the zip
    format's earliest timestamp), written whole or not at all; returns the path."""
    path = Path(path)
    partial = path.with_name(f".{path.name}.partial")
    try:
        with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, array in arrays.items():
                info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                with archive.open(info, "w", force_zip64=True) as file:
                    np.lib.format.write_array(file, np.asanyarray(array), allow_pickle=False)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return path


def read_hash_memo(location: Path) -> dict[str, Any]:
    """The input hashes remembered in a cache location (:data:`HASH_MEMO`); empty when absent or damaged."""
    path = location / HASH_MEMO
    if not path.is_file():
        return {}
    try:
        memo = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}  # a damaged memo only costs a rehash
    return memo if isinstance(memo, dict) else {}


def write_hash_memo(location: Path, memo: Mapping[str, Any]) -> None:
    """Keep ``memo`` in ``location``, atomically and best effort: a location that cannot take it costs a rehash."""
    path = location / HASH_MEMO
    try:
        tmp = path.with_name(f"{path.name}.tmp-{uuid.uuid4().hex}")
        tmp.write_text(json.dumps(dict(memo), sort_keys=True))
        os.replace(tmp, path)
    except OSError:
        logger.debug("cannot write the hash memo %s", path)


def check_writable(location: Path) -> None:
    """Create ``location`` if needed and check that files can be written in it, else raise CacheLocationError."""
    try:
        location.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=location):
            pass
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise CacheLocationError(
            f"cache location {location} is not writable ({reason}); "
            "choose a writable one with cache_dir= (CLI: --cache-dir) or $RECGYM_CACHE"
        ) from None


def _describe(array: np.ndarray) -> dict[str, object]:
    """Dtype, shape and CRC-32 of an array's bytes (fast enough to verify on every load; guards against damage)."""
    checksum = zlib.crc32(np.ascontiguousarray(array).data) if array.size else 0
    return {"dtype": array.dtype.str, "shape": list(array.shape), "crc32": checksum}


def _stats_digest(stats: Mapping[str, object]) -> str:
    return hashlib.sha256(json.dumps(stats, sort_keys=True).encode()).hexdigest()


def _private_sibling(directory: Path, kind: str) -> Path:
    """A hidden sibling of ``directory`` whose name records this writer's host and PID."""
    return directory.parent / f".{directory.name}.{kind}-{_HOST}-{os.getpid()}-{uuid.uuid4().hex}"


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _abandoned(path: Path, host: str | None, pid: str | None) -> bool:
    if host == _HOST and pid is not None and os.name == "posix":
        return not _process_alive(int(pid))
    try:
        return time.time() - path.stat().st_mtime > ABANDONED_AFTER_S
    except FileNotFoundError:
        return False


def remove_dead_leftovers(parent: Path) -> list[Path]:
    """Remove the temporary folders that writers killed mid-write left in ``parent``; return them.

    A writer's folder names its host and PID: it is removed once that process is gone (a live writer's folder is
    kept), or, when that cannot be checked (another host, a folder of an older recgym), once it is a day old.
    """
    removed = []
    for child in parent.iterdir() if parent.is_dir() else ():
        match = _LEFTOVER.match(child.name)
        if match and child.is_dir() and _abandoned(child, match["host"], match["pid"]):
            shutil.rmtree(child, ignore_errors=True)
            logger.info("removed %s, left by a killed cache writer", child)
            removed.append(child)
    return removed


def write_cache(
    directory: Path,
    key: Mapping[str, object],
    groups: Mapping[str, Mapping[str, np.ndarray]],
    stats: Mapping[str, object],
) -> None:
    """Write ``groups`` ({group: {array name: array}}) and the manifest to ``directory``, replacing it atomically.

    ``key`` (format version, parameters, input fingerprints) is what :func:`read_cache` compares against; ``stats``
    must be JSON-able. Leftovers of killed writers beside ``directory`` are removed first.
    """
    directory.parent.mkdir(parents=True, exist_ok=True)
    remove_dead_leftovers(directory.parent)
    temporary = _private_sibling(directory, "tmp")
    temporary.mkdir()
    try:
        arrays: dict[str, dict[str, object]] = {}
        for group, members in groups.items():
            if any(array.dtype == object for array in members.values()):
                raise TypeError(f"cache group {group!r} holds an object array; only numeric arrays are stored")
            np.savez(temporary / f"{group}.npz", allow_pickle=False, **members)
            arrays[group] = {name: _describe(array) for name, array in members.items()}
        stored_stats = json.loads(json.dumps(dict(stats)))
        manifest = {
            "key": dict(key),
            "stats": stored_stats,
            "stats_sha256": _stats_digest(stored_stats),
            "arrays": arrays,
        }
        (temporary / MANIFEST_NAME).write_text(json.dumps(manifest, indent=1))
        old = None
        if directory.exists():
            old = _private_sibling(directory, "old")
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


def _manifest_problem(manifest: Mapping[str, object], layout: Mapping[str, Iterable[str]]) -> str | None:
    """What is wrong with a manifest whose key matched, or None: statistics, their checksum, the listed arrays."""
    stats, arrays = manifest.get("stats"), manifest.get("arrays")
    if not isinstance(stats, dict):
        return f"stats is a {type(stats).__name__}, not a mapping"
    if manifest.get("stats_sha256") != _stats_digest(stats):
        return "stats do not match their checksum"
    if not isinstance(arrays, dict):
        return f"arrays is a {type(arrays).__name__}, not a mapping"
    for group, names in layout.items():
        listed = arrays.get(group)
        if not isinstance(listed, dict):
            return f"array group {group} is not listed"
        missing = [name for name in names if name not in listed]
        if missing:
            return f"array(s) {', '.join(missing)} of {group} not listed"
    return None


def read_cache(
    directory: Path, key: Mapping[str, object], layout: Mapping[str, Iterable[str]]
) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, object]] | None:
    """The cached arrays and statistics when ``directory`` holds a valid cache for ``key``, else None.

    ``layout`` ({group: array names}) is what the caller needs; the listed arrays of those groups are returned.
    A missing cache returns None quietly, a stale one (other parameters or changed inputs) with a log message,
    a corrupt one (unreadable or incomplete manifest, missing or damaged array, edited statistics) with a warning.
    """
    layout = {group: tuple(names) for group, names in layout.items()}
    manifest_path = directory / MANIFEST_NAME
    if not manifest_path.is_file():
        if directory.exists():
            _corrupt(directory, f"{MANIFEST_NAME} missing")
        return None
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, ValueError) as error:
        _corrupt(directory, f"unreadable {MANIFEST_NAME}: {error}")
        return None
    if not isinstance(manifest, dict) or "key" not in manifest:
        _corrupt(directory, f"{MANIFEST_NAME} has no key")
        return None
    if manifest["key"] != json.loads(json.dumps(dict(key))):
        logger.info("cache %s is stale (parameters or input files changed); rebuilding it", directory)
        return None
    problem = _manifest_problem(manifest, layout)
    if problem is not None:
        _corrupt(directory, f"{MANIFEST_NAME}: {problem}")
        return None
    loaded: dict[str, dict[str, np.ndarray]] = {}
    for group in layout:
        path = directory / f"{group}.npz"
        expected = manifest["arrays"][group]
        try:
            with np.load(path, allow_pickle=False) as archive:
                members = {name: archive[name] for name in expected}
        except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile) as error:
            _corrupt(directory, f"{path.name}: {type(error).__name__}: {error}")
            return None
        for name, array in members.items():
            if _describe(array) != expected[name]:
                _corrupt(directory, f"{path.name}: array {name} does not match its dtype, shape and CRC-32")
                return None
        loaded[group] = members
    return loaded, manifest["stats"]
