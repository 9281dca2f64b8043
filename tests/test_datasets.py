"""load_dataset / SessionDataset: caching, invalidation, determinism, d3rlpy export, option errors."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

import recgym.datasets as datasets
from recgym import SessionDataset, load_dataset
from recgym.data.protocol import SPLIT_NAMES
from recgym.errors import CacheLocationError, DatasetNotFoundError, InvalidOptionError, RecgymDataError

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


def edit_manifest(dataset: SessionDataset, edit) -> None:
    path = dataset.cache_dir / "manifest.json"
    manifest = json.loads(path.read_text())
    edit(manifest)
    path.write_text(json.dumps(manifest))


@pytest.mark.parametrize(
    "edit",
    [
        lambda manifest: manifest["arrays"]["val"].pop("actions"),
        lambda manifest: manifest.update(stats="edited"),
        lambda manifest: manifest["stats"]["splits"]["test"].update(purchases=10**6),
    ],
    ids=["array-entry-removed", "stats-not-a-dict", "stats-value-edited"],
)
def test_damaged_manifest_is_rebuilt_never_used(tmp_path: Path, edit) -> None:
    dataset = load_dataset("synthetic", data_dir=tmp_path, **SMALL)
    edit_manifest(dataset, edit)
    with pytest.warns(RuntimeWarning, match="corrupt"):
        rebuilt = load_dataset("synthetic", data_dir=tmp_path, **SMALL)
    assert rebuilt.stats() == dataset.stats()
    np.testing.assert_array_equal(rebuilt.split("val").actions, dataset.split("val").actions)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the rebuilt cache is whole again: no warning
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


def test_missing_buys_file_is_the_only_one_named(tmp_path: Path) -> None:
    (tmp_path / "rc15").mkdir()
    (tmp_path / "rc15" / "yoochoose-clicks.dat").write_text("1,2014-04-07T10:51:09.277Z,214536502,0\n")
    with pytest.raises(DatasetNotFoundError) as error:
        load_dataset("rc15", data_dir=tmp_path)
    message = str(error.value)
    assert f"yoochoose-buys.dat not found in {tmp_path / 'rc15'}, where yoochoose-clicks.dat is" in message
    assert "yoochoose-clicks.dat not found" not in message and "datasets/rc15.md" in message


@pytest.mark.parametrize(
    ("option", "expected"),
    [
        ({"n_sessions": "abc"}, "n_sessions must be an integer, got 'abc'"),
        ({"n_items": 2.5}, "n_items must be an integer, got 2.5"),
        ({"n_topics": "many"}, "n_topics must be an integer or None, got 'many'"),
        ({"purchase_rate": "high"}, "purchase_rate must be a finite number, got 'high'"),
        ({"length_sigma": float("nan")}, "length_sigma must be a finite number, got nan"),
        ({"max_session_clicks": True}, "max_session_clicks must be an integer, got True"),
        ({"generator_seed": "x"}, "generator_seed must be a finite integer >= 0, got 'x'"),
        ({"n_sample_sessions": "abc"}, "n_sample_sessions must be an integer >= 1 or None, got 'abc'"),
        ({"train_fraction": "abc"}, "train_fraction and val_fraction must be in"),
        ({"min_session_events": 1.5}, "min_session_events must be an integer >= 0, got 1.5"),
    ],
)
def test_wrongly_typed_number_options_are_one_clear_line(tmp_path: Path, option: dict, expected: str) -> None:
    with pytest.raises(InvalidOptionError) as error:
        load_dataset("synthetic", data_dir=tmp_path, **SMALL | option)
    assert expected in str(error.value) and "\n" not in str(error.value) and "not supported" not in str(error.value)


def test_no_surviving_session_names_the_input(tmp_path: Path) -> None:
    path = csv_log(tmp_path / "single.csv", [(session, 1, session, 0) for session in range(5)])
    with pytest.raises(RecgymDataError) as error:
        load_dataset(path, data_dir=tmp_path / "data")
    assert str(error.value).startswith(f"{path}: no session survives the protocol filters (")
    assert "min_session_events=2" in str(error.value)


def test_empty_val_split_warns_at_load_and_is_an_error_on_request(tmp_path: Path) -> None:
    rows = [(session, item, 10 * session + item, 0) for session in range(5) for item in (1, 2)]
    path = csv_log(tmp_path / "tiny.csv", rows)  # 5 sessions split 80/10/10: 4, 0 and 1
    with pytest.warns(RuntimeWarning, match=re.escape(f"{path}: the val split is empty (5 sessions")):
        dataset = load_dataset(path, data_dir=tmp_path / "data")
    assert dataset.empty_splits() == ["val"] and dataset.source == str(path)
    dataset.require_nonempty("train", "test")
    with pytest.raises(RecgymDataError, match=re.escape(f"{path}: the val split is empty")):
        dataset.require_nonempty()
    with pytest.raises(RecgymDataError, match="val split"):
        dataset.require_nonempty("val", "test")


def test_cache_dir_argument_and_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    explicit = load_dataset("synthetic", data_dir=tmp_path / "data", cache_dir=tmp_path / "cache", **SMALL)
    assert explicit.cache_dir.parent == tmp_path / "cache" and (explicit.cache_dir / "manifest.json").is_file()
    assert not (tmp_path / "data").exists()
    monkeypatch.setenv("RECGYM_CACHE", str(tmp_path / "env-cache"))
    from_env = load_dataset("synthetic", data_dir=tmp_path / "data", **SMALL)
    assert from_env.cache_dir.parent == tmp_path / "env-cache"
    assert explicit.cache_dir.name == from_env.cache_dir.name  # the location is not part of the key
    again = load_dataset("synthetic", data_dir=tmp_path / "data", cache_dir=tmp_path / "cache", **SMALL)
    assert again.cache_dir == explicit.cache_dir  # the argument wins over the variable
    monkeypatch.delenv("RECGYM_CACHE")
    default = load_dataset("synthetic", data_dir=tmp_path / "data", **SMALL)
    assert default.cache_dir.parent == tmp_path / "data" / "processed"


def permission_bits_apply() -> list[str]:
    """A command prefix under which file permission bits bind (root ignores them unless CAP_DAC_OVERRIDE is dropped)."""
    if os.geteuid() != 0:
        return []
    prefix = ["setpriv", "--inh-caps=-dac_override", "--bounding-set=-dac_override"]
    if shutil.which("setpriv") is None or subprocess.run([*prefix, "true"], capture_output=True).returncode != 0:
        pytest.skip("running as root and setpriv cannot drop CAP_DAC_OVERRIDE, so no folder is read-only to this test")
    return prefix


READ_ONLY_SCRIPT = """
import json, sys
from pathlib import Path
import recgym.data.readers as readers
from recgym import load_dataset
from recgym.errors import CacheLocationError

