"""End-to-end tests of the benchmark harness (recgym/benchmark/): a tiny run of recgym agents, d3rlpy algorithms
from module specs and the baselines; files, tables recomputed independently from the run jsons, checkpoints that
reload safely, resume, config refusal, and bad input that writes nothing."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from matplotlib.image import imread

import recgym
from recgym.benchmark import config_hash, read_runs, run_benchmark, table_metrics
from recgym.envs.simulator import UserSimulator
from recgym.errors import RecgymError
from recgym.evaluation.online import OraclePolicy

SEEDS, STEPS, EVAL_EVERY, TOP_N = 2, 6, 2, 2
AGENTS = {
    "sasrec": "sasrec",
    "ccql": "ccql",
    "bcq": "d3rlpy.algos:DiscreteBCQConfig",
    "dqn": "d3rlpy.algos:DQNConfig",
    "popularity": "popularity",
    "random": "random",
}
OPTIONS = {"hidden_size": 8, "batch_size": 16, "ccql.switch_step": 4, "dqn.learning_rate": 0.01}
TRAINED = ["sasrec", "ccql", "bcq", "dqn"]


def bench(dataset, out, **overrides):
    settings = dict(
        seeds=SEEDS, steps=STEPS, eval_every=EVAL_EVERY, top_n_checkpoints=TOP_N, progress=False,
        agent_options=OPTIONS,
    )  # fmt: skip
    return run_benchmark(dataset, AGENTS, out=out, **{**settings, **overrides})


@pytest.fixture(scope="module")
def finished(one_thread, tiny_dataset, tmp_path_factory):
    return bench(tiny_dataset, tmp_path_factory.mktemp("bench") / "out")


def run_results(out) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(out.glob("runs/*/seed*/result.json"))]


def test_folder_layout_and_config(finished):
    out = finished.out_dir
    for name in ("config.json", "curves.csv", "results.csv", "results.md", "comparison.csv", "dynamics.csv",
                 "sessions.csv", "sessions_comparison.csv"):  # fmt: skip
        assert (out / name).is_file(), name
    config = json.loads((out / "config.json").read_text())
    assert config["config_hash"] == finished.config_hash == config_hash(config["config"])
    agents = config["config"]["agents"]
    assert list(agents) == list(AGENTS)
    for label in ("bcq", "dqn"):  # d3rlpy's algorithms on the SASRec encoder, with the -a options applied
        encoder = agents[label]["params"]["encoder_factory"]
        assert encoder["type"] == "sasrec" and encoder["params"] == {
            "n_items": 50, "hidden_size": 8, "n_blocks": 1, "n_heads": 1, "dropout": 0.1,
        }  # fmt: skip
        assert agents[label]["params"]["batch_size"] == 16 and agents[label]["params"]["gamma"] == 0.5
    assert agents["dqn"]["params"]["learning_rate"] == 0.01 and agents["bcq"]["params"]["learning_rate"] == 1e-3
    assert agents["ccql"]["params"]["switch_step"] == 4
    assert agents["popularity"] == {"spec": "popularity", "baseline": "popularity"}
    for label in AGENTS:
        for seed in range(SEEDS):
            run = out / "runs" / label / f"seed{seed}"
            result = json.loads((run / "result.json").read_text())
            assert result["finished"] is True and result["torch_threads"] == 1
            assert result["cpu_capability"] == torch.backends.cpu.get_cpu_capability()  # e.g. AVX2: it moves floats
            kept = [p.name for p in (run / "checkpoints").glob("*.pt")]
            assert kept == ([f"step{result['selected_steps'][0]}.pt"] if label in TRAINED else [])
    names = sorted(p.name for p in finished.figures)
    assert names == sorted(f"{n}.{e}" for n in ("val_curves", "train_curves", "test_metrics") for e in ("png", "pdf"))
    for figure in finished.figures:
        if figure.suffix == ".png":
            assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and imread(figure).ndim == 3
        else:
            assert figure.read_bytes()[:5] == b"%PDF-"


def test_curves_have_one_row_per_trained_agent_seed_step_and_one_per_baseline_seed(finished):
    curves = pd.read_csv(finished.out_dir / "curves.csv")
    assert len(curves) == len(TRAINED) * SEEDS * (STEPS // EVAL_EVERY) + 2 * SEEDS
    assert sorted(curves.loc[curves.agent == "sasrec", "step"].unique()) == list(
        range(EVAL_EVERY, STEPS + 1, EVAL_EVERY)
    )
    assert curves.loc[curves.agent.isin(["popularity", "random"]), "step"].eq(0).all()
    assert {"reward@20", "purchase/hr@20", "click/ndcg@5", "train/loss", "train/q_logged_mean"} <= set(curves.columns)
    assert curves.loc[curves.agent == "ccql", "train/q_logged_mean"].notna().all()


def test_baselines_equal_their_direct_evaluation(finished, tiny_dataset):
    from recgym.evaluation.offline import PopularityPolicy

    expected = recgym.evaluate(PopularityPolicy(tiny_dataset), tiny_dataset, split="test")
    for result in run_results(finished.out_dir):
        if result["agent"] == "popularity":
            assert result["test"]["0"] == pytest.approx(expected, nan_ok=True)


def test_table_and_comparison_equal_independent_computations_from_run_jsons(finished):
    from scipy import stats

    metrics = table_metrics((5, 10, 20))
    per_run = {}
    for result in run_results(finished.out_dir):
        curve = result["curve"]
        order = sorted(range(len(curve)), key=lambda i: (-curve[i]["reward@20"], curve[i]["step"]))
        tests = [result["test"][str(curve[i]["step"])] for i in order[:TOP_N]]
        per_run[result["agent"], result["seed"], "best"] = tests[0]
        per_run[result["agent"], result["seed"], f"top{TOP_N}"] = {m: np.mean([t[m] for t in tests]) for m in metrics}
    table = pd.read_csv(finished.out_dir / "results.csv")
    comparison = pd.read_csv(finished.out_dir / "comparison.csv")
    assert len(table) == 2 * len(AGENTS)
    for _, row in table.iterrows():
        for m in metrics:
            column = np.array([per_run[row.agent, s, row.selection][m] for s in range(SEEDS)], dtype=float)
            if np.isnan(column).any():
                continue
            half = stats.t.ppf(0.975, SEEDS - 1) * np.std(column, ddof=1) / np.sqrt(SEEDS)
            assert row[m] == pytest.approx(column.mean())
            assert row[f"{m}_ci_low"] == pytest.approx(column.mean() - half, abs=1e-12)
            if row.agent == "sasrec":
                continue
            reference = [per_run["sasrec", s, row.selection][m] for s in range(SEEDS)]
            compared = comparison[
                (comparison.agent == row.agent) & (comparison.selection == row.selection) & (comparison.metric == m)
            ].iloc[0]
            assert compared["difference"] == pytest.approx(column.mean() - np.mean(reference))
    text = (finished.out_dir / "results.md").read_text()
    assert "## Against sasrec" in text and "| popularity |" in text and "Purchase HR@20" in text
    isa = torch.backends.cpu.get_cpu_capability()
    assert f"Runs ({len(AGENTS) * SEEDS} on cpu, 1 torch thread(s), {isa}) reproduce bit for bit" in text


def test_session_intervals_center_on_the_best_selection_and_pair_with_the_baseline(finished, tiny_dataset):
    out = finished.out_dir
    cells = pd.read_csv(out / "sessions.csv").set_index("agent")
    best = finished.table[finished.table["selection"] == "best"].set_index("agent")
    metrics = table_metrics((5, 10, 20))
    for agent in AGENTS:
        for metric in metrics:  # the point is the seed mean of the whole split's metric, as in results.csv
            if np.isnan(best.loc[agent, metric]):
                continue
            assert cells.loc[agent, metric] == pytest.approx(best.loc[agent, metric], rel=1e-9, abs=1e-12)
            assert cells.loc[agent, f"{metric}_ci_low"] <= cells.loc[agent, metric] + 1e-12
            assert cells.loc[agent, f"{metric}_ci_high"] >= cells.loc[agent, metric] - 1e-12
    test = tiny_dataset.split("test")
    for run in out.glob("runs/*/seed*"):  # every run keeps its best checkpoint's per-session sums
        with np.load(run / "test_sessions.npz", allow_pickle=False) as stored:
            np.testing.assert_array_equal(stored["session_ids"], test.session_ids)
            assert stored["parts"].shape[0] == test.n_sessions
    paired = pd.read_csv(out / "sessions_comparison.csv")
    assert set(paired["agent"]) == set(AGENTS) - {"sasrec"} and len(paired) == (len(AGENTS) - 1) * len(metrics)
    popularity = paired[(paired["agent"] == "popularity") & (paired["metric"] == "reward@20")].iloc[0]
    assert popularity["difference"] == pytest.approx(
        cells.loc["popularity", "reward@20"] - cells.loc["sasrec", "reward@20"]
    )
    assert (paired["p_holm"] >= paired["p_value"] - 1e-15).all()
    assert "## Intervals over seeds and test sessions (selection: best)" in (out / "results.md").read_text()


def test_kept_checkpoints_reload_safely_and_reproduce_the_reported_test_numbers(finished, tiny_dataset):
    for label in ("ccql", "bcq"):
        result = json.loads((finished.out_dir / "runs" / label / "seed1" / "result.json").read_text())
        step = result["selected_steps"][0]
        model = recgym.load_model(finished.out_dir / "runs" / label / "seed1" / "checkpoints" / f"step{step}.pt")
        assert recgym.evaluate(model, tiny_dataset, split="test") == pytest.approx(
            result["test"][str(step)], nan_ok=True
        )


def test_resume_reruns_only_unfinished_runs_and_gives_the_same_table(finished, tiny_dataset, tmp_path, monkeypatch):
    import shutil

    import recgym.benchmark.executors as executors

    out = tmp_path / "resumed"
    shutil.copytree(finished.out_dir, out)
    killed = out / "runs" / "ccql" / "seed1"
    (killed / "result.json").unlink()  # as if killed during training: folder and checkpoints left, no result
    (killed / "checkpoints" / "step999.pt").write_bytes(b"partial")
    (out / "results.csv").unlink()
    ran = []
    original = executors.run_one

    def counting(agent, *args, **kwargs):
        ran.append(agent.label)
        return original(agent, *args, **kwargs)

    monkeypatch.setattr(executors, "run_one", counting)
    resumed = bench(tiny_dataset, out)
    assert ran == ["ccql"]
    assert not (killed / "checkpoints" / "step999.pt").exists()
    pd.testing.assert_frame_equal(pd.read_csv(out / "results.csv"), pd.read_csv(finished.out_dir / "results.csv"))
    pd.testing.assert_frame_equal(resumed.curves, finished.curves)
    bench(tiny_dataset, out)  # everything finished: nothing runs again
    assert ran == ["ccql"]


def test_changed_config_is_refused(finished, tiny_dataset):
    with pytest.raises(RecgymError, match=f"config hash {finished.config_hash}.*differs in: steps"):
        bench(tiny_dataset, finished.out_dir, steps=STEPS + EVAL_EVERY)


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", "null"])
@pytest.mark.parametrize("file", ["runs/sasrec/seed0/result.json", "config.json"])
def test_a_damaged_record_is_one_clear_error(finished, tiny_dataset, tmp_path, file, content):
    import shutil

    out = tmp_path / "damaged"
    shutil.copytree(finished.out_dir, out)
    (out / file).write_text(content)
    name = file.rsplit("/", 1)[-1]
    with pytest.raises(RecgymError, match=f"{name} is damaged"):
        bench(tiny_dataset, out)
    with pytest.raises(RecgymError, match=f"{name} is damaged"):
        read_runs(out)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"steps": 5}, "multiple of eval_every"),
        ({"select_by": "purchase/hr@50"}, "select_by"),
        ({"agent_options": {"hidden_size": "abc"}}, "hidden_size must be int"),
        ({"agent_options": {"nobody.lr": 1}}, "no agent is labelled 'nobody'"),
        ({"agent_options": {"popularity.batch_size": 8}}, "baseline"),
        ({"baseline": "dqn2"}, "baseline 'dqn2' is not an agent"),
        ({"device": "nodevice"}, "device 'nodevice' is not usable here"),
        ({"state_every": -1}, "state_every \\(0: never save the training state\\) must be a finite integer >= 0"),
    ],
)
def test_bad_arguments_are_refused_before_anything_is_written(tiny_dataset, tmp_path, overrides, message):
    with pytest.raises(RecgymError, match=message):
        bench(tiny_dataset, tmp_path / "out", **overrides)
    assert not (tmp_path / "out").exists()


def test_cli_benchmark_with_labels_and_options(one_thread, tmp_path, capsys):
    from recgym.cli import main

    argv = [
        "benchmark", "--dataset", "synthetic", "--data-dir", str(tmp_path / "data"), "-o", "n_sessions=300", "-o", "n_items=50",
        "--agents", "sasrec,q=d3rlpy.algos:DQNConfig,popularity", "--seeds", "2", "--steps", "2", "--eval-every", "1",
        "--top-n", "1", "-a", "hidden_size=8", "-a", "q.gamma=0.9", "--out", str(tmp_path / "out"),
    ]  # fmt: skip
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "| sasrec | 2 |" in printed and "## Against sasrec" in printed
    config = json.loads((tmp_path / "out" / "config.json").read_text())["config"]
    assert config["agents"]["q"]["params"]["gamma"] == 0.9
    assert config["agents"]["q"]["params"]["encoder_factory"]["params"]["hidden_size"] == 8
    assert config["dataset"]["options"] == {"state_size": 10, "seed": 0, "n_sessions": 300, "n_items": 50}

    assert main([*argv, "-o", "n_items=60"]) == 2  # another dataset into the same folder
    assert "recgym: error:" in capsys.readouterr().err
    bad = [*argv[:-1], str(tmp_path / "bad"), "-a", "q.learning_rate=fast"]
    assert main(bad) == 2
    assert capsys.readouterr().err.count("\n") == 1 and not (tmp_path / "bad").exists()


def test_a_users_own_algorithm_runs_from_a_module_spec(one_thread, tiny_dataset, tmp_path, monkeypatch):
    from pathlib import Path

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[2] / "examples"))
    result = run_benchmark(
        tiny_dataset, ["custom_algorithm:SmoothBCConfig"], seeds=1, steps=2, eval_every=1, top_n_checkpoints=1,
        out=tmp_path, progress=False,
    )  # fmt: skip
    assert result.table[["agent", "selection"]].values.tolist() == [["smooth_bc", "best"], ["smooth_bc", "top1"]]
    assert result.curves["train/loss"].notna().all()


def test_online_columns_equal_a_direct_online_evaluation(one_thread, tmp_path):
    from recgym.evaluation.offline import PopularityPolicy

    data = {"n_sessions": 300, "n_items": 50, "data_dir": tmp_path / "data"}
    result = run_benchmark(
        "synthetic", ["sasrec", "popularity", "oracle"], seeds=2, steps=2, eval_every=1, top_n_checkpoints=1,
        progress=False, agent_options={"hidden_size": 8}, online=40, out=tmp_path / "out", **data,
    )  # fmt: skip
    assert {"online/return", "online/clicks_per_session", "online/purchases_per_session"} <= set(result.table)
    assert result.curves["online/return"].notna().all()
    dataset = recgym.load_dataset("synthetic", **data)
    expected = recgym.evaluate_online(
        PopularityPolicy(dataset), n_sessions=40, seed=2, log_sessions=300, n_items=50, data_dir=tmp_path / "data"
    )
    row = result.table[(result.table.agent == "popularity") & (result.table.selection == "best")].iloc[0]
    assert row["online/return"] == pytest.approx(expected["return"])
    simulator = UserSimulator(n_sessions=300, n_items=50, data_dir=tmp_path / "data")
    oracle = result.table[(result.table.agent == "oracle") & (result.table.selection == "best")].iloc[0]
    assert oracle["online/return"] == pytest.approx(
        recgym.evaluate_online(OraclePolicy(simulator), n_sessions=40, seed=2, log_sessions=300, n_items=50,
                               data_dir=tmp_path / "data")["return"]
    )  # fmt: skip
    offline = recgym.evaluate(OraclePolicy(simulator), dataset, split="test")
    assert oracle["click/hr@20"] == pytest.approx(offline["click/hr@20"])
    config = json.loads((tmp_path / "out" / "config.json").read_text())["config"]
    assert config["online"] == {"n_sessions": 40, "slate_size": 20}
    points = pd.read_csv(tmp_path / "out" / "validity_points.csv")  # the offline-vs-online section and figure
    best = result.runs[result.runs.selection == "best"]
    assert sorted(points["online/return"]) == pytest.approx(sorted(best["online/return"]))
    assert "## Offline metrics against the online return" in (tmp_path / "out" / "results.md").read_text()
    assert (tmp_path / "out" / "figures" / "offline_vs_online.png").is_file()
    with pytest.raises(RecgymError, match="online evaluation needs a log of a live world"):
        run_benchmark(dataset, ["popularity"], seeds=1, steps=1, eval_every=1, online=40, out=tmp_path / "x")
    with pytest.raises(RecgymError, match="oracle baseline needs online evaluation"):
        run_benchmark("synthetic", ["oracle"], seeds=1, steps=1, eval_every=1, out=tmp_path / "y", **data)
    assert not (tmp_path / "y").exists()


def test_a_benchmark_on_a_slate_log_reports_estimators_and_the_logs_world(one_thread, tmp_path):
    """On a recommender's log the runs get ope/iips and ope/rips beside the replay metrics, the online columns come
    from the world recorded on the log (its mechanics, its slate size), and the validity section ranks them all."""
    from recgym.evaluation.offline import PopularityPolicy
    from recgym.worlds import log_sessions, logging_policy, make_world

    world = make_world("longterm", n_sessions=300, n_items=50, data_dir=tmp_path / "data")
    path = log_sessions(world, logging_policy("epsilon_greedy", epsilon=0.5), n_sessions=200, slate_size=5).save(
        tmp_path / "log.npz"
    )
    result = run_benchmark(
        path, ["sasrec", "popularity"], seeds=2, steps=2, eval_every=1, top_n_checkpoints=1, progress=False,
        agent_options={"hidden_size": 8}, online=30, out=tmp_path / "out", data_dir=tmp_path / "data",
    )  # fmt: skip
    assert {"ope/iips", "ope/rips", "online/return"} <= set(result.table)
    dataset = recgym.load_dataset(path)
    row = result.table[(result.table.agent == "popularity") & (result.table.selection == "best")].iloc[0]
    assert row["ope/iips"] == pytest.approx(recgym.evaluate(PopularityPolicy(dataset), dataset, "test")["ope/iips"])
    online = recgym.evaluate_online(PopularityPolicy(dataset), n_sessions=30, seed=2, slate_size=5, **{
        "log_sessions": 300, "n_items": 50, "world": "longterm", "data_dir": tmp_path / "data"})  # fmt: skip
    assert row["online/return"] == pytest.approx(online["return"])
    config = json.loads((tmp_path / "out" / "config.json").read_text())["config"]
    assert config["online"] == {"n_sessions": 30, "slate_size": 5}
    assert "| IIPS |" in (tmp_path / "out" / "results.md").read_text()
    board = pd.read_csv(tmp_path / "out" / "validity_leaderboard.csv").set_index("quantity")
    assert {"ope/iips", "ope/rips", "reward@20"} <= set(board.index) and (board["n_clusters"] == 2).all()


def test_a_changed_input_file_refuses_the_folder(tmp_path):
    rng = np.random.default_rng(0)
    rows = [(s, int(rng.integers(20)), 1000 * s + t) for s in range(200) for t in range(4)]
    log = tmp_path / "log.csv"
    pd.DataFrame(rows, columns=["session_id", "item_id", "timestamp"]).to_csv(log, index=False)
    settings = dict(seeds=1, steps=1, eval_every=1, progress=False, out=tmp_path / "out", data_dir=tmp_path / "data")
    run_benchmark(log, ["popularity"], **settings)
    recorded = json.loads((tmp_path / "out" / "config.json").read_text())["inputs"]
    assert [entry["name"] for entry in recorded] == ["log.csv"] and "mtime_ns" not in recorded[0]
    (tmp_path / "out" / "runs" / "popularity" / "seed0" / "result.json").unlink()  # as if killed mid-benchmark
    swapped = [(s, {3: 4, 4: 3}.get(i, i), t) for s, i, t in rows]  # same statistics, other content
    pd.DataFrame(swapped, columns=["session_id", "item_id", "timestamp"]).to_csv(log, index=False)
    with pytest.raises(RecgymError, match="other input files \\(log.csv changed since\\)"):
        run_benchmark(log, ["popularity"], **settings)


def test_report_of_a_partial_folder_says_what_is_missing(finished, tmp_path, capsys):
    import shutil

    from recgym.cli import main

    out = tmp_path / "partial"
    shutil.copytree(finished.out_dir, out)
    for label in AGENTS:
        (out / "runs" / label / "seed1" / "result.json").unlink()
    assert main(["report", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"Partial: {len(AGENTS)} of {2 * len(AGENTS)} runs have finished" in printed
    table = pd.read_csv(out / "results.csv")
    assert (table["n_seeds"] == 1).all()
    full = pd.read_csv(finished.out_dir / "results.csv")
    assert set(table["agent"]) == set(full["agent"])
    assert main(["report", str(tmp_path / "nowhere")]) == 2
    assert "config.json not found" in capsys.readouterr().err


def test_a_log_in_two_files_and_a_dataframe_are_benchmarked(tmp_path):
    rng = np.random.default_rng(1)
    rows = pd.DataFrame(
        [(s, int(rng.integers(20)), 1000 * s + t) for s in range(200) for t in range(4)],
        columns=["session_id", "item_id", "timestamp"],
    )
    rows.iloc[:400].to_csv(tmp_path / "a.csv", index=False)
    rows.iloc[400:].to_csv(tmp_path / "b.csv", index=False)
    settings = dict(seeds=1, steps=1, eval_every=1, progress=False, data_dir=tmp_path / "data")
    files = run_benchmark([tmp_path / "a.csv", tmp_path / "b.csv"], ["popularity"], out=tmp_path / "f", **settings)
    table = run_benchmark(rows, ["popularity"], out=tmp_path / "t", **settings)
    pd.testing.assert_frame_equal(files.table, table.table)
    sources = [json.loads((tmp_path / name / "config.json").read_text())["config"]["dataset"]["source"]
               for name in ("f", "t")]  # fmt: skip
    assert sources == [[str(tmp_path / "a.csv"), str(tmp_path / "b.csv")], "in-memory DataFrame"]


def test_cuda_on_a_cpu_only_torch_is_refused_before_any_work(tiny_dataset, tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this torch has CUDA")
    with pytest.raises(RecgymError, match="device 'cuda' is not usable here: Torch not compiled with CUDA"):
        bench(tiny_dataset, tmp_path / "out", device="cuda")
    assert not (tmp_path / "out").exists()


def test_a_second_benchmark_on_a_busy_folder_stops_at_once(tmp_path, capsys):
    import fcntl

    from recgym.cli import main

    out = tmp_path / "out"
    out.mkdir()
    data = ["-o", "n_sessions=200", "-o", "n_items=30", "--data-dir", str(tmp_path / "data")]
    arguments = ["benchmark", "--dataset", "synthetic", *data, "--agents", "popularity", "--seeds", "1",
                 "--steps", "1", "--eval-every", "1", "--out", str(out)]  # fmt: skip
    with (out / ".lock").open("a") as held:  # a benchmark running on it, as another process would hold it
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert main(arguments) == 2
        last = capsys.readouterr().err.splitlines()[-1]  # after the dataset's progress bar
        assert (
            last == f"recgym: error: another benchmark is writing {out} now; wait for it to end or choose another --out"
        )
        assert sorted(path.name for path in out.iterdir()) == [".lock"]  # nothing written
    assert main(arguments) == 0  # released: the same command runs, and leaves no lock behind
    assert (out / "results.md").is_file() and not (out / ".lock").exists()


def test_a_top_n_over_a_quarter_of_the_evaluations_is_flagged(one_thread, tiny_dataset, tmp_path):
    settings = dict(seeds=1, steps=8, eval_every=1, progress=False, agent_options={"hidden_size": 8})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # 2 of 8 evaluations: no warning
        run_benchmark(tiny_dataset, ["sasrec"], top_n_checkpoints=2, out=tmp_path / "narrow", **settings)
        run_benchmark(
            tiny_dataset,
            ["popularity"],
            top_n_checkpoints=5,
            out=tmp_path / "baseline",
            seeds=1,
            steps=8,
            eval_every=1,
            progress=False,
        )  # fmt: skip  (a baseline has one evaluation: nothing to mix)
    assert "**Note:**" not in (tmp_path / "narrow" / "results.md").read_text()
    with pytest.warns(UserWarning, match="top3 averages 3 of the 8 evaluations of a run, more than a quarter"):
        run_benchmark(tiny_dataset, ["sasrec"], top_n_checkpoints=3, out=tmp_path / "wide", **settings)
    assert "**Note:** top3 averages 3 of the 8 evaluations" in (tmp_path / "wide" / "results.md").read_text()


def test_online_in_another_world_a_preset_or_a_fitted_one(one_thread, tmp_path):
    """``--world longterm`` evaluates the synthetic logs' policies in the longterm world; ``--world world.npz`` any
    dataset's in the world fitted to it; the columns equal a direct evaluation there."""
    from recgym.evaluation.offline import PopularityPolicy
    from recgym.evaluation.online import OraclePolicy
    from recgym.worlds import fit_world, load_world

    data = {"n_sessions": 300, "n_items": 50, "data_dir": tmp_path / "data"}
    settings = dict(seeds=1, steps=1, eval_every=1, top_n_checkpoints=1, progress=False, online=30)
    result = run_benchmark("synthetic", ["popularity"], world="longterm", out=tmp_path / "longterm", **settings, **data)
    dataset = recgym.load_dataset("synthetic", **data)
    expected = recgym.evaluate_online(PopularityPolicy(dataset), n_sessions=30, seed=2, log_sessions=300, n_items=50,
                                      world="longterm", data_dir=tmp_path / "data")  # fmt: skip
    assert result.table.loc[result.table.selection == "best", "online/return"].iloc[0] == pytest.approx(
        expected["return"]
    )
    path = fit_world(dataset).save(tmp_path / "world.npz")
    result = run_benchmark(dataset, ["popularity", "oracle"], world=path, out=tmp_path / "fitted", **settings)
    world = load_world(path)
    for name, policy in (("popularity", PopularityPolicy(dataset)), ("oracle", OraclePolicy(world))):
        row = result.table[(result.table.agent == name) & (result.table.selection == "best")].iloc[0]
        direct = recgym.evaluate_online(policy, n_sessions=30, seed=2, simulator=world)
        assert row["online/return"] == pytest.approx(direct["return"])
    config = json.loads((tmp_path / "fitted" / "config.json").read_text())["config"]
    assert len(config["online"]["world"]["fitted"]["sha256"]) == 64
    with pytest.raises(RecgymError, match="give online= \\(--online N\\) too"):
        run_benchmark(dataset, ["popularity"], world=path, out=tmp_path / "x", seeds=1, steps=1, eval_every=1)
    other = recgym.load_dataset("synthetic", n_sessions=300, n_items=60, data_dir=tmp_path / "data")
    with pytest.raises(RecgymError, match="was fitted to another item index"):
        run_benchmark(other, ["popularity"], world=path, out=tmp_path / "y", **settings)
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


