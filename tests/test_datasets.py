"""load_dataset / SessionDataset: caching, invalidation, determinism, d3rlpy export, option errors."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pytest

import recgym.datasets as datasets
from recgym import SessionDataset, load_dataset
from recgym.data.protocol import SPLIT_NAMES
from recgym.errors import DatasetNotFoundError, InvalidOptionError, RecgymDataError

SMALL = {"n_sessions": 300, "n_items": 60}


def csv_log(path: Path, rows: list[tuple[int, int, int, int]]) -> Path:
    lines = ["session_id,item_id,timestamp,event_type"] + [",".join(map(str, row)) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def random_rows(seed: int, n_sessions: int = 60) -> list[tuple[int, int, int, int]]:
    rng = np.random.default_rng(seed)
    return [
        (session, int(rng.integers(0, 30)), 1000 * session + step, int(rng.random() < 0.1))
        for session in range(n_sessions)
        for step in range(int(rng.integers(2, 8)))
    ]


def no_rebuild(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args, **kwargs):
        raise AssertionError("the cache should have been used")

    monkeypatch.setattr(datasets, "apply_protocol", fail)


def test_synthetic_dataset_shape_and_consistency(tmp_path: Path) -> None:
    dataset = load_dataset("synthetic", data_dir=tmp_path, **SMALL)
    assert isinstance(dataset, SessionDataset) and dataset.name == "synthetic"
    assert dataset.pad_id == dataset.n_items and dataset.state_size == 10
    sessions = [set(dataset.split(name).session_ids.tolist()) for name in SPLIT_NAMES]
    assert [len(s) for s in sessions] == [240, 30, 30]
    assert not (sessions[0] & sessions[1] or sessions[0] & sessions[2] or sessions[1] & sessions[2])
    train = dataset.split("train")
    counts = np.bincount(train.actions, minlength=dataset.n_items)
    np.testing.assert_allclose(dataset.item_popularity, counts / counts.sum())
    for name in SPLIT_NAMES:
        split = dataset.split(name)
        assert split.observations.shape == (split.n_transitions, 10)
        assert split.episode_starts[-1] == split.n_transitions and split.terminals.sum() == split.n_sessions
        assert split.actions.max() < dataset.n_items and split.observations.max() <= dataset.pad_id
        np.testing.assert_allclose(split.rewards, np.where(split.event_types == 1, 1.0, 0.2).astype(np.float32))
    stats = dataset.stats()
    assert stats["splits"]["train"]["events"] == train.n_transitions
    assert stats["splits"]["val"]["purchases"] == int((dataset.split("val").event_types == 1).sum())
    assert stats["n_items"] == dataset.n_items and 0 <= stats["splits"]["test"]["oov_rate"] < 1


def arrays(dataset: SessionDataset) -> dict[str, np.ndarray]:
    return {f"{name}.{key}": value for name in SPLIT_NAMES for key, value in vars(dataset.split(name)).items()}


def test_same_seed_same_arrays_other_seed_other_split(tmp_path: Path) -> None:
    first = arrays(load_dataset("synthetic", data_dir=tmp_path / "a", seed=5, **SMALL))
    again = arrays(load_dataset("synthetic", data_dir=tmp_path / "b", seed=5, **SMALL))
    other = load_dataset("synthetic", data_dir=tmp_path / "a", seed=6, **SMALL)
    for key in first:
        np.testing.assert_array_equal(first[key], again[key])
    assert set(other.split("test").session_ids) != set(first["test.session_ids"])


def test_cache_hit_is_fast_and_does_not_rebuild(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    built = load_dataset("synthetic", data_dir=tmp_path, **SMALL)
    no_rebuild(monkeypatch)
    started = time.perf_counter()
    cached = load_dataset("synthetic", data_dir=tmp_path, reward_purchase=5.0, **SMALL)
    assert time.perf_counter() - started < 1.0
    assert cached.cache_dir == built.cache_dir
    np.testing.assert_array_equal(cached.split("val").observations, built.split("val").observations)
    val = cached.split("val")
    np.testing.assert_allclose(val.rewards, np.where(val.event_types == 1, 5.0, 0.2).astype(np.float32))
    with pytest.raises(AssertionError, match="cache"):
        load_dataset("synthetic", data_dir=tmp_path, state_size=5, **SMALL)  # another parameter: rebuild


def test_changed_input_file_rebuilds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = csv_log(tmp_path / "log.csv", random_rows(0))
    first = load_dataset(path, data_dir=tmp_path / "data")
    csv_log(path, random_rows(1))
    second = load_dataset(path, data_dir=tmp_path / "data")
    assert second.cache_dir == first.cache_dir
    assert second.stats()["raw_events"] == len(random_rows(1))
    assert not np.array_equal(first.split("train").actions, second.split("train").actions)
    no_rebuild(monkeypatch)
    load_dataset(path, data_dir=tmp_path / "data")


def test_corrupt_cache_warns_and_rebuilds(tmp_path: Path) -> None:
    dataset = load_dataset("synthetic", data_dir=tmp_path, **SMALL)
    train = dataset.cache_dir / "train.npz"
    train.write_bytes(train.read_bytes()[:1000])
    with pytest.warns(RuntimeWarning, match="corrupt"):
        rebuilt = load_dataset("synthetic", data_dir=tmp_path, **SMALL)
    np.testing.assert_array_equal(rebuilt.split("train").observations, dataset.split("train").observations)
    (dataset.cache_dir / "manifest.json").write_text('{"key": ')
    with pytest.warns(RuntimeWarning, match="corrupt"):
        load_dataset("synthetic", data_dir=tmp_path, **SMALL)


def test_failing_read_leaves_no_cache(tmp_path: Path) -> None:
    path = csv_log(tmp_path / "log.csv", [(1, 2, 3, 0)])
    path.write_text(path.read_text() + "1,not-an-item,4,0\n")
    with pytest.raises(RecgymDataError):
        load_dataset(path, data_dir=tmp_path / "data")
    processed = tmp_path / "data" / "processed"
    assert not processed.exists() or not any(processed.iterdir())


def test_rc15_from_raw_files(tmp_path: Path) -> None:
    from recgym.data.synthetic import SyntheticConfig, write_rc15_files

    write_rc15_files(tmp_path / "rc15", SyntheticConfig(n_sessions=400, n_items=80, short_session_share=0.3), progress=False)
    dataset = load_dataset("rc15", data_dir=tmp_path, n_sample_sessions=200)
    stats = dataset.stats()
    assert stats["sessions"] == 200 and stats["filtered_sessions"] < stats["raw_sessions"] == 400
    for name in SPLIT_NAMES:  # every kept session has more than 2 clicks
        split = dataset.split(name)
        clicks = np.add.reduceat(split.event_types == 0, split.episode_starts[:-1])
        assert clicks.min() >= 3


def test_missing_raw_files(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match="yoochoose-clicks.dat.*datasets/rc15.md"):
        load_dataset("rc15", data_dir=tmp_path)
    with pytest.raises(DatasetNotFoundError, match="no such file"):
        load_dataset(tmp_path / "missing.csv", data_dir=tmp_path)


def test_option_errors(tmp_path: Path) -> None:
    with pytest.raises(InvalidOptionError, match="n_sesions.*valid: .*n_sessions.*reward_click"):
        load_dataset("synthetic", data_dir=tmp_path, n_sesions=10)
    with pytest.raises(InvalidOptionError, match="state_size"):
        load_dataset("synthetic", data_dir=tmp_path, state_size=0)
    with pytest.raises(InvalidOptionError, match="n_items"):
        load_dataset("synthetic", data_dir=tmp_path, n_items=1)
    with pytest.raises(InvalidOptionError, match="valid: rc15, retailrocket, generic"):
        load_dataset("synthetic", data_dir=tmp_path, protocol="nope")
    with pytest.raises(InvalidOptionError, match="purchase_event"):
        load_dataset("retailrocket", data_dir=tmp_path, purchase_evnt="transaction")
    dataset = load_dataset("synthetic", data_dir=tmp_path, **SMALL)
    with pytest.raises(InvalidOptionError, match="valid: train, val, test"):
        dataset.split("validation")


def test_default_data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RECGYM_DATA", str(tmp_path / "env"))
    assert datasets.default_data_dir() == tmp_path / "env"
    monkeypatch.delenv("RECGYM_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert datasets.default_data_dir() == tmp_path / "xdg" / "recgym"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert datasets.default_data_dir() == Path.home() / ".cache" / "recgym"


def test_to_d3rlpy_trains_discrete_cql(tmp_path: Path) -> None:
    import d3rlpy

    dataset = load_dataset("synthetic", data_dir=tmp_path, **SMALL)
    mdp = dataset.to_d3rlpy("train")
    train = dataset.split("train")
    assert mdp.dataset_info.action_size == dataset.n_items
    assert mdp.transition_count == train.n_transitions and len(mdp.episodes) == train.n_sessions
    episode = mdp.episodes[1]
    start, stop = train.episode_starts[1], train.episode_starts[2]
    np.testing.assert_array_equal(episode.observations, train.observations[start:stop])
    np.testing.assert_array_equal(episode.observations[1:], train.next_observations[start : stop - 1])
    encoder = d3rlpy.models.VectorEncoderFactory(hidden_units=[8])
    algo = d3rlpy.algos.DiscreteCQLConfig(batch_size=8, encoder_factory=encoder).create()
    algo.fit(mdp, n_steps=4, n_steps_per_epoch=4, show_progress=False, logger_adapter=d3rlpy.logging.NoopAdapterFactory())
    assert algo.predict(train.observations[:3].astype(np.float32)).shape == (3,)


def test_to_minari_without_minari_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dataset = load_dataset("synthetic", data_dir=tmp_path, **SMALL)
    monkeypatch.setitem(sys.modules, "minari", None)  # import minari now raises ImportError
    with pytest.raises(ImportError, match=r"recgym\[minari\]"):
        dataset.to_minari("recgym/synthetic-v0")


def test_to_minari_round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("minari")
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "minari"))
    dataset = load_dataset("synthetic", data_dir=tmp_path, **SMALL)
    exported = dataset.to_minari("recgym/synthetic-test-v0", split="val", author="tests")
    val = dataset.split("val")
    assert exported.total_episodes == val.n_sessions and exported.total_steps == val.n_transitions
    episode = exported[2]
    start, stop = val.episode_starts[2], val.episode_starts[3]
    np.testing.assert_array_equal(episode.observations[:-1], val.observations[start:stop])
    np.testing.assert_array_equal(episode.observations[1:], val.next_observations[start:stop])
    np.testing.assert_array_equal(episode.actions, val.actions[start:stop])
    np.testing.assert_allclose(episode.rewards, val.rewards[start:stop])
