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
from recgym import ProtocolConfig, Rewards, SessionDataset, load_dataset, to_minari
from recgym.data.cache import HASH_MEMO
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


SPLIT_ARRAYS = (
    "observations",
    "actions",
    "rewards",
    "next_observations",
    "terminals",
    "event_types",
    "episode_starts",
    "session_ids",
)


def arrays(dataset: SessionDataset) -> dict[str, np.ndarray]:
    return {f"{name}.{key}": getattr(dataset.split(name), key) for name in SPLIT_NAMES for key in SPLIT_ARRAYS}


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
    with np.load(cached.cache_dir / "val.npz") as stored:  # the windows are rebuilt from the actions, not stored
        assert "observations" not in stored.files and "next_observations" not in stored.files
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

    write_rc15_files(
        tmp_path / "rc15", SyntheticConfig(n_sessions=400, n_items=80, short_session_share=0.3), progress=False
    )
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
        ({"n_sessions": "abc"}, "n_sessions must be a finite integer >= 1, got 'abc'"),
        ({"n_items": 2.5}, "n_items must be a finite integer >= 2, got 2.5"),
        ({"n_topics": "many"}, "n_topics must be a finite integer >= 1, got 'many'"),
        ({"purchase_rate": "high"}, "purchase_rate must be a finite number >= 0 and < 0.5, got 'high'"),
        ({"length_sigma": float("nan")}, "length_sigma must be a finite number >= 0, got nan"),
        ({"max_session_clicks": True}, "max_session_clicks must be a finite integer >= 1, got True"),
        ({"generator_seed": "x"}, "generator_seed must be a finite integer >= 0, got 'x'"),
        ({"n_sample_sessions": "abc"}, "n_sample_sessions must be a finite integer >= 1, got 'abc'"),
        ({"train_fraction": "abc"}, "train_fraction and val_fraction must be in"),
        ({"min_session_events": 1.5}, "min_session_events must be a finite integer >= 0, got 1.5"),
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
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "OMP_NUM_THREADS": "1"},
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
    written = [p.name for p in (data / "processed").iterdir() if p.name != HASH_MEMO]  # the memo: by the prebuilt load
    assert written == [prebuilt.cache_dir.name]


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
    algo.fit(
        mdp, n_steps=4, n_steps_per_epoch=4, show_progress=False, logger_adapter=d3rlpy.logging.NoopAdapterFactory()
    )
    assert algo.predict(train.observations[:3].astype(np.float32)).shape == (3,)


def test_to_minari_without_minari_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dataset = load_dataset("synthetic", data_dir=tmp_path, **SMALL)
    monkeypatch.setitem(sys.modules, "minari", None)  # import minari now raises ImportError
    with pytest.raises(ImportError, match=r"recgym\[minari\]"):
        to_minari(dataset, "recgym/synthetic-v0")


def test_to_minari_round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("minari")
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "minari"))
    dataset = load_dataset("synthetic", data_dir=tmp_path, **SMALL)
    exported = to_minari(dataset, "recgym/synthetic-test-v0", split="val", author="tests")
    val = dataset.split("val")
    assert exported.total_episodes == val.n_sessions and exported.total_steps == val.n_transitions
    episode = exported[2]
    start, stop = val.episode_starts[2], val.episode_starts[3]
    np.testing.assert_array_equal(episode.observations[:-1], val.observations[start:stop])
    np.testing.assert_array_equal(episode.observations[1:], val.next_observations[start:stop])
    np.testing.assert_array_equal(episode.actions, val.actions[start:stop])
    np.testing.assert_allclose(episode.rewards, val.rewards[start:stop])


def test_a_failed_minari_export_leaves_nothing_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    minari = pytest.importorskip("minari")
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "minari"))
    dataset = load_dataset("synthetic", data_dir=tmp_path, **SMALL)
    with pytest.raises(ValueError):
        to_minari(dataset, "recgym/synthetic-fail-v0", data_format="bogus")
    assert not (tmp_path / "minari" / "recgym" / "synthetic-fail-v0").exists()
    assert "recgym/synthetic-fail-v0" not in minari.list_local_datasets()
    assert to_minari(dataset, "recgym/synthetic-fail-v0", split="val").total_episodes == dataset.split("val").n_sessions


