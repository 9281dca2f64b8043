"""Tests of recgym/benchmark.py: selection, aggregation and config hashing as pure functions, then a tiny
end-to-end benchmark (files, table = independent recomputation from the run jsons, resume, config refusal)."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from recgym.benchmark import (
    aggregate,
    config_hash,
    format_markdown,
    select_steps,
    summarize_run,
    table_metrics,
    val_metrics,
)

# ---------------------------------------------------------------------------------------------- pure functions


def test_select_steps_ranks_best_first_with_earlier_step_on_ties():
    curve = pd.DataFrame({"step": [10, 20, 30, 40, 50, 60], "reward@20": [1.0, 5.0, 3.0, 5.0, np.nan, 2.0]})
    assert select_steps(curve, "reward@20", 1) == [20]
    assert select_steps(curve, "reward@20", 3) == [20, 40, 30]
    assert select_steps(curve, "reward@20", 10) == [20, 40, 30, 60, 10, 50]  # NaN last; fewer points than n


def test_select_steps_matches_brute_force():
    rng = np.random.default_rng(3)
    for _ in range(20):
        values = rng.integers(0, 5, size=12).astype(float)  # many ties
        curve = pd.DataFrame({"step": np.arange(1, 13) * 100, "m": values}).sample(frac=1, random_state=1)
        order = sorted(range(12), key=lambda i: (-values[i], i))
        assert select_steps(curve, "m", 5) == [int((i + 1) * 100) for i in order[:5]]


def test_summarize_run_best_and_top_n_mean():
    test = {10: {"a": 1.0, "b": 0.1}, 20: {"a": 3.0, "b": 0.2}, 30: {"a": 8.0, "b": 0.6}}
    summary = summarize_run(test, [20, 30, 10], top_n=2)
    assert summary["best"] == {"a": 3.0, "b": 0.2}
    assert summary["top2"] == pytest.approx({"a": 5.5, "b": 0.4})
    assert summarize_run(test, [30, 10, 20], top_n=5)["top5"] == pytest.approx({"a": 4.0, "b": 0.3})


def test_aggregate_equals_numpy_mean_and_sample_std():
    rng = np.random.default_rng(0)
    metrics = ["reward@20", "purchase/hr@20"]
    runs = pd.DataFrame(
        [
            {"agent": agent, "seed": seed, "selection": sel, **{m: rng.random() for m in metrics}}
            for agent in ("x", "y")
            for seed in range(4)
            for sel in ("best", "top5")
        ]
    )
    table = aggregate(runs, metrics)
    assert len(table) == 4
    for _, row in table.iterrows():
        chosen = runs[(runs.agent == row.agent) & (runs.selection == row.selection)]
        assert row.n_seeds == 4
        for m in metrics:
            values = chosen[m].to_numpy()
            assert row[m] == pytest.approx(np.mean(values))
            assert row[f"{m}_std"] == pytest.approx(np.std(values, ddof=1))


def test_training_dynamics_reads_peak_and_change_off_the_seed_mean_curve():
    from recgym.benchmark import format_dynamics, training_dynamics

    # agent a: seed means 0.2, 0.5, 0.3 at steps 10, 20, 30 (peak 0.5 at 20, change -0.2); b rises to its end
    curves = pd.DataFrame({
        "agent": ["a"] * 6 + ["b"] * 3,
        "seed": [0, 0, 0, 1, 1, 1, 0, 0, 0],
        "step": [10, 20, 30] * 3,
        "click/hr@20": [0.1, 0.4, 0.2, 0.3, 0.6, 0.4, 0.1, 0.2, 0.3],
        "purchase/hr@20": [np.nan] * 9,
    })  # fmt: skip
    dynamics = training_dynamics(curves, ["click/hr@20", "purchase/hr@20"])
    assert dynamics["metric"].tolist() == ["click/hr@20", "click/hr@20"]  # the all-NaN metric is skipped
    a, b = dynamics.iloc[0], dynamics.iloc[1]
    assert (a.agent, a.peak_step, a.final_step) == ("a", 20, 30)
    assert a.peak == pytest.approx(0.5) and a.final == pytest.approx(0.3) and a.change == pytest.approx(-0.2)
    assert (b.peak_step, b.change) == (30, 0.0)
    assert "| a | click/hr@20 | 0.5000 (20) | 0.3000 (30) | -0.2000 |" in format_dynamics(dynamics)


def test_aggregate_one_seed_has_nan_std_and_markdown_shows_mean_only():
    runs = pd.DataFrame([{"agent": "x", "seed": 0, "selection": "best", "reward@20": 12.5}])
    table = aggregate(runs, ["reward@20"])
    assert math.isnan(table.loc[0, "reward@20_std"])
    text = format_markdown(table, ["reward@20"], "# h")
    assert "| x | 1 | 12.5 |" in text


def test_markdown_cells_are_mean_plus_minus_std():
    runs = pd.DataFrame(
        [{"agent": "x", "seed": s, "selection": "best", "purchase/hr@5": v} for s, v in enumerate([0.2, 0.4])]
    )
    text = format_markdown(aggregate(runs, ["purchase/hr@5"]), ["purchase/hr@5"], "# h")
    assert f"0.3000 ± {np.std([0.2, 0.4], ddof=1):.4f}" in text
    assert "## Selection: best" in text


def test_config_hash_is_canonical_and_sensitive():
    a = {"seeds": [0, 1], "agents": {"x": {"lr": 1e-3}}, "steps": 10}
    b = {"steps": 10, "agents": {"x": {"lr": 1e-3}}, "seeds": [0, 1]}
    assert config_hash(a) == config_hash(b)
    assert config_hash(a) != config_hash({**a, "steps": 11})
    assert config_hash(a) != config_hash({**a, "agents": {"x": {"lr": 2e-3}}})


def test_table_metrics_follow_the_paper_order():
    assert table_metrics((20, 5, 10)) == [
        "reward@20",
        "purchase/hr@5", "purchase/ndcg@5", "purchase/hr@10", "purchase/ndcg@10",
        "purchase/hr@20", "purchase/ndcg@20",
        "click/hr@5", "click/ndcg@5", "click/hr@10", "click/ndcg@10", "click/hr@20", "click/ndcg@20",
    ]  # fmt: skip
    assert set(table_metrics((5, 10, 20))) <= set(val_metrics((5, 10, 20)))


# ---------------------------------------------------------------------------------------------- end to end

SEEDS, STEPS, EVAL_EVERY, TOP_N = 2, 6, 2, 2


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models run several times faster on one thread than on two busy cores."""
    torch = pytest.importorskip("torch")
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory):
    import recgym

    return recgym.load_dataset("synthetic", n_sessions=300, n_items=50, data_dir=tmp_path_factory.mktemp("data"))