log, data, cache = map(Path, sys.argv[1:])
read_events, out = readers.read_events, {}
def refuse(*args, **kwargs):
    raise AssertionError("the log was read before the cache location was checked")
readers.read_events = refuse
try:
    load_dataset(log, data_dir=data, seed=1)
except CacheLocationError as error:
    out["error"] = str(error)
out["prebuilt"] = str(load_dataset(log, data_dir=data, seed=0).cache_dir)
readers.read_events = read_events
out["elsewhere"] = str(load_dataset(log, data_dir=data, seed=1, cache_dir=cache).cache_dir)
print(json.dumps(out))
"""


def test_read_only_data_dir(tmp_path: Path) -> None:
    prefix = permission_bits_apply()
    data = tmp_path / "data"
    log = csv_log(data.parent / "log.csv", random_rows(0))
    prebuilt = load_dataset(log, data_dir=data, seed=0)  # a cache prepared while the folder was writable
    read_only = [data, data / "processed", prebuilt.cache_dir]
    for folder in read_only:
        folder.chmod(0o555)
    try:
        run = subprocess.run(
            [*prefix, sys.executable, "-c", READ_ONLY_SCRIPT, str(log), str(data), str(tmp_path / "cache")],
            capture_output=True, text=True, timeout=120, env={**os.environ, "OMP_NUM_THREADS": "1"},
        )
    finally:
        for folder in read_only:
            folder.chmod(0o755)
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout.splitlines()[-1])
    assert out["error"].startswith(f"cache location {data / 'processed'} is not writable (Permission denied)")
    assert "--cache-dir" in out["error"] and "RECGYM_CACHE" in out["error"]
    assert out["prebuilt"] == str(prebuilt.cache_dir)  # a valid cache in a read-only location still loads
    assert Path(out["elsewhere"]).parent == tmp_path / "cache"
    assert [p.name for p in (data / "processed").iterdir()] == [prebuilt.cache_dir.name]


def test_cache_location_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(CacheLocationError, match="is not writable"):
        load_dataset("synthetic", data_dir=tmp_path, cache_dir=tmp_path / "file", **SMALL)


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