# ---------------------------------------------------------------- inputs, sessions and splits (issue 11)

BASELINE = Path(__file__).parent / "data" / "dataset_baseline.json"  # captured before time-gap sessions and splits


def crc_of_arrays(dataset: SessionDataset) -> dict[str, int]:
    import zlib

    arrays_ = {key: value for key, value in arrays(dataset).items()}
    arrays_.update(raw_item_ids=dataset.raw_item_ids, item_popularity=dataset.item_popularity)
    return {key: zlib.crc32(np.ascontiguousarray(value).data) for key, value in arrays_.items()}


def baseline_csv() -> str:
    rng = np.random.default_rng(11)
    lines = ["Sess;Item;Time;Kind"]
    for s in range(400):
        t = 1_600_000_000 + 5000 * s
        for _ in range(int(rng.integers(1, 9))):
            t += int(rng.integers(0, 120))
            lines.append(f"{1000 + s};{int(rng.integers(5, 90))};{t};{'buy' if rng.random() < 0.1 else 'view'}")
    return "\n".join(lines) + "\n"


def test_existing_inputs_keep_their_stats_arrays_and_cache_names(tmp_path: Path) -> None:
    """The running benchmark studies hash stats(): today's inputs must give exactly what they gave before."""
    expected = json.loads(BASELINE.read_text())
    for arguments in (
        {"n_sessions": 2000, "n_items": 300, "seed": 3, "state_size": 10},
        {"n_sessions": 1500, "n_items": 200, "seed": 0, "state_size": 5},
    ):
        dataset = load_dataset("synthetic", data_dir=tmp_path, **arguments)
        before = expected[json.dumps(arguments, sort_keys=True)]
        assert dataset.stats() == before["stats"] and dataset.cache_dir.name == before["cache"]
        assert crc_of_arrays(dataset) == before["crc"]
    path = tmp_path / "log.csv"
    path.write_text(baseline_csv())
    columns = {"session_id": "Sess", "item_id": "Item", "timestamp": "Time", "event_type": "Kind"}
    dataset = load_dataset(
        path, data_dir=tmp_path, columns=columns, event_types={"view": 0, "buy": 1}, timestamp_unit="s", seed=2
    )
    assert dataset.stats() == expected["csv"]["stats"] and crc_of_arrays(dataset) == expected["csv"]["crc"]


def assert_same_arrays(first: SessionDataset, second: SessionDataset) -> None:
    for key, value in arrays(first).items():
        np.testing.assert_array_equal(value, arrays(second)[key], err_msg=key)
    np.testing.assert_array_equal(first.raw_item_ids, second.raw_item_ids)
    assert first.stats()["splits"] == second.stats()["splits"]


def test_two_files_and_an_event_type_mapping_equal_the_merged_file(tmp_path: Path) -> None:
    rows = random_rows(3, n_sessions=80)
    merged = load_dataset(csv_log(tmp_path / "all.csv", rows), data_dir=tmp_path / "d")
    halves = [csv_log(tmp_path / "a.csv", rows[:150]), csv_log(tmp_path / "b.csv", rows[150:])]
    assert_same_arrays(load_dataset(halves, data_dir=tmp_path / "d"), merged)
    views = tmp_path / "views.csv"
    views.write_text("sid,iid,ts\n" + "".join(f"{s},{i},{t}\n" for s, i, t, k in rows if k == 0))
    buys = tmp_path / "buys.tsv"
    buys.write_text("Session\tItem\tTime\n" + "".join(f"{s}\t{i}\t{t}\n" for s, i, t, k in rows if k == 1))
    columns = {
        "views.csv": {"session_id": "sid", "item_id": "iid", "timestamp": "ts"},
        "buys.tsv": {"session_id": "Session", "item_id": "Item", "timestamp": "Time"},
    }
    by_type = load_dataset({"click": views, "purchase": [buys]}, data_dir=tmp_path / "d", columns=columns)
    assert_same_arrays(by_type, merged)  # click-before-purchase at equal times: the file order does not matter
    assert len(by_type.inputs) == 2 and {i["name"] for i in by_type.inputs} == {"views.csv", "buys.tsv"}


