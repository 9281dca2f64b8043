"""Tests of recgym/contract.py: models carry the dataset they were trained for, and every entry point that takes a
model and a dataset refuses another item index or another train split unless the transfer is deliberate."""

from __future__ import annotations

import hashlib

import d3rlpy
import numpy as np
import pandas as pd
import pytest
from d3rlpy.logging import NoopAdapterFactory

import recgym
from agents import make_config
from recgym.contract import DatasetContract, bind_contract, contract_of, item_index_fingerprint, split_fingerprint
from recgym.errors import InvalidOptionError
from recgym.evaluation.scoring import check_compatible
from recgym.saving import ModelFileError, load_model, save_model

FIT = dict(n_steps=2, n_steps_per_epoch=2, show_progress=False, logger_adapter=NoopAdapterFactory(), save_interval=10)


def log(item_offset: int) -> pd.DataFrame:
    """200 sessions over 20 items ``item_offset .. item_offset + 19``: the same shape, another item index."""
    rng = np.random.default_rng(0)
    rows = [(s, item_offset + int(rng.integers(20)), 10 * s + t, 0) for s in range(200) for t in range(4)]
    return pd.DataFrame(rows, columns=["session_id", "item_id", "timestamp", "event_type"])


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("data")
    return recgym.load_dataset(log(0), data_dir=data_dir), recgym.load_dataset(log(100), data_dir=data_dir)


@pytest.fixture(scope="module")
def trained(datasets):
    algo = make_config("sasrec", n_items=datasets[0].n_items, hidden_size=8, batch_size=16).create(device="cpu")
    algo.fit(datasets[0].to_d3rlpy("train"), **FIT)
    return algo


def test_fingerprint_is_the_sha256_of_the_ids_one_per_line():
    assert item_index_fingerprint(np.array([7, 3])) == hashlib.sha256(b"7\n3").hexdigest()[:16]
    assert item_index_fingerprint(["a", "b"]) != item_index_fingerprint(["b", "a"])  # the order is the index


def test_split_fingerprint_hashes_dtype_shape_and_bytes_in_order():
    a, b = np.array([1, 2, 3], dtype=np.int64), np.array([0, 1], dtype=np.int8)
    digest = hashlib.sha256(b"<i8(3,)" + a.tobytes() + b"|i1(2,)" + b.tobytes()).hexdigest()[:16]
    assert split_fingerprint(a, b) == digest
    assert split_fingerprint(b, a) != digest
    assert split_fingerprint(a.astype(np.int32), b) != digest  # the same values in another dtype are another split


def test_train_fingerprint_follows_the_split_seed_and_the_fractions(tmp_path):
    base = {"data_dir": tmp_path}
    first = recgym.load_dataset(log(0), **base)
    assert recgym.load_dataset(log(0), **base).train_fingerprint == first.train_fingerprint  # same split, same print
    train = first.split("train")
    assert first.train_fingerprint == split_fingerprint(
        train.session_ids, train.episode_starts, train.actions, train.event_types
    )
    for other in ({"seed": 3}, {"train_fraction": 0.7}):
        changed = recgym.load_dataset(log(0), **base, **other)
        assert changed.item_index_fingerprint == first.item_index_fingerprint  # the same items ...
        assert changed.train_fingerprint != first.train_fingerprint  # ... split another way


def test_a_model_is_refused_on_a_dataset_split_another_way(datasets, trained, tmp_path):
    """Evaluating on another split of the same log would score sessions the model trained on."""
    resplit = recgym.load_dataset(log(0), data_dir=tmp_path, seed=3)
    assert resplit.item_index_fingerprint == datasets[0].item_index_fingerprint
    trained_sessions = set(datasets[0].split("train").session_ids.tolist())
    assert trained_sessions & set(resplit.split("test").session_ids.tolist())  # the leak the check prevents
    loaded = load_model(save_model(trained, tmp_path / "m.pt"))
    for model in (trained, loaded):
        with pytest.raises(InvalidOptionError, match="trained on another train split .* may be ones it trained on"):
            recgym.evaluate(model, resplit, split="test")
    recgym.evaluate(loaded, resplit, split="test", allow_transfer=True)  # deliberate
    check_compatible(loaded, resplit, check_split=False)  # a live world's users are in no split: the index alone
    with pytest.raises(InvalidOptionError, match="another item index"):
        check_compatible(loaded, datasets[1], check_split=False)


def test_a_contract_without_a_train_split_is_checked_without_it(datasets):
    own = datasets[0]
    older = DatasetContract.from_dict(
        {"n_items": 20, "pad_id": 20, "state_size": 10, "item_index": own.item_index_fingerprint}
    )
    assert older.train_split == ""
    older.check(own)  # a model file written before the split was recorded still loads and evaluates


def test_an_agent_trained_on_to_d3rlpy_carries_the_contract_through_save_and_load(datasets, trained, tmp_path):
    own, other = datasets
    assert own.n_items == other.n_items == 20 and own.item_index_fingerprint != other.item_index_fingerprint
    expected = DatasetContract(20, 20, own.state_size, own.item_index_fingerprint, own.train_fingerprint)
    assert contract_of(trained) == expected
    loaded = load_model(save_model(trained, tmp_path / "m.pt"))
    assert contract_of(loaded) == contract_of(trained)
    recgym.evaluate(loaded, own)  # its own dataset passes
    for model in (trained, loaded):
        with pytest.raises(InvalidOptionError, match="trained on another item index"):
            recgym.evaluate(model, other)
    transferred = recgym.evaluate(loaded, other, allow_transfer=True)
    assert transferred == recgym.evaluate(load_model(tmp_path / "m.pt"), other, allow_transfer=True)


