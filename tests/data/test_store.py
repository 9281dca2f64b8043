"""The npz + manifest cache: round trip, staleness, corruption, atomic replacement."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from recgym.data.store import MANIFEST_NAME, file_fingerprint, read_cache, write_cache

KEY = {"format_version": 1, "parameters": {"seed": 0}, "inputs": []}


def groups() -> dict[str, dict[str, np.ndarray]]:
    rng = np.random.default_rng(0)
    return {
        "train": {"observations": rng.integers(0, 9, (50, 4)).astype(np.int32), "terminals": rng.random(50) < 0.3},
        "items": {"item_popularity": rng.random(9)},
    }


def test_round_trip(tmp_path: Path) -> None:
    written = groups()
    write_cache(tmp_path / "cache", KEY, written, {"events": 50})
    loaded, stats = read_cache(tmp_path / "cache", KEY, ["train", "items"])
    assert stats == {"events": 50}
    for group, members in written.items():
        for name, array in members.items():
            np.testing.assert_array_equal(loaded[group][name], array)
            assert loaded[group][name].dtype == array.dtype
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache"]  # no temporary folder left


def test_missing_cache_is_a_quiet_miss(tmp_path: Path, recwarn: pytest.WarningsRecorder) -> None:
    assert read_cache(tmp_path / "nothing", KEY, ["train"]) is None
    assert not recwarn.list


def test_other_key_is_stale_not_corrupt(tmp_path: Path, recwarn: pytest.WarningsRecorder) -> None:
    write_cache(tmp_path / "cache", KEY, groups(), {})
    assert read_cache(tmp_path / "cache", {**KEY, "parameters": {"seed": 1}}, ["train"]) is None
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


@pytest.mark.parametrize(
    "corrupt",
    [corrupt_truncate, corrupt_flip_byte, corrupt_manifest_json, corrupt_manifest_checksum, corrupt_missing_array,
     corrupt_missing_manifest],
)
def test_corruption_is_detected_with_a_warning(tmp_path: Path, corrupt) -> None:
    write_cache(tmp_path / "cache", KEY, groups(), {})
    corrupt(tmp_path / "cache")
    with pytest.warns(RuntimeWarning, match="corrupt"):
        assert read_cache(tmp_path / "cache", KEY, ["train", "items"]) is None


def test_rewrite_replaces_the_old_cache(tmp_path: Path) -> None:
    write_cache(tmp_path / "cache", KEY, groups(), {"version": 1})
    (tmp_path / "cache" / "stray.npz").write_bytes(b"old")
    write_cache(tmp_path / "cache", KEY, groups(), {"version": 2})
    assert read_cache(tmp_path / "cache", KEY, ["train"])[1] == {"version": 2}
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
    path = tmp_path / "log.csv"
    path.write_bytes(b"a" * 1000)
    first = file_fingerprint(path)
    path.write_bytes(b"b" * 1000)
    os.utime(path, ns=(first["mtime_ns"], first["mtime_ns"]))
    assert file_fingerprint(path) != first  # same size and mtime, other content
    import recgym.data.store as store

    monkeypatch.setattr(store, "_FULL_HASH_LIMIT", 100)
    monkeypatch.setattr(store, "_BLOCK", 10)
    big = file_fingerprint(path)
    assert "sha256-head-tail" in big and big["size"] == 1000