def test_dataframe_and_arrow_table_equal_the_csv_and_are_fingerprinted_by_content(tmp_path: Path) -> None:
    import pandas as pd
    import pyarrow as pa

    rows = random_rows(4)
    from_csv = load_dataset(csv_log(tmp_path / "log.csv", rows), data_dir=tmp_path / "d")
    frame = pd.DataFrame(rows, columns=["session_id", "item_id", "timestamp", "event_type"])
    from_frame = load_dataset(frame, data_dir=tmp_path / "d")
    assert_same_arrays(from_frame, from_csv)
    assert_same_arrays(load_dataset(pa.Table.from_pandas(frame), data_dir=tmp_path / "d"), from_csv)
    assert from_frame.inputs[0]["rows"] == len(rows) and from_frame.load_arguments is None
    edited = frame.assign(item_id=frame["item_id"].where(frame.index != 0, 29 - frame["item_id"].iloc[0]))
    assert load_dataset(edited, data_dir=tmp_path / "d").cache_dir != from_frame.cache_dir


def test_headerless_file_with_names_and_a_multi_character_separator(tmp_path: Path) -> None:
    rows = random_rows(5)
    reference = load_dataset(csv_log(tmp_path / "log.csv", rows), data_dir=tmp_path / "d")
    path = tmp_path / "ratings.dat"  # MovieLens layout: user::item::seconds::rating
    path.write_text("".join(f"{s}::{i}::{t}::{k}\n" for s, i, t, k in rows))
    names = ["user", "movie", "time", "kind"]
    columns = {"session_id": "user", "item_id": "movie", "timestamp": "time", "event_type": "kind"}
    assert_same_arrays(load_dataset(path, data_dir=tmp_path / "d", sep="::", names=names, columns=columns), reference)
    with pytest.raises(RecgymDataError, match=r"ratings.dat: names= gives 3 column names but line 1 has 4 fields"):
        load_dataset(path, data_dir=tmp_path / "d", sep="::", names=names[:3], columns=columns)
    with pytest.raises(RecgymDataError, match="line 1 looks like data, not a header.*names="):
        load_dataset(path, data_dir=tmp_path / "d", sep="::")


def test_typed_option_groups_equal_the_keywords(tmp_path: Path) -> None:
    rows = random_rows(8, n_sessions=200)
    path = tmp_path / "log.tsv"
    path.write_text("s\ti\tt\tk\n" + "".join(f"{s}\t{i}\t{t}\t{k}\n" for s, i, t, k in rows))
    columns = {"session_id": "s", "item_id": "i", "timestamp": "t", "event_type": "k"}
    keywords = load_dataset(
        path, data_dir=tmp_path / "d", sep="\t", columns=columns, split_mode="temporal", train_fraction=0.7,
        min_session_events=3, reward_click=0.5,
    )  # fmt: skip
    grouped = load_dataset(
        path,
        data_dir=tmp_path / "d",
        reader={"sep": "\t", "columns": columns},
        protocol=ProtocolConfig(split_mode="temporal", train_fraction=0.7, min_session_events=3),
        rewards=Rewards(click=0.5),
    )
    assert_same_arrays(grouped, keywords)
    assert grouped.cache_dir == keywords.cache_dir  # one cache key, whichever way the options came
    assert grouped.split("train").rewards.tolist() == keywords.split("train").rewards.tolist()
    assert grouped.reward_click == 0.5 and grouped.reward_purchase == 1.0
    rebuilt = load_dataset(grouped.load_arguments.pop("dataset"), **grouped.load_arguments)  # JSON, rebuilds it
    assert_same_arrays(rebuilt, grouped)
    assert rebuilt.cache_dir == grouped.cache_dir
    mixed = load_dataset(path, data_dir=tmp_path / "d", reader={"sep": "\t"}, columns=columns, protocol="generic",
                         split_mode="temporal", train_fraction=0.7, min_session_events=3, rewards=Rewards(click=0.5))  # fmt: skip
    assert_same_arrays(mixed, keywords)
    for options, message in [
        ({"reader": {"sep": "\t"}, "sep": ","}, r"^sep given twice: as a keyword and in reader=$"),
        ({"protocol": ProtocolConfig(), "train_fraction": 0.5}, r"^train_fraction given twice: .* in protocol=$"),
        ({"rewards": Rewards(), "reward_click": 1}, r"^reward_click given twice: as a keyword and in rewards=$"),
        ({"rewards": {"click": 1}}, r"^rewards= must be a recgym.Rewards, got dict$"),
        ({"protocol": 3}, r"^protocol= must be a preset name or a ProtocolConfig, got int$"),
        ({"reader": [("sep", ",")]}, r"^reader= must be a mapping of reader options, got list$"),
    ]:
        with pytest.raises(InvalidOptionError, match=message):
            load_dataset(path, data_dir=tmp_path / "d", **options)
    with pytest.raises(InvalidOptionError, match=r"^reward_purchase must be a finite number, got nan$"):
        Rewards(purchase=float("nan"))


