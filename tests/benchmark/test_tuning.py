"""recgym tune: equal trial budgets, val-only selection, resume to the same trials, the preset file round trip."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("optuna", reason="recgym tune needs the tune extra (Optuna)")

import recgym.benchmark.tuning as tuning
from agents import make_config, read_preset_file
from recgym.benchmark import BenchmarkError, run_benchmark
from recgym.benchmark.tuning import SEARCH_SPACES, tune
from recgym.cli import main
from recgym.errors import InvalidOptionError

SMALL_SPACE = {"sasrec": {"learning_rate": {"float": [1e-3, 1e-2], "log": True}, "hidden_size": {"choices": [16, 32]}}}
RUN = {"trials": 3, "steps": 20, "eval_every": 10, "progress": False}


def finished_trials(out: Path) -> list[tuple]:
    """(agent, value, settings) of every finished trial, in order (trial numbers shift after an interruption)."""
    trials = pd.read_csv(out / "trials.csv")
    params = [column for column in trials if column.startswith("param/")]
    return [
        (row["agent"], row["value"], tuple(row[p] for p in params if pd.notna(row[p])))
        for _, row in trials.sort_values(["agent", "trial"]).iterrows()
    ]


@pytest.fixture(scope="module")
def tuned(tiny_dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("tune") / "out"
    return tune(tiny_dataset, "sasrec,vsknn", out=out, space=SMALL_SPACE, **RUN)


def test_every_agent_gets_the_same_number_of_finished_trials_and_nothing_touches_test(tuned):
    counts = tuned.trials.groupby("agent").size().to_dict()
    assert counts == {"sasrec": 3, "vsknn": 3}
    assert set(tuned.trials["state"]) <= {"complete", "pruned"}
    assert not any("test" in column for column in tuned.trials.columns)
    for agent, entry in tuned.best.items():  # the best is the trial with the highest val value
        rows = tuned.trials[tuned.trials["agent"] == agent]
        assert entry["value"] == rows["value"].max()
        assert entry["trial"] == int(rows.loc[rows["value"].idxmax(), "trial"])
    assert (tuned.out_dir / "tune.md").read_text().count("| sasrec |") == 1
    assert (tuned.out_dir / "figures" / "tune.png").stat().st_size > 0


def test_the_preset_file_reproduces_the_tuned_val_value_in_the_benchmark(tuned, tiny_dataset, tmp_path):
    preset = read_preset_file(tuned.preset_file)
    assert preset.base == "synthetic" and set(preset.agents) == {"sasrec", "vsknn"}
    assert preset.agents["sasrec"] == tuned.best["sasrec"]["settings"]
    config = make_config("sasrec", preset=tuned.preset_file, n_items=50)
    assert config.learning_rate == preset.agents["sasrec"]["learning_rate"]
    assert config.encoder_factory.hidden_size == preset.agents["sasrec"]["hidden_size"]
    result = run_benchmark(
        tiny_dataset, ["sasrec", "vsknn"], seeds=[0], steps=20, eval_every=10, out=tmp_path / "b",
        preset=tuned.preset_file, progress=False, top_n_checkpoints=1,
    )  # fmt: skip
    best_val = result.curves.groupby("agent")["reward@20"].max()
    for agent in ("sasrec", "vsknn"):  # the same seed, settings and evaluations: the same val numbers, bit for bit
        assert best_val[agent] == tuned.best[agent]["value"]
    recorded = json.loads((tmp_path / "b" / "config.json").read_text())["config"]["agent_preset"]
    assert recorded == {"file": "preset.json", "sha256": preset.sha256}


def test_an_interrupted_tune_resumes_to_the_same_trials(tuned, tiny_dataset, tmp_path, monkeypatch):
    calls = {"n": 0}
    real = tuning.val_curve

    def interrupted(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(tuning, "val_curve", interrupted)
    with pytest.raises(KeyboardInterrupt):
        tune(tiny_dataset, "sasrec,vsknn", out=tmp_path / "out", space=SMALL_SPACE, **RUN)
    monkeypatch.setattr(tuning, "val_curve", real)
    resumed = tune(tiny_dataset, "sasrec,vsknn", out=tmp_path / "out", space=SMALL_SPACE, **RUN)
    assert finished_trials(tmp_path / "out") == finished_trials(tuned.out_dir)
    assert {a: e["settings"] for a, e in resumed.best.items()} == {a: e["settings"] for a, e in tuned.best.items()}
    assert resumed.trials["trial"].max() == tuned.trials["trial"].max() + 1  # the interrupted trial, marked failed
    again = tune(tiny_dataset, "sasrec,vsknn", out=tmp_path / "out", space=SMALL_SPACE, **RUN)  # finished: no new one
    assert len(again.trials) == len(resumed.trials)


def test_pruning_stops_trials_below_the_median_and_the_budget_counts_them(tiny_dataset, tmp_path):
    space = {"sasrec": {"learning_rate": {"float": [1e-5, 3e-2], "log": True}}}
    result = tune(tiny_dataset, "sasrec", out=tmp_path / "out", space=space, trials=9, steps=30, eval_every=10,
                  progress=False)  # fmt: skip
    trials = result.trials
    assert len(trials) == 9 and set(trials["state"]) <= {"complete", "pruned"}
    assert (trials["state"].iloc[:5] == "complete").all()  # the median pruner starts after five finished trials
    pruned = trials[trials["state"] == "pruned"]
    assert len(pruned) >= 1  # the tiny learning rates of this range fall below the median at their first evaluation
    assert (pruned["value"] < trials.loc[trials["state"] == "complete", "value"].max()).all()
    study = tuning._optuna().load_study(study_name="sasrec", storage=f"sqlite:///{tmp_path / 'out' / 'tune.db'}")
    stopped_at = [max(t.intermediate_values) for t in study.trials if t.state.name == "PRUNED"]
    assert stopped_at and max(stopped_at) < 30  # never at the last evaluation, where nothing is left to save
    knn = tune(tiny_dataset, "vsknn", out=tmp_path / "knn", trials=7, steps=30, eval_every=10, progress=False)
    assert (knn.trials["state"] == "complete").all()  # one evaluation each: nothing to prune


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"trials": 0}, r"^trials must be a finite integer >= 1, got 0$"),
        (
            {"space": {"sasrec": {"nope": {"float": [0.0, 1.0]}}}},
            r"^option sasrec.nope: SASRecConfig has no field 'nope'$",
        ),
        ({"space": {"sasrec": {"learning_rate": {"float": [0.0, 1.0], "log": True}}}}, r"a log scale needs LOW > 0"),
        ({"space": {"sasrec": {"dropout": {"float": [0.5, 0.1]}}}}, r"dropout: LOW 0.5 is above HIGH 0.1"),
        ({"space": {"sasrec": {"dropout": {"uniform": [0, 1]}}}}, r"expected one of float, int, choices"),
        ({"space": {"ccql": {}}}, r"names agents not tuned here: ccql"),
        ({"agents": "popularity"}, r"no search space for 'popularity'"),
        ({"space": {"sasrec": {"hidden_size": {"int": [0, 8]}}}}, r"hidden_size"),
        (
            {"agents": "vsknn", "space": {"vsknn": {"weighting": {"choices": ["same", "div", "log"]}}}},
            r"unknown weighting 'div'",
        ),
    ],
)
def test_bad_arguments_are_one_line_and_write_nothing(tiny_dataset, tmp_path, arguments, message):
    options = {**RUN, "agents": "sasrec", **arguments}
    with pytest.raises(BenchmarkError, match=message):
        tune(tiny_dataset, options.pop("agents"), out=tmp_path / "out", **options)
    assert not (tmp_path / "out").exists()


def test_a_preset_file_with_a_bad_field_is_refused(tiny_dataset, tmp_path):
    path = tmp_path / "preset.json"
    path.write_text(json.dumps({"format": "recgym-preset/1", "base": "synthetic", "agents": {"sasrec": {"nope": 1}}}))
    with pytest.raises(BenchmarkError, match=r"^agent sasrec: SASRecEncoderFactory has no field\(s\) \['nope'\]$"):
        run_benchmark(tiny_dataset, ["sasrec"], seeds=1, steps=10, eval_every=10, out=tmp_path / "b", preset=path)
    path.write_text(
        json.dumps({"format": "recgym-preset/1", "base": "synthetic", "agents": {"sasrec": {"learning_rate": "x"}}})
    )
    with pytest.raises(BenchmarkError, match=r"^agent sasrec: learning_rate must be float or int, got 'x'$"):
        run_benchmark(tiny_dataset, ["sasrec"], seeds=1, steps=10, eval_every=10, out=tmp_path / "b", preset=path)
    assert not (tmp_path / "b").exists()
    path.write_text("[1, 2]")
    with pytest.raises(InvalidOptionError, match=r'preset file .*: expected a JSON object with "format"'):
        make_config("sasrec", preset=path)


def test_every_default_search_space_samples_configs_that_build(tiny_dataset):
    for name, default in SEARCH_SPACES.items():
        for settings in tuning._probes(tuning.fit_to_catalogue(default, tiny_dataset.n_items), 100, 10):
            tuning._agent(name, "synthetic", settings, tiny_dataset, 100, 10)


def test_cli_tune_prints_the_table_and_refuses_bad_input(tmp_path, capsys):
    common = ["--dataset", "synthetic", "-o", "n_sessions=300", "-o", "n_items=50", "--data-dir", str(tmp_path / "d"),
              "--steps", "10", "--eval-every", "10", "--out", str(tmp_path / "out")]  # fmt: skip
    assert main(["-q", "tune", "vsknn", "--trials", "2", *common]) == 0
    printed = capsys.readouterr().out
    assert "| vsknn |" in printed and "preset.json" in printed
    assert main(["-q", "tune", "vsknn", "--trials", "0", *common[:-1], str(tmp_path / "other")]) == 2
    assert "trials must be a finite integer >= 1" in capsys.readouterr().err
    assert not (tmp_path / "other").exists()