def test_a_top_n_across_a_phase_switch_is_flagged(one_thread, tiny_dataset, tmp_path):
    with pytest.warns(UserWarning, match="mixes checkpoints from before and after the phase switch"):
        run_benchmark(tiny_dataset, ["sa2c"], seeds=1, steps=4, eval_every=1, top_n_checkpoints=4, progress=False,
                      agent_options={"hidden_size": 8, "sa2c.switch_step": 2}, out=tmp_path)  # fmt: skip
    text = (tmp_path / "results.md").read_text()
    assert (
        "top4 mixes checkpoints from before and after the phase switch (switch_step) in 1 run(s): sa2c seed 0" in text
    )


def test_splits_run_one_folder_per_session_fold_and_pool_them(one_thread, tmp_path, capsys):
    from recgym.cli import main

    options = {"n_sessions": 300, "n_items": 50, "data_dir": tmp_path / "data"}
    settings = dict(seeds=[0, 1], steps=2, eval_every=1, top_n_checkpoints=1, progress=False,
                    agent_options={"hidden_size": 8})  # fmt: skip
    result = run_benchmark("synthetic", ["sasrec", "popularity"], out=tmp_path / "cv", splits=3, **settings, **options)
    every = recgym.load_dataset("synthetic", **options)
    all_sessions = set().union(*(every.split(name).session_ids.tolist() for name in ("train", "val", "test")))
    tested = []
    for fold in range(3):
        with np.load(tmp_path / "cv" / f"fold{fold}" / "runs" / "sasrec" / "seed0" / "test_sessions.npz") as stored:
            tested.append(set(stored["session_ids"].tolist()))
        recorded = json.loads((tmp_path / "cv" / f"fold{fold}" / "config.json").read_text())["config"]
        assert recorded["dataset"]["options"]["n_folds"] == 3 and recorded["dataset"]["options"]["fold"] == fold
    assert set().union(*tested) == all_sessions and sum(map(len, tested)) == len(all_sessions)  # one test fold each
    best = result.table[result.table["selection"] == "best"].set_index("agent")
    assert best.loc["sasrec", "n_seeds"] == 6  # 2 seeds x 3 folds
    folds = [pd.read_csv(tmp_path / "cv" / f"fold{k}" / "results.csv") for k in range(3)]
    fold_means = [f[(f.agent == "popularity") & (f.selection == "best")]["reward@20"].item() for f in folds]
    cells = pd.read_csv(tmp_path / "cv" / "sessions.csv").set_index("agent")
    assert cells.loc["popularity", "reward@20"] == pytest.approx(np.mean(fold_means))  # the mean of the folds' points
    assert "over 3 session folds" in (tmp_path / "cv" / "results.md").read_text()
    assert "within each of 3 session folds" in (tmp_path / "cv" / "results.md").read_text()
    again = recgym.benchmark.write_report(tmp_path / "cv")  # recgym report DIR on the pooled folder
    pd.testing.assert_frame_equal(again.table, result.table)
    with pytest.raises(RecgymError, match=r"^splits must be a finite integer >= 1, got 0$"):
        run_benchmark("synthetic", ["sasrec"], out=tmp_path / "bad", splits=0, **settings, **options)
    with pytest.raises(RecgymError, match="give the dataset by name or path"):
        run_benchmark(every, ["sasrec"], out=tmp_path / "bad", splits=2, **settings)
    with pytest.raises(RecgymError, match="drop n_folds"):
        run_benchmark("synthetic", ["sasrec"], out=tmp_path / "bad", splits=2, n_folds=2, **settings, **options)
    assert not (tmp_path / "bad").exists()
    common = ["--dataset", "synthetic", "-o", "n_sessions=300", "-o", "n_items=50", "--data-dir", str(tmp_path / "data"),
              "--agents", "popularity", "--seeds", "1", "--steps", "1", "--eval-every", "1", "--splits", "2"]  # fmt: skip
    assert main(["-q", "benchmark", *common, "--out", str(tmp_path / "cli")]) == 0
    assert "over 2 session folds" in capsys.readouterr().out