def test_session_folds_put_every_session_in_exactly_one_test_fold(tmp_path: Path) -> None:
    import pandas as pd

    frame = pd.DataFrame(random_rows(9, n_sessions=203), columns=["session_id", "item_id", "timestamp", "event_type"])
    plain = load_dataset(frame, data_dir=tmp_path)
    every = set().union(*(plain.split(name).session_ids.tolist() for name in SPLIT_NAMES))
    tests = []
    for fold in range(5):
        dataset = load_dataset(frame, data_dir=tmp_path, n_folds=5, fold=fold)
        ids = {name: set(dataset.split(name).session_ids.tolist()) for name in SPLIT_NAMES}
        assert not (ids["train"] & ids["val"]) and not (ids["train"] & ids["test"]) and not (ids["val"] & ids["test"])
        assert ids["train"] | ids["val"] | ids["test"] == every
        assert len(ids["test"]) in (len(every) // 5, len(every) // 5 + 1)
        assert len(ids["val"]) == int(0.1 * len(every))
        tests.append(ids["test"])
    assert set().union(*tests) == every and sum(map(len, tests)) == len(every)  # a partition of the sessions
    wide_val = load_dataset(frame, data_dir=tmp_path, n_folds=2, val_fraction=0.3)  # train_fraction plays no part
    assert wide_val.split("val").n_sessions == int(0.3 * len(every))
    assert "n_folds" not in ProtocolConfig().key() and "fold" not in ProtocolConfig().key()  # old cache keys stand
    for options, message in [
        ({"n_folds": 1}, r"^n_folds must be a finite integer >= 2, got 1$"),
        ({"n_folds": 5, "fold": 5}, r"^fold must be a finite integer >= 0 and < 5, got 5$"),
        ({"fold": 2}, r"^fold needs n_folds"),
        ({"n_folds": 3, "split_mode": "temporal"}, r"needs split_mode='random'$"),
        ({"n_folds": 2, "val_fraction": 0.5}, r"leave no train sessions$"),
        ({"n_folds": 3, "test": frame}, r"give no explicit test= log$"),
    ]:
        with pytest.raises(InvalidOptionError, match=message):
            load_dataset(frame, data_dir=tmp_path, **options)


def test_session_gap_minutes_for_a_table_with_user_ids(tmp_path: Path) -> None:
    path = tmp_path / "users.csv"  # user 7: 0, 1 min | 40 min gap | 41 min; user 8: 0, 2 min
    path.write_text("uid,item,t\n7,1,0\n7,2,60\n7,3,2460\n8,4,0\n8,5,120\n7,6,2500\n8,1,200\n" * 1)
    columns = {"user_id": "uid", "item_id": "item", "timestamp": "t"}
    whole = load_dataset(path, data_dir=tmp_path / "d", columns=columns, timestamp_unit="s", min_session_events=1)
    assert whole.stats()["sessions"] == 2  # one session per user without a gap
    cut = load_dataset(
        path, data_dir=tmp_path / "d", columns=columns, timestamp_unit="s", min_session_events=1, session_gap_minutes=30
    )
    assert cut.stats()["sessions"] == 3 and cut.stats()["events"] == 7
    with pytest.raises(InvalidOptionError, match="session_gap_minutes must be a finite number > 0"):
        load_dataset(path, data_dir=tmp_path / "d", columns=columns, session_gap_minutes=-1)


def session_starts(dataset: SessionDataset, frame) -> dict[str, list[int]]:
    first = frame.groupby("session_id")["timestamp"].min()
    return {name: first.loc[dataset.split(name).session_ids].tolist() for name in SPLIT_NAMES}


def test_temporal_split_puts_the_latest_sessions_in_test(tmp_path: Path) -> None:
    import pandas as pd

    rows = random_rows(6, n_sessions=200)
    rng = np.random.default_rng(0)
    shift = {s: int(rng.integers(0, 10**7)) for s in range(200)}  # session starts not in id order
    rows = [(s, i, t + shift[s], k) for s, i, t, k in rows]
    frame = pd.DataFrame(rows, columns=["session_id", "item_id", "timestamp", "event_type"])
    dataset = load_dataset(frame, data_dir=tmp_path, split_mode="temporal")
    starts = session_starts(dataset, frame)
    assert [len(starts[name]) for name in SPLIT_NAMES] == [160, 20, 20]
    assert max(starts["train"]) <= min(starts["val"]) and max(starts["val"]) <= min(starts["test"])
    cutoff = int(np.quantile(frame.groupby("session_id")["timestamp"].min(), 0.7))
    by_time = session_starts(load_dataset(frame, data_dir=tmp_path, split_mode="temporal", test_start=cutoff), frame)
    assert min(by_time["test"]) >= cutoff > max(by_time["val"]) and max(by_time["train"]) <= min(by_time["val"])
    with pytest.raises(InvalidOptionError, match="test_start and val_start need split_mode='temporal'"):
        load_dataset(frame, data_dir=tmp_path, test_start=cutoff)
    with pytest.warns(FutureWarning, match=r"load_dataset\(split=\.\.\.\) is deprecated.*split_mode="):
        old_name = load_dataset(frame, data_dir=tmp_path, split="temporal")
    assert session_starts(old_name, frame) == starts
    with pytest.raises(InvalidOptionError, match="not also its former name split="):
        load_dataset(frame, data_dir=tmp_path, split="temporal", split_mode="temporal")


def test_explicit_test_file_shares_the_item_index_and_unseen_items_are_counted(tmp_path: Path) -> None:
    train_rows = [(s, i, 10 * s + i, 0) for s in range(40) for i in (1, 2, 3, s % 5 + 4)]  # items 1..8
    test_rows = [(s, i, 10_000 + s, 0) for s in range(5) for i in (2, 8, 50, 51)]  # 50, 51 unseen; ids reused
    train = csv_log(tmp_path / "train.csv", train_rows)
    test = csv_log(tmp_path / "test.csv", test_rows)
    kept = load_dataset(train, data_dir=tmp_path / "d", test=test)
    split = kept.split("test")
    raw = kept.raw_item_ids[split.actions].tolist()
    assert raw == [item for _, item, _, _ in test_rows]  # raw ids map back, in session and time order
    assert kept.stats()["splits"]["test"]["oov_events"] == 10 and kept.stats()["splits"]["val"]["oov_events"] == 0
    assert kept.stats()["splits"]["val"]["sessions"] == 4 and kept.stats()["splits"]["train"]["sessions"] == 36
    dropped = load_dataset(train, data_dir=tmp_path / "d", test=test, unseen_items="drop")
    test_stats = dropped.stats()["splits"]["test"]
    assert test_stats["events"] == 10 and test_stats["unseen_events_dropped"] == 10 and test_stats["oov_events"] == 0
    assert set(dropped.raw_item_ids.tolist()) == set(range(1, 9)) and dropped.n_items == 8
    with pytest.raises(RecgymDataError, match="test2.csv: no column"):
        load_dataset(train, data_dir=tmp_path / "d", test=csv_path_with_other_columns(tmp_path / "test2.csv"))


def test_a_test_log_of_another_catalogue_and_a_cutoff_after_the_log_are_named(tmp_path: Path) -> None:
    train_rows = [(s, i, 10 * s + i, 0) for s in range(40) for i in (1, 2, 3, s % 5 + 4)]
    train = csv_log(tmp_path / "train.csv", train_rows)
    other = csv_log(tmp_path / "other.csv", [(s, i, 10_000 + s, 0) for s in range(5) for i in (60, 61, 62)])
    with pytest.warns(RuntimeWarning, match="every event of the test split is of an item never seen in train"):
        load_dataset(train, data_dir=tmp_path / "d", test=other)
    with pytest.warns(RuntimeWarning, match="the test split is empty .*move test_start=2099-01-01 inside the log's"):
        load_dataset(train, data_dir=tmp_path / "d", split_mode="temporal", test_start="2099-01-01")


def csv_path_with_other_columns(path: Path) -> Path:
    path.write_text("SessionId,ItemId,Time\n1,2,3\n")
    return path


def test_item_filter_counts_on_train_only_with_an_explicit_test(tmp_path: Path) -> None:
    train_rows = [(s, i, 10 * s + i, 0) for s in range(30) for i in (1, 2)] + [(99, 1, 0, 0), (99, 7, 1, 0)]
    test_rows = [(s, 7, 10_000 + s, 0) for s in range(6)] + [(s, 1, 10_001 + s, 0) for s in range(6)]
    dataset = load_dataset(
        csv_log(tmp_path / "train.csv", train_rows),
        data_dir=tmp_path / "d",
        test=csv_log(tmp_path / "test.csv", test_rows),
        min_item_events=2,
        unseen_items="drop",
    )
    assert 7 not in dataset.raw_item_ids.tolist()  # 6 test events of item 7 do not lift its one train event
    assert dataset.stats()["splits"]["test"]["unseen_events_dropped"] == 6


def test_event_types_labels_and_integers_from_python_and_the_cli(tmp_path: Path, capsys) -> None:
    from recgym.cli import main

    path = tmp_path / "log.csv"
    path.write_text(
        "session_id,item_id,timestamp,kind\n"
        + "".join(f"{s},{s % 4 + i},{i},{'pv' if i else 'buy'}\n" for s in range(30) for i in range(3))
    )
    columns = {"session_id": "session_id", "item_id": "item_id", "timestamp": "timestamp", "event_type": "kind"}
    labels = load_dataset(
        path, data_dir=tmp_path / "d", columns=columns, event_types={"pv": "click", "buy": "purchase"}
    )
    numbers = load_dataset(path, data_dir=tmp_path / "d", columns=columns, event_types={"pv": 0, "buy": 1})
    assert labels.stats() == numbers.stats() and labels.cache_dir != numbers.cache_dir
    assert labels.stats()["splits"]["train"]["purchases"] > 0
    code = main(
        [
            "info",
            str(path),
            "--data-dir",
            str(tmp_path / "d"),
            "-o",
            f"columns={columns}",
            "-o",
            "event_types={'pv': 'click', 'buy': 'purchase'}",
        ]
    )
    assert code == 0 and str(labels.cache_dir) in capsys.readouterr().out
    code = main(
        [
            "info",
            str(path),
            "--data-dir",
            str(tmp_path / "d"),
            "-o",
            f"columns={columns}",
            "-o",
            "event_types={'pv': 'clik', 'buy': 'purchase'}",
            "-o",
            "timestamp_unit=s",
        ]
    )
    error = capsys.readouterr().err.splitlines()[-1]
    assert code == 2 and error.startswith("recgym: error: event_types['pv'] is 'clik', not an event type")
    assert "timestamp_unit" not in error and "columns" not in error


def test_cli_takes_several_paths_and_an_event_type_mapping(tmp_path: Path, capsys) -> None:
    from recgym.cli import main

    rows = random_rows(7)
    halves = [csv_log(tmp_path / "a.csv", rows[:100]), csv_log(tmp_path / "b.csv", rows[100:])]
    expected = load_dataset(halves, data_dir=tmp_path / "d")
    assert main(["info", *map(str, halves), "--data-dir", str(tmp_path / "d")]) == 0
    assert str(expected.cache_dir) in capsys.readouterr().out
    views, buys = tmp_path / "views.csv", tmp_path / "buys.csv"
    views.write_text("session_id,item_id,timestamp\n" + "".join(f"{s},{i},{t}\n" for s, i, t, k in rows if k == 0))
    buys.write_text("session_id,item_id,timestamp\n" + "".join(f"{s},{i},{t}\n" for s, i, t, k in rows if k == 1))
    by_type = load_dataset({"click": views, "purchase": buys}, data_dir=tmp_path / "d")
    assert main(["info", f"click={views}", f"purchase={buys}", "--data-dir", str(tmp_path / "d")]) == 0
    assert str(by_type.cache_dir) in capsys.readouterr().out


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda p: ("rc15", {"columns": {"item_id": "x"}}), "unknown option(s) columns for rc15"),
        (
            lambda p: (
                csv_log(p / "l.csv", random_rows(0)),
                {"split_mode": "temporal", "columns": {"session_id": "session_id", "item_id": "item_id"}},
            ),
            "l.csv: split_mode='temporal' needs timestamps, but the log has no timestamp column",
        ),
        (lambda p: (otto(p / "o.jsonl"), {"columns": {"item_id": "aid"}}), "unknown option(s) columns for"),
        (
            lambda p: ([csv_log(p / "l.csv", random_rows(0)), otto(p / "o.jsonl")], {}),
            "a list of files must be of one format",
        ),
    ],
    ids=["mapping-for-rc15", "temporal-without-timestamps", "mapping-for-otto", "mixed-formats"],
)
def test_unsupported_combinations_are_one_line_exit_2_and_nothing_cached(
    tmp_path: Path, capsys, make, expected
) -> None:
    from recgym.errors import RecgymError

    log, options = make(tmp_path)
    with pytest.raises(RecgymError) as error:
        load_dataset(log, data_dir=tmp_path / "d", **options)
    assert expected in str(error.value) and "\n" not in str(error.value)
    processed = tmp_path / "d" / "processed"
    assert not processed.exists() or not any(processed.iterdir())


