"""Tests of recgym/saving.py and of reloading models anywhere: safe model files, and d3rlpy's .d3 files after only
``import recgym`` in a fresh process."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from d3rlpy.logging import NoopAdapterFactory

import recgym
from agents import AGENTS, make_config
from recgym.evaluation.offline import as_scorer
from recgym.saving import ModelFileError, _checksum, load_model, save_model


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return recgym.load_dataset("synthetic", n_sessions=300, n_items=60, data_dir=tmp_path_factory.mktemp("data"))


def fitted(name: str, dataset, steps: int = 4):
    options = (
        {"switch_step": 2} if "switch_step" in make_config(name, n_items=dataset.n_items).__dataclass_fields__ else {}
    )
    algo = make_config(name, n_items=dataset.n_items, hidden_size=8, batch_size=16, **options).create(device="cpu")
    algo.fit(
        dataset.to_d3rlpy("train"), n_steps=steps, n_steps_per_epoch=steps, show_progress=False,
        logger_adapter=NoopAdapterFactory(), save_interval=10**9,
    )  # fmt: skip
    return algo


def scores(algo, dataset) -> np.ndarray:
    return as_scorer(algo)(dataset.split("test").observations[:64].astype(np.int64)).numpy()


@pytest.mark.parametrize("name", sorted(AGENTS))
def test_safe_file_round_trips_every_agent(name, dataset, tmp_path):
    algo = fitted(name, dataset)
    loaded = load_model(save_model(algo, tmp_path / "model.pt"))
    assert type(loaded) is type(algo)
    assert json.loads(loaded.config.serialize()) == json.loads(algo.config.serialize())
    assert np.array_equal(scores(loaded, dataset), scores(algo, dataset))


def test_tampered_or_foreign_files_fail_cleanly(dataset, tmp_path):
    class Payload:
        def __reduce__(self):
            return (print, ("code ran",))

    evil = tmp_path / "evil.pt"
    torch.save({"format": "recgym-model", "version": 1, "config": Payload()}, evil)
    with pytest.raises(ModelFileError, match="not a recgym model file, or is damaged"):
        load_model(evil)
    with pytest.raises(ModelFileError, match="not a recgym model file"):
        torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
        load_model(tmp_path / "other.pt")
    path = save_model(fitted("sasrec", dataset), tmp_path / "model.pt")
    payload = torch.load(path, weights_only=True)
    payload["modules"]["network1"]["ce_head.weight"] = torch.zeros(3, 3)
    torch.save(payload, tmp_path / "edited.pt")
    with pytest.raises(ModelFileError, match="does not match its checksum"):
        load_model(tmp_path / "edited.pt")
    payload["checksum"] = _checksum(payload)  # consistent, but not a model of its config
    torch.save(payload, tmp_path / "resealed.pt")
    with pytest.raises(ModelFileError, match="cannot rebuild the model"):
        load_model(tmp_path / "resealed.pt")
    (tmp_path / "cut.pt").write_bytes(path.read_bytes()[:100])
    with pytest.raises(ModelFileError):
        load_model(tmp_path / "cut.pt")


@pytest.mark.parametrize(
    "content",
    [
        np.random.default_rng(0).bytes(5000),
        b"session_id,timestamp,item_id\r1,2014-04-01T10:00:00Z,5\r",  # a CSV given as a model: IndexError in torch
        b"\x89PNG\r\n\x1a\n" + bytes(200),
    ],
    ids=["random", "csv", "png"],
)
def test_foreign_bytes_are_one_line_without_torch_advice(tmp_path, content):
    (tmp_path / "model.pt").write_bytes(content)
    with pytest.raises(ModelFileError, match="does not read as a weights-only torch archive") as caught:
        load_model(tmp_path / "model.pt")
    assert "weights_only` set to `False`" not in str(caught.value)  # never advise loading it unsafely
    with pytest.raises(ModelFileError, match="not found"):
        load_model(tmp_path / "missing.pt")


def test_a_fresh_process_with_only_import_recgym_reloads_d3_files(dataset, tmp_path):
    for name in ("ccql", "discrete_cql"):
        algo = fitted(name, dataset)
        algo.save(str(tmp_path / f"{name}.d3"))
        np.save(tmp_path / f"{name}-scores.npy", scores(algo, dataset))
    np.save(tmp_path / "states.npy", dataset.split("test").observations[:64].astype(np.int64))
    script = f"""
import d3rlpy, numpy as np, recgym
from recgym.evaluation.offline import as_scorer
states = np.load({str(tmp_path / "states.npy")!r})
for name in ("ccql", "discrete_cql"):
    algo = d3rlpy.load_learnable({str(tmp_path)!r} + f"/{{name}}.d3")
    assert np.array_equal(as_scorer(algo)(states).numpy(), np.load({str(tmp_path)!r} + f"/{{name}}-scores.npy")), name
print("reloaded")
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "reloaded" in done.stdout


def test_cli_evaluate_prints_the_table_and_refuses_another_catalogue(dataset, tmp_path, capsys):
    from recgym.cli import main

    path = save_model(fitted("sasrec", dataset), tmp_path / "model.pt")
    data = ["--dataset", "synthetic", "--data-dir", str(dataset.cache_dir.parents[1]), "-o", "n_sessions=300"]
    assert main(["evaluate", str(path), *data, "-o", "n_items=60"]) == 0
    printed = capsys.readouterr().out
    expected = recgym.evaluate(load_model(path), dataset, split="test")
    assert f"{expected['purchase/hr@20']:.4f}" in printed and "events: n_click_events=" in printed
    assert main(["evaluate", str(path), *data, "-o", "n_items=50"]) == 2
    assert "scores 60 items but synthetic has" in capsys.readouterr().err
    assert main(["evaluate", str(tmp_path / "nothing.pt"), *data]) == 2


def test_a_flipped_bit_in_the_weights_is_refused(dataset, tmp_path):
    algo = fitted("sasrec", dataset)
    path = save_model(algo, tmp_path / "model.pt")
    weight = algo.impl.modules.get_torch_modules()["network1"].state_dict()["ce_head.weight"]
    content = bytearray(path.read_bytes())
    where = bytes(content).find(weight.contiguous().numpy().tobytes()[:64])  # the head's first values in the file
    assert where > 0
    content[where + 5] ^= 0x04  # one bit of one float
    (tmp_path / "flipped.pt").write_bytes(bytes(content))
    with pytest.raises(ModelFileError, match="does not match its checksum"):
        load_model(tmp_path / "flipped.pt")
    payload = torch.load(path, weights_only=True)  # and a version-1 file (no checksum) still loads
    payload["version"] = 1
    del payload["checksum"]
    torch.save(payload, tmp_path / "v1.pt")
    assert np.array_equal(scores(load_model(tmp_path / "v1.pt"), dataset), scores(algo, dataset))
