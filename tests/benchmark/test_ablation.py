"""One-factor ablations: the rows, one change each, the folder's section and its numbers, and the refusals."""

from __future__ import annotations

import functools
import json

import pandas as pd
import pytest

from recgym.benchmark import run_benchmark
from recgym.benchmark.ablation import ablation_rows
from recgym.benchmark.report import config_changes
from recgym.benchmark.specs import BenchmarkError, resolve_agents
from recgym.cli import main

RESOLVE = functools.partial(resolve_agents, preset="synthetic", n_items=50, state_size=10, steps=100, eval_every=10)


def test_ccql_rows_switch_its_components_on_one_at_a_time_then_each_setting_of_sasrec():
    rows = ablation_rows("ccql", "sasrec", RESOLVE)
    assert [(label, against) for label, against, _ in rows] == [
        ("ce", None), ("td", "ce"), ("contrastive", "td"), ("cql", "contrastive"),
        ("sasrec-learning_rate", "cql"), ("sasrec-clip_grad_value", "cql"),
    ]  # fmt: skip
    options = {label: value for label, _, value in rows}
    assert options["ce"] == {"td_weight": 0.0, "contrastive_weight": 0.0, "cql_alpha": 0.0}
    assert options["contrastive"] == {"cql_alpha": 0.0}
    assert options["cql"] == {}  # the agent itself
    sasrec = RESOLVE({"sasrec": "sasrec"})["sasrec"].config
    assert options["sasrec-learning_rate"] == {"learning_rate": sasrec.learning_rate}
    assert options["sasrec-clip_grad_value"] == {"clip_grad_value": None}  # SASRec has no clamping: off
    # a component switched on by an option joins the chain at its place; options shared by both agents add no row
    with_negative = ablation_rows("ccql", "sasrec", lambda specs: RESOLVE(specs, agent_options={"negative_td": True}))
    assert [label for label, _, _ in with_negative][:5] == ["ce", "td", "negative_td", "contrastive", "cql"]
    same_rate = ablation_rows("ccql", "sasrec", lambda specs: RESOLVE(specs, agent_options={"learning_rate": 0.002}))
    assert "sasrec-learning_rate" not in [label for label, _, _ in same_rate]
    # a phase switch is a schedule row (its reference has no switch)
    assert [label for label, _, _ in ablation_rows("sa2c", "sasrec", RESOLVE)] == ["ce", "td", "sasrec-switch_step"]


def test_bad_ablations_are_one_line_errors(tmp_path, tiny_dataset, capsys):
    with pytest.raises(BenchmarkError, match="sasrec has no loss component to ablate"):
        ablation_rows("sasrec", "sqn", RESOLVE)
    with pytest.raises(BenchmarkError, match="needs another reference agent"):
        ablation_rows("ccql", "ccql", RESOLVE)
    with pytest.raises(BenchmarkError, match="not the baseline .popularity."):
        ablation_rows("ccql", "popularity", RESOLVE)
    with pytest.raises(BenchmarkError, match="give no agents and no grid beside ablate"):
        run_benchmark(
            tiny_dataset, ["sasrec"], ablate="ccql", steps=1, eval_every=1, out=tmp_path / "x", progress=False
        )
    assert not (tmp_path / "x").exists()
    data = ["--dataset", "synthetic", "-o", "n_sessions=300", "-o", "n_items=50", "--data-dir", str(tmp_path / "data")]
    assert (
        main(["ablate", "sasrec", *data, "--steps", "1", "--eval-every", "1", "--out", str(tmp_path / "y"), "-q"]) == 2
    )
    error = capsys.readouterr().err
    assert error.startswith("recgym: error: sasrec has no loss component to ablate") and error.count("\n") == 1
    assert not (tmp_path / "y").exists()


def test_an_ablation_folder_reads_each_row_against_the_one_it_changes(one_thread, tiny_dataset, tmp_path):
    result = run_benchmark(
        tiny_dataset, [], ablate="sqn", seeds=2, steps=2, eval_every=1, top_n_checkpoints=1, progress=False,
        out=tmp_path / "out", agent_options={"hidden_size": 8, "batch_size": 16},
    )  # fmt: skip
    config = json.loads((result.out_dir / "config.json").read_text())["config"]
    assert config["ablation"] == {"agent": "sqn", "reference": "sasrec", "rows": [["ce", None], ["td", "ce"]]}
    agents = config["agents"]
    for label, against in config["ablation"]["rows"][1:]:  # each row is one field away from the one it is read against
        assert config_changes(agents[against]["params"], agents[label]["params"]) == ["td_weight: 0.0 -> 1.0"]
    # the difference of the point estimates is that of the best selection's means in results.csv
    steps = pd.read_csv(result.out_dir / "ablation.csv")
    best = pd.read_csv(result.out_dir / "results.csv").query("selection == 'best'").set_index("agent")
    row = steps.set_index("metric").loc["reward@20"]
    assert row["agent"] == "td" and row["against"] == "ce"
    assert row["difference"] == pytest.approx(best.loc["td", "reward@20"] - best.loc["ce", "reward@20"], abs=1e-9)
    assert row["ci_low"] <= row["difference"] <= row["ci_high"]
    report = (result.out_dir / "results.md").read_text()
    assert "## One-factor ablation of sqn (selection: best)" in report
    assert "| td | ce | td_weight: 0.0 -> 1.0 | " in report
    assert "### Against ce, paired over test sessions" in report  # the first row is the folder's baseline
