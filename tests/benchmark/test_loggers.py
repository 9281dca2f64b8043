"""--logger: d3rlpy's file, TensorBoard and W&B (offline) adapters through the benchmark, outside its config."""

from __future__ import annotations

import importlib.util

import pandas as pd
import pytest

from recgym.benchmark import BenchmarkError, run_benchmark
from recgym.benchmark.loggers import check_loggers
from recgym.cli import main

SETTINGS = dict(seeds=1, steps=4, eval_every=2, progress=False, agent_options={"hidden_size": 8, "batch_size": 16})


def test_unknown_or_missing_loggers_are_one_line_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    assert check_loggers(["file", "file"]) == ("file",)
    with pytest.raises(BenchmarkError, match="unknown logger 'mlflow'"):
        check_loggers(["mlflow"])
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None if name == "wandb" else real_find_spec(name))
    with pytest.raises(BenchmarkError, match=r"needs the wandb package: pip install 'recgym\[wandb\]'"):
        check_loggers(["wandb"])


def test_a_missing_logger_package_is_refused_before_anything_is_written(
    tiny_dataset, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(BenchmarkError, match="tensorboardX"):
        run_benchmark(tiny_dataset, ["sasrec"], out=tmp_path / "out", loggers=["tensorboard"], **SETTINGS)
    assert not (tmp_path / "out").exists()


def test_tensorboard_and_wandb_log_every_run_and_leave_the_results_alone(
    one_thread, tiny_dataset, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("tensorboardX")
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path / "wandb"))
    monkeypatch.setenv("WANDB_SILENT", "true")
    (tmp_path / "wandb").mkdir()
    plain = run_benchmark(tiny_dataset, ["sasrec"], out=tmp_path / "plain", **SETTINGS)
    logged = run_benchmark(
        tiny_dataset, ["sasrec"], out=tmp_path / "logged", loggers=["file", "tensorboard", "wandb"], **SETTINGS
    )
    assert logged.config_hash == plain.config_hash
    pd.testing.assert_frame_equal(logged.table, plain.table)
    run = tmp_path / "logged" / "runs" / "sasrec" / "seed0"
    assert list((run / "tensorboard").rglob("events.out.tfevents.*"))
    assert (run / "d3rlpy").is_dir()
    offline_runs = list((tmp_path / "wandb" / "wandb").glob("offline-run-*"))
    assert len(offline_runs) == 1
    assert any("sasrec/seed0" in path.read_bytes().decode("latin-1") for path in offline_runs[0].rglob("*.wandb"))


def test_cli_refuses_an_unknown_logger(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["benchmark", "--dataset", "synthetic", "--agents", "sasrec", "--out", "x", "--logger", "mlflow"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'mlflow'" in capsys.readouterr().err
