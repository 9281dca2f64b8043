"""The npz + manifest cache: round trip, staleness, corruption, atomic replacement, leftovers, writability."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

import recgym.data.cache as store
from recgym.data.cache import (
    MANIFEST_NAME,
    check_writable,
    file_fingerprint,
    read_cache,
    remove_dead_leftovers,
    write_cache,
)
from recgym.errors import CacheLocationError

KEY = {"format_version": 1, "parameters": {"seed": 0}, "inputs": []}
LAYOUT = {"train": ("observations", "terminals"), "items": ("item_popularity",)}


def groups() -> dict[str, dict[str, np.ndarray]]:
    rng = np.random.default_rng(0)
    return {
        "train": {"observations": rng.integers(0, 9, (50, 4)).astype(np.int32), "terminals": rng.random(50) < 0.3},
        "items": {"item_popularity": rng.random(9)},
    }


def test_round_trip(tmp_path: Path) -> None:
    written = groups()
    write_cache(tmp_path / "cache", KEY, written, {"events": 50})
    loaded, stats = read_cache(tmp_path / "cache", KEY, LAYOUT)
    assert stats == {"events": 50}
    for group, members in written.items():
        for name, array in members.items():
            np.testing.assert_array_equal(loaded[group][name], array)
            assert loaded[group][name].dtype == array.dtype
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache"]  # no temporary folder left


def test_missing_cache_is_a_quiet_miss(tmp_path: Path, recwarn: pytest.WarningsRecorder) -> None:
    assert read_cache(tmp_path / "nothing", KEY, LAYOUT) is None
    assert not recwarn.list


def test_other_key_is_stale_not_corrupt(tmp_path: Path, recwarn: pytest.WarningsRecorder) -> None:
    write_cache(tmp_path / "cache", KEY, groups(), {})
    assert read_cache(tmp_path / "cache", {**KEY, "parameters": {"seed": 1}}, LAYOUT) is None
    assert not recwarn.list


def corrupt_truncate(directory: Path) -> None:
    path = directory / "train.npz"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def corrupt_flip_byte(directory: Path) -> None:
    path = directory / "train.npz"
    data = bytearray(path.read_bytes())
    data[-300] ^= 0xFF  # inside the last array's data (npz is an uncompressed zip)
    path.write_bytes(bytes(data))


def corrupt_manifest_json(directory: Path) -> None:
    (directory / MANIFEST_NAME).write_text("{not json")


def corrupt_manifest_checksum(directory: Path) -> None:
    manifest = json.loads((directory / MANIFEST_NAME).read_text())
    manifest["arrays"]["train"]["observations"]["crc32"] += 1
    (directory / MANIFEST_NAME).write_text(json.dumps(manifest))


def corrupt_missing_array(directory: Path) -> None:
    (directory / "items.npz").unlink()


def corrupt_missing_manifest(directory: Path) -> None:
    (directory / MANIFEST_NAME).unlink()


def edit_manifest(directory: Path, edit) -> None:
    manifest = json.loads((directory / MANIFEST_NAME).read_text())
    edit(manifest)
    (directory / MANIFEST_NAME).write_text(json.dumps(manifest))


def corrupt_unlisted_array(directory: Path) -> None:
    edit_manifest(directory, lambda manifest: manifest["arrays"]["train"].pop("observations"))


def corrupt_unlisted_group(directory: Path) -> None:
    edit_manifest(directory, lambda manifest: manifest["arrays"].pop("items"))


def corrupt_stats_not_a_mapping(directory: Path) -> None:
    edit_manifest(directory, lambda manifest: manifest.update(stats=[["events", 50]]))


def corrupt_edited_stats(directory: Path) -> None:
    edit_manifest(directory, lambda manifest: manifest["stats"].update(events=51))


def corrupt_listed_shape(directory: Path) -> None:
    edit_manifest(directory, lambda manifest: manifest["arrays"]["train"]["terminals"].update(shape=[49]))


@pytest.mark.parametrize(
    "corrupt",
    [
        corrupt_truncate,
        corrupt_flip_byte,
        corrupt_manifest_json,
        corrupt_manifest_checksum,
        corrupt_missing_array,
        corrupt_missing_manifest,
        corrupt_unlisted_array,
        corrupt_unlisted_group,
        corrupt_stats_not_a_mapping,
        corrupt_edited_stats,
        corrupt_listed_shape,
    ],
)
def test_corruption_is_detected_with_a_warning(tmp_path: Path, corrupt) -> None:
    write_cache(tmp_path / "cache", KEY, groups(), {"events": 50})
    corrupt(tmp_path / "cache")
    with pytest.warns(RuntimeWarning, match="corrupt"):
        assert read_cache(tmp_path / "cache", KEY, LAYOUT) is None


def test_rewrite_replaces_the_old_cache(tmp_path: Path) -> None:
    write_cache(tmp_path / "cache", KEY, groups(), {"version": 1})
    (tmp_path / "cache" / "stray.npz").write_bytes(b"old")
    write_cache(tmp_path / "cache", KEY, groups(), {"version": 2})
    assert read_cache(tmp_path / "cache", KEY, LAYOUT)[1] == {"version": 2}
    assert not (tmp_path / "cache" / "stray.npz").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache"]


def test_failed_write_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(TypeError):
        write_cache(tmp_path / "cache", KEY, {"train": {"bad": np.array([object()])}}, {})
    assert list(tmp_path.iterdir()) == []


def test_no_pickle_in_cache(tmp_path: Path) -> None:
    write_cache(tmp_path / "cache", KEY, groups(), {})
    with np.load(tmp_path / "cache" / "train.npz", allow_pickle=False) as archive:
        assert set(archive.files) == {"observations", "terminals"}


def test_file_fingerprint_changes_with_content(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import recgym.data.cache as store

    monkeypatch.setattr(store, "_BLOCK", 10)  # many blocks: an edit in the middle of a large file
    path = tmp_path / "log.csv"
    path.write_bytes(b"a" * 1000)
    first = file_fingerprint(path)
    assert first["sha256"] == hashlib.sha256(b"a" * 1000).hexdigest() and first["size"] == 1000
    path.write_bytes(b"a" * 500 + b"b" + b"a" * 499)
    os.utime(path, ns=(first["mtime_ns"], first["mtime_ns"]))
    edited = file_fingerprint(path)
    assert edited != first and edited["size"] == first["size"] and edited["mtime_ns"] == first["mtime_ns"]


def test_a_memoised_hash_is_reused_only_for_the_same_file_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import recgym.data.cache as store

    path = tmp_path / "log.csv"
    path.write_bytes(b"a" * 1000)
    memo: dict = {}
    first = file_fingerprint(path, memo)
    store.write_hash_memo(tmp_path, memo)
    hashed = []
    real_sha256 = hashlib.sha256
    monkeypatch.setattr(store.hashlib, "sha256", lambda *a: hashed.append(1) or real_sha256(*a))
    assert file_fingerprint(path, store.read_hash_memo(tmp_path)) == first and not hashed  # the memo's hash
    path.write_bytes(b"a" * 500 + b"b" + b"a" * 499)
    os.utime(path, ns=(first["mtime_ns"], first["mtime_ns"]))  # same size and mtime; the ctime moved
    edited = file_fingerprint(path, store.read_hash_memo(tmp_path))
    assert hashed and edited["sha256"] == real_sha256(b"a" * 500 + b"b" + b"a" * 499).hexdigest()
    (tmp_path / store.HASH_MEMO).write_text("{damaged")
    assert store.read_hash_memo(tmp_path) == {}  # a damaged memo costs a rehash, nothing else
    assert file_fingerprint(path, store.read_hash_memo(tmp_path)) == edited


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def leftover(parent: Path, kind: str, host: str, pid: int | None) -> Path:
    owner = f"{host}-{pid}-" if pid is not None else ""
    path = parent / f".synthetic-0123abcd.{kind}-{owner}{uuid.uuid4().hex}"
    path.mkdir(parents=True)
    (path / "train.npz").write_bytes(b"partial")
    return path


def test_leftovers_of_dead_writers_are_removed_live_ones_kept(tmp_path: Path) -> None:
    host = store._HOST
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]) as live:
        try:
            dead = [leftover(tmp_path, "tmp", host, dead_pid()), leftover(tmp_path, "old", host, dead_pid())]
            kept = [leftover(tmp_path, "tmp", host, live.pid), leftover(tmp_path, "tmp", host, os.getpid())]
            kept.append(leftover(tmp_path, "tmp", "ffffffff", dead_pid()))  # another host: cannot tell yet
            kept.append(leftover(tmp_path, "tmp", "", None))  # an older recgym's name, no owner: cannot tell yet
            abandoned = leftover(tmp_path, "tmp", "", None)
            a_day_ago = time.time() - store.ABANDONED_AFTER_S - 60
            os.utime(abandoned, (a_day_ago, a_day_ago))
            write_cache(tmp_path / "cache", KEY, groups(), {})
        finally:
            live.kill()
    assert all(not path.exists() for path in [*dead, abandoned])
    assert all((path / "train.npz").is_file() for path in kept)
    assert read_cache(tmp_path / "cache", KEY, LAYOUT) is not None
    assert remove_dead_leftovers(tmp_path / "missing") == []


def test_check_writable(tmp_path: Path) -> None:
    check_writable(tmp_path / "new" / "processed")
    assert (tmp_path / "new" / "processed").is_dir() and not any((tmp_path / "new" / "processed").iterdir())
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(CacheLocationError, match=r"cache location .*file/processed is not writable.*RECGYM_CACHE"):
        check_writable(tmp_path / "file" / "processed")