def tiny_agents() -> dict:
    """One recgym agent and one stock d3rlpy algorithm on the SASRec encoder, both tiny."""
    from d3rlpy.algos import DiscreteCQLConfig

    from agents import SASRecEncoderFactory
    from agents.sqn import SQNConfig

    return {
        "sqn": SQNConfig(encoder_factory=SASRecEncoderFactory(hidden_size=8), batch_size=16),
        "discrete_cql": DiscreteCQLConfig(
            encoder_factory=SASRecEncoderFactory(n_items=50, hidden_size=8), batch_size=16
        ),
    }


def bench(dataset, out, **overrides):
    from recgym.benchmark import run_benchmark

    settings = dict(seeds=SEEDS, steps=STEPS, eval_every=EVAL_EVERY, top_n_checkpoints=TOP_N, progress=False)
    return run_benchmark(dataset, tiny_agents(), out=out, **{**settings, **overrides})


@pytest.fixture(scope="module")
def finished(one_thread, tiny_dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "out"
    return bench(tiny_dataset, out)


def run_results(out) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(out.glob("runs/*/seed*/result.json"))]


def test_folder_layout(finished):
    out = finished.out_dir
    for name in ("config.json", "curves.csv", "results.csv", "results.md"):
        assert (out / name).is_file(), name
    config = json.loads((out / "config.json").read_text())
    assert config["config_hash"] == finished.config_hash == config_hash(config["config"])
    assert set(config["config"]["agents"]) == {"sqn", "discrete_cql"}
    assert config["config"]["agents"]["sqn"]["params"]["encoder_factory"]["params"]["hidden_size"] == 8
    for agent in ("sqn", "discrete_cql"):
        for seed in range(SEEDS):
            run = out / "runs" / agent / f"seed{seed}"
            assert json.loads((run / "result.json").read_text())["finished"] is True
            result = json.loads((run / "result.json").read_text())
            assert [p.name for p in (run / "checkpoints").glob("*.pt")] == [f"step{result['selected_steps'][0]}.pt"]
            assert (run / "d3rlpy" / "loss.csv").is_file()
    assert [p.name for p in finished.figures] == ["val_curves.png", "train_curves.png"]
    for figure in finished.figures:
        assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        from matplotlib.image import imread

        assert imread(figure).ndim == 3