def test_training_goes_on_only_on_the_same_dataset_unless_rebound(datasets):
    own, other = datasets
    algo = make_config("sqn", n_items=own.n_items, hidden_size=8, batch_size=16).create(device="cpu")
    algo.fit(own.to_d3rlpy("train"), **FIT)
    algo.fit(own.to_d3rlpy("val"), **FIT)  # another split of the same dataset: same contract
    with pytest.raises(InvalidOptionError, match="trained for another dataset"):
        algo.fit(other.to_d3rlpy("train"), **FIT)
    bind_contract(algo, other)  # a deliberate transfer
    algo.fit(other.to_d3rlpy("train"), **FIT)
    assert contract_of(algo) == DatasetContract.of(other)


def test_a_d3rlpy_algorithm_gets_the_contract_from_save_model_or_bind(datasets, tmp_path):
    own, other = datasets
    algo = d3rlpy.algos.DiscreteBCConfig(batch_size=16).create(device="cpu")
    algo.fit(own.to_d3rlpy("train"), **FIT)
    assert contract_of(algo) is None
    recgym.evaluate(algo, other)  # without a contract only the catalogue and state sizes are checked
    loaded = load_model(save_model(algo, tmp_path / "bc.pt", dataset=own))
    with pytest.raises(InvalidOptionError, match="another item index"):
        recgym.evaluate(loaded, other)
    bind_contract(algo, own)
    with pytest.raises(InvalidOptionError, match="another item index"):
        recgym.evaluate(algo, other)


def test_sizes_are_refused_even_with_allow_transfer(datasets, trained, tmp_path):
    own = datasets[0]
    longer = recgym.load_dataset(log(0), data_dir=tmp_path, state_size=5)
    with pytest.raises(InvalidOptionError, match="load the dataset with state_size=10"):
        recgym.evaluate(trained, longer, allow_transfer=True)
    smaller = recgym.load_dataset(log(0).query("item_id < 15"), data_dir=tmp_path)
    with pytest.raises(InvalidOptionError, match="scores 20 items but"):
        recgym.evaluate(trained, smaller, allow_transfer=True)
    assert own.n_items == 20


def test_a_damaged_contract_in_a_model_file_is_a_model_file_error(trained, tmp_path):
    import torch

    from recgym.saving import _checksum

    path = save_model(trained, tmp_path / "m.pt")
    payload = torch.load(path, weights_only=True)
    payload["contract"] = {"n_items": 20}
    torch.save(payload, path)
    with pytest.raises(ModelFileError, match="does not match its checksum"):
        load_model(path)
    payload["checksum"] = _checksum(payload)  # a contract damaged before the file was sealed
    torch.save(payload, path)
    with pytest.raises(ModelFileError, match="not a dataset contract"):
        load_model(path)


def test_cli_evaluate_refuses_another_item_index_unless_allowed(datasets, trained, tmp_path, capsys):
    from recgym.cli import main

    other = log(100)
    other.to_csv(tmp_path / "other.csv", index=False)
    path = save_model(trained, tmp_path / "m.pt")
    data = ["--dataset", str(tmp_path / "other.csv"), "--data-dir", str(tmp_path / "d")]
    assert main(["evaluate", str(path), *data]) == 2
    assert "trained on another item index" in capsys.readouterr().err
    assert main(["evaluate", str(path), *data, "--allow-transfer"]) == 0


def test_cli_evaluate_refuses_another_split_seed_or_world(tmp_path, capsys):
    """The hostile-trial cases: ``--seed 3`` (another split) and another ``generator_seed`` (another world, the
    same item ids) on a model trained on the default synthetic dataset."""
    from recgym.cli import main

    world = {"n_sessions": 300, "n_items": 50, "data_dir": tmp_path}
    dataset = recgym.load_dataset("synthetic", **world)
    algo = make_config("sasrec", n_items=dataset.n_items, hidden_size=8, batch_size=16).create(device="cpu")
    algo.fit(dataset.to_d3rlpy("train"), **FIT)
    path = save_model(algo, tmp_path / "m.pt")
    data = ["--dataset", "synthetic", "-o", "n_sessions=300", "-o", "n_items=50", "--data-dir", str(tmp_path)]
    assert main(["evaluate", str(path), *data]) == 0
    capsys.readouterr()
    for other in (["--seed", "3"], ["-o", "generator_seed=5"]):
        assert main(["evaluate", str(path), *data, *other]) == 2
        assert "trained on another train split" in capsys.readouterr().err


def test_online_evaluation_refuses_a_model_of_another_world(tmp_path):
    world = {"n_sessions": 300, "n_items": 50, "data_dir": tmp_path}
    dataset = recgym.load_dataset("synthetic", **world)
    algo = make_config("sasrec", n_items=50, hidden_size=8, batch_size=16).create(device="cpu")
    algo.fit(dataset.to_d3rlpy("train"), **FIT)
    options = {"n_sessions": 20, "log_sessions": 300, "n_items": 50, "data_dir": tmp_path}
    recgym.evaluate_online(algo, **options)
    with pytest.raises(InvalidOptionError, match="scores 50 items but synthetic has 40"):
        recgym.evaluate_online(algo, **{**options, "n_items": 40})