def otto(path: Path) -> Path:
    path.write_text(
        '{"session": 1, "events": [{"aid": 5, "ts": 1000, "type": "clicks"}, {"aid": 6, "ts": 2000, "type": "orders"}]}\n'
    )
    return path


def test_minari_export_recovers_the_same_environment_and_loads_in_d3rlpy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("minari")
    import d3rlpy
    import minari

    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "minari"))
    dataset = load_dataset("synthetic", data_dir=tmp_path, n_sessions=300, n_items=60, reward_click=0.3)
    to_minari(dataset, "recgym/synthetic-env-v0", split="val")
    env = minari.load_dataset("recgym/synthetic-env-v0").recover_environment()
    val = dataset.split("val")
    assert env.unwrapped.dataset.n_items == dataset.n_items and env.unwrapped.split_name == "val"
    assert env.spec.max_episode_steps == int(np.diff(val.episode_starts).max())
    for index, episode in enumerate(minari.load_dataset("recgym/synthetic-env-v0")):
        observation, _ = env.reset(options={"session_index": index})
        replayed = [observation]
        for action in episode.actions:
            observation, _, terminated, _, _ = env.step(int(action))
            replayed.append(observation)
        np.testing.assert_array_equal(np.array(replayed), episode.observations)
        assert terminated  # at the session's end (the longest session also reaches max_episode_steps)
    mdp, _ = d3rlpy.datasets.get_minari("recgym/synthetic-env-v0")
    reference = dataset.to_d3rlpy("val")
    assert mdp.transition_count == reference.transition_count and len(mdp.episodes) == len(reference.episodes)
    for name in ("actions", "rewards"):
        np.testing.assert_allclose(
            np.concatenate([getattr(e, name) for e in mdp.episodes]),
            np.concatenate([getattr(e, name) for e in reference.episodes]),
        )
    # d3rlpy 2.8.1 concatenates Minari's N+1 observations per episode with N actions: only episode 0 lines up
    np.testing.assert_array_equal(mdp.episodes[0].observations, reference.episodes[0].observations)