def test_curves_have_one_row_per_agent_seed_step(finished):
    curves = pd.read_csv(finished.out_dir / "curves.csv")
    assert len(curves) == 2 * SEEDS * (STEPS // EVAL_EVERY)
    assert sorted(curves["step"].unique()) == list(range(EVAL_EVERY, STEPS + 1, EVAL_EVERY))
    assert {"reward@20", "purchase/hr@20", "click/ndcg@5", "train/loss", "train/q_logged_mean"} <= set(curves.columns)
    assert curves.loc[curves.agent == "sqn", "train/q_logged_mean"].notna().all()
    assert curves.loc[curves.agent == "discrete_cql", "train/q_logged_mean"].isna().all()  # d3rlpy does not log it


def test_table_equals_independent_aggregate_of_run_jsons(finished):
    metrics = table_metrics((5, 10, 20))
    rows = []
    for result in run_results(finished.out_dir):
        curve = result["curve"]
        order = sorted(range(len(curve)), key=lambda i: (-curve[i]["reward@20"], curve[i]["step"]))
        steps = [curve[i]["step"] for i in order[:TOP_N]]
        tests = [result["test"][str(step)] for step in steps]
        rows.append((result["agent"], "best", {m: tests[0][m] for m in metrics}))
        rows.append((result["agent"], f"top{TOP_N}", {m: np.mean([t[m] for t in tests]) for m in metrics}))
    table = pd.read_csv(finished.out_dir / "results.csv")
    assert len(table) == 4
    for agent, selection in {(a, s) for a, s, _ in rows}:
        values = [r for a, s, r in rows if (a, s) == (agent, selection)]
        row = table[(table.agent == agent) & (table.selection == selection)].iloc[0]
        assert row["n_seeds"] == SEEDS
        for m in metrics:
            column = np.array([v[m] for v in values], dtype=float)
            assert row[m] == pytest.approx(np.mean(column), nan_ok=True)
            assert row[f"{m}_std"] == pytest.approx(np.std(column, ddof=1), nan_ok=True)


def test_kept_checkpoints_reproduce_the_reported_test_numbers(finished, tiny_dataset):
    import recgym
    from recgym.benchmark import load_weights

    result = json.loads((finished.out_dir / "runs" / "sqn" / "seed1" / "result.json").read_text())
    step = result["selected_steps"][0]
    algo = tiny_agents()["sqn"].create()
    algo.build_with_dataset(tiny_dataset.to_d3rlpy("train"))
    load_weights(algo, finished.out_dir / "runs" / "sqn" / "seed1" / "checkpoints" / f"step{step}.pt")
    assert recgym.evaluate(algo, tiny_dataset, split="test") == pytest.approx(result["test"][str(step)], nan_ok=True)


def test_resume_retrains_only_unfinished_runs_and_gives_the_same_table(finished, tiny_dataset, tmp_path, monkeypatch):
    import shutil

    import recgym.benchmark as benchmark

    out = tmp_path / "resumed"
    shutil.copytree(finished.out_dir, out)
    killed = out / "runs" / "sqn" / "seed1"
    (killed / "result.json").unlink()  # as if killed during training: folder and checkpoints left, no result
    (killed / "checkpoints" / "step999.pt").write_bytes(b"partial")
    (out / "results.csv").unlink()
    trained = []
    original = benchmark._train_run
    def counting(label, *args, **kwargs):
        trained.append(label)
        return original(label, *args, **kwargs)

    monkeypatch.setattr(benchmark, "_train_run", counting)

    resumed = bench(tiny_dataset, out)
    assert trained == ["sqn"]
    assert not (killed / "checkpoints" / "step999.pt").exists()
    pd.testing.assert_frame_equal(pd.read_csv(out / "results.csv"), pd.read_csv(finished.out_dir / "results.csv"))
    pd.testing.assert_frame_equal(resumed.curves, finished.curves)

    bench(tiny_dataset, out)  # everything finished: nothing is trained again
    assert trained == ["sqn"]


def test_changed_config_is_refused(finished, tiny_dataset):
    from recgym.errors import RecgymError

    with pytest.raises(RecgymError, match=f"config hash {finished.config_hash}.*differs in: steps"):
        bench(tiny_dataset, finished.out_dir, steps=STEPS + EVAL_EVERY)


def test_bad_arguments_are_refused(tiny_dataset, tmp_path):
    with pytest.raises(ValueError, match="multiple of eval_every"):
        bench(tiny_dataset, tmp_path, steps=5)
    with pytest.raises(ValueError, match="select_by"):
        bench(tiny_dataset, tmp_path, select_by="purchase/hr@50")
    assert not (tmp_path / "config.json").exists()


def test_agent_options_apply_to_all_named_agents_or_to_the_one_they_name():
    from recgym.benchmark import resolve_agents

    options = {"hidden_size": 16, "ccql.switch_step": 700, "sa2c.switch_step": 900}
    resolved = resolve_agents(["ccql", "sa2c", "sasrec"], preset="synthetic", n_items=50, agent_options=options)
    assert resolved["ccql"][0].switch_step == 700 and resolved["sa2c"][0].switch_step == 900
    assert {config.encoder_factory.hidden_size for config, _ in resolved.values()} == {16}


def test_agent_specs_resolve_to_labelled_configs():
    from d3rlpy.algos import DiscreteCQLConfig

    from recgym.benchmark import BenchmarkError, describe_config, resolve_agents

    resolved = resolve_agents(
        [DiscreteCQLConfig(batch_size=8), "d3rlpy.algos:DQNConfig"], preset="synthetic", n_items=50
    )
    assert list(resolved) == ["discrete_cql", "dqn"]
    config, spec = resolved["discrete_cql"]
    assert spec is None and describe_config(config, spec)["params"]["batch_size"] == 8
    assert describe_config(*resolved["dqn"]) == {
        "spec": "d3rlpy.algos:DQNConfig",
        "type": "dqn",
        "class": "d3rlpy.algos.qlearning.dqn:DQNConfig",
        "params": json.loads(resolved["dqn"][0].serialize()),
    }
    labelled = resolve_agents({"a": DiscreteCQLConfig(), "b": DiscreteCQLConfig()}, preset="synthetic", n_items=5)
    assert list(labelled) == ["a", "b"]
    with pytest.raises(BenchmarkError, match="two agents are labelled 'discrete_cql'"):
        resolve_agents([DiscreteCQLConfig(), DiscreteCQLConfig()], preset="synthetic", n_items=50)
    with pytest.raises(BenchmarkError, match="cannot import agent spec 'nowhere:Config'"):
        resolve_agents(["nowhere:Config"], preset="synthetic", n_items=50)
    with pytest.raises(BenchmarkError, match="not a d3rlpy LearnableConfig"):
        resolve_agents(["json:dumps"], preset="synthetic", n_items=50)
    with pytest.raises(BenchmarkError, match="must match"):
        resolve_agents({"a/b": DiscreteCQLConfig()}, preset="synthetic", n_items=50)


def test_cli_benchmark_with_registered_names(one_thread, tmp_path, capsys):
    from recgym.cli import main

    argv = [
        "benchmark", "--dataset", "synthetic", "--data-dir", str(tmp_path / "data"), "-o", "n_sessions=300", "-o", "n_items=50",
        "--agents", "sasrec", "--seeds", "1", "--steps", "2", "--eval-every", "1", "--top-n", "1",
        "-a", "hidden_size=8", "--out", str(tmp_path / "out"),
    ]  # fmt: skip
    assert main(argv) == 0
    assert "| sasrec | 1 |" in capsys.readouterr().out
    config = json.loads((tmp_path / "out" / "config.json").read_text())["config"]
    assert config["agent_preset"] == "synthetic"
    assert config["agents"]["sasrec"]["spec"] == "sasrec"
    assert config["agents"]["sasrec"]["params"]["encoder_factory"]["params"]["n_items"] == 50
    assert config["agents"]["sasrec"]["params"]["encoder_factory"]["params"]["hidden_size"] == 8
    assert config["dataset"]["options"] == {"state_size": 10, "seed": 0, "n_sessions": 300, "n_items": 50}

    assert main([*argv, "-o", "n_items=60"]) == 2  # another dataset into the same folder
    assert "recgym: error:" in capsys.readouterr().err


def test_a_users_own_algorithm_runs_from_a_module_spec(one_thread, tiny_dataset, tmp_path, monkeypatch):
    from pathlib import Path

    from recgym.benchmark import run_benchmark

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "examples"))
    result = run_benchmark(
        tiny_dataset, ["custom_algorithm:SmoothBCConfig"], seeds=1, steps=2, eval_every=1, top_n_checkpoints=1,
        out=tmp_path, progress=False,
    )  # fmt: skip
    assert result.table[["agent", "selection"]].values.tolist() == [["smooth_bc", "best"], ["smooth_bc", "top1"]]
    assert result.curves["train/loss"].notna().all()
