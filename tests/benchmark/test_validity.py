"""Tests of recgym/benchmark/validity.py against hand-computed rank correlations and selections."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recgym.benchmark.specs import BenchmarkError
from recgym.benchmark.validity import (
    checkpoint_table,
    folders_leaderboard,
    format_folders_leaderboard,
    format_validity,
    leaderboard,
    rank_agreement,
    selection_regret,
    validity_tables,
    within_run_agreement,
)
from recgym.cli import main


def test_rank_agreement_equals_hand_counts():
    # pairs of (1,2,3,4) against (1,2,4,3): 5 concordant, 1 discordant -> tau = 4/6; rank differences 0,0,1,1 ->
    # rho = 1 - 6 * 2 / (4 * (16 - 1)) = 0.8
    tau, rho = rank_agreement([1, 2, 3, 4], [1, 2, 4, 3])
    assert tau == pytest.approx(4 / 6) and rho == pytest.approx(0.8)
    assert rank_agreement([4, 3, 2, 1], [1, 2, 3, 4]) == pytest.approx((-1.0, -1.0))
    assert all(math.isnan(v) for v in rank_agreement([1, 1, 1], [1, 2, 3]))  # constant side
    assert all(math.isnan(v) for v in rank_agreement([1, 2], [1, 2]))  # fewer than 3 pairs


def test_leaderboard_by_hand_and_its_bootstrap_by_brute_force():
    # truth 1,2,3,4; "good" ranks them right, "swapped" swaps the top two (tau 4/6), "flat" ties everything
    points = pd.DataFrame({"truth": [1.0, 2.0, 3.0, 4.0], "good": [0.1, 0.2, 0.3, 0.4],
                           "swapped": [1.0, 2.0, 4.0, 3.0], "flat": [5.0, 5.0, 5.0, 5.0]})  # fmt: skip
    board = leaderboard(points, ["good", "swapped", "flat"], "truth", n_resamples=300, seed=3).set_index("quantity")
    assert board.loc["good", "kendall_tau"] == pytest.approx(1.0) and board.loc["good", "top1"]
    assert board.loc["good", "relative_regret"] == 0.0
    assert board.loc["swapped", "kendall_tau"] == pytest.approx(4 / 6) and not board.loc["swapped", "top1"]
    assert board.loc["swapped", "relative_regret"] == pytest.approx((4 - 3) / 4)
    assert math.isnan(board.loc["flat", "kendall_tau"])  # a constant quantity ranks nothing
    assert board.loc["flat", "relative_regret"] == pytest.approx(3 / 4)  # its first (ties: the first row) earns 1
    # the interval: the same resamples of policies, recomputed by hand
    rng = np.random.default_rng(3)
    draws = rng.integers(0, 4, size=(300, 4))
    taus = [rank_agreement(points["swapped"].to_numpy()[rows], points["truth"].to_numpy()[rows])[0] for rows in draws]
    assert board.loc["swapped", "kendall_tau_low"] == pytest.approx(np.nanquantile(taus, 0.025))
    assert board.loc["swapped", "kendall_tau_high"] == pytest.approx(np.nanquantile(taus, 0.975))
    tops = [points["truth"].to_numpy()[rows][np.argmax(points["swapped"].to_numpy()[rows])]
            == points["truth"].to_numpy()[rows].max() for rows in draws]  # fmt: skip
    assert board.loc["swapped", "top1_share"] == pytest.approx(np.mean(tops))


def test_leaderboard_resamples_whole_agents():
    """With ``clusters``, a resample draws agents and keeps all their runs: the interval equals a loop doing that."""
    points = pd.DataFrame({"agent": ["a", "a", "b", "b", "c", "c", "d"], "truth": [1.0, 1.2, 2.0, 2.1, 3.0, 2.9, 0.5],
                           "metric": [0.1, 0.3, 0.2, 0.5, 0.4, 0.6, 0.0]})  # fmt: skip
    board = leaderboard(points, ["metric"], "truth", clusters="agent", n_resamples=200, seed=5).iloc[0]
    assert (board["n_rows"], board["n_clusters"]) == (7, 4)
    assert board["kendall_tau"] == pytest.approx(rank_agreement(points["metric"], points["truth"])[0])
    rng = np.random.default_rng(5)
    draws = rng.integers(0, 4, size=(200, 4))
    groups = [np.array([0, 1]), np.array([2, 3]), np.array([4, 5]), np.array([6])]
    taus = []
    for draw in draws:
        rows = np.concatenate([groups[g] for g in draw])
        taus.append(rank_agreement(points["metric"].to_numpy()[rows], points["truth"].to_numpy()[rows])[0])
    assert board["kendall_tau_low"] == pytest.approx(np.nanquantile(taus, 0.025))
    assert board["kendall_tau_high"] == pytest.approx(np.nanquantile(taus, 0.975))
    # the run ranked first by the metric (c, 0.6) earns 2.9; the best run earns 3.0
    assert board["relative_regret"] == pytest.approx((3.0 - 2.9) / 3.0) and not board["top1"]


def _checkpoints() -> pd.DataFrame:
    rows = []
    runs = {  # (val metric, val online, test online) per step 1..3
        ("a", 0): ([0.1, 0.3, 0.2], [1.0, 1.1, 1.2], [1.0, 1.2, 1.5]),
        ("b", 0): ([0.5, 0.5, 0.1], [3.0, 2.0, 1.0], [2.0, 1.0, 1.0]),
    }
    for (agent, seed), (metric, val_online, test_online) in runs.items():
        for step, values in enumerate(zip(metric, val_online, test_online), start=1):
            rows.append({"agent": agent, "seed": seed, "step": step, "trained": True, "val/m": values[0],
                         "val/online/return": values[1], "test/online/return": values[2]})  # fmt: skip
    rows.append({"agent": "popularity", "seed": 0, "step": 0, "trained": False, "val/m": 9.0,
                 "val/online/return": 0.0, "test/online/return": 0.0})  # fmt: skip
    return pd.DataFrame(rows)


def test_selection_regret_by_hand():
    table = selection_regret(_checkpoints(), ["m"]).set_index("criterion")
    # run a selects step 2 (test 1.2, best 1.5): regret 0.3; run b's tie selects step 1 (2.0, the best): regret 0
    assert table.loc["m", "mean_regret"] == pytest.approx(0.15)
    assert table.loc["m", "max_regret"] == pytest.approx(0.3)
    assert table.loc["m", "best_share"] == 0.5 and table.loc["m", "n_runs"] == 2  # the baseline is not a run
    assert table.loc["m", "online_return"] == pytest.approx((1.2 + 2.0) / 2)
    # the last checkpoint: a's is its best, b's loses 1.0
    assert table.loc["final", "mean_regret"] == pytest.approx(0.5)
    assert selection_regret(_checkpoints().assign(**{"test/online/return": float("nan")}), ["m"]) is None


def test_within_run_agreement_by_hand():
    row = within_run_agreement(_checkpoints(), ["m"]).iloc[0]
    tau_a, rho_a = rank_agreement([0.1, 0.3, 0.2], [1.0, 1.1, 1.2])  # (1/3, 1/2): one of three pairs discordant
    tau_b, rho_b = rank_agreement([0.5, 0.5, 0.1], [3.0, 2.0, 1.0])
    assert tau_a == pytest.approx(1 / 3) and rho_a == pytest.approx(0.5)
    assert row["mean_kendall_tau"] == pytest.approx((tau_a + tau_b) / 2)
    assert row["mean_spearman_rho"] == pytest.approx((rho_a + rho_b) / 2)
    assert row["positive_share"] == 1.0 and row["n_runs"] == 2


def _result(agent: str, seed: int, curve: list[dict], test: dict) -> dict:
    best = test[max(test, key=lambda step: next(p["m"] for p in curve if str(p["step"]) == step))]
    return {"agent": agent, "seed": seed, "curve": curve, "test": test, "selections": {"best": best}}


def test_validity_tables_from_run_results():
    results = [
        _result("x", seed, [{"step": s, "epoch": s, "m": m, "online/return": r} for s, m, r in curve],
                {str(s): {"m": m, "online/return": r} for s, m, r in test})  # fmt: skip
        for seed, curve, test in (
            (0, [(1, 0.1, 1.0), (2, 0.2, 1.5), (3, 0.3, 2.0)], [(1, 0.1, 1.1), (2, 0.2, 1.4), (3, 0.3, 2.1)]),
            (1, [(1, 0.3, 1.0), (2, 0.2, 1.5), (3, 0.1, 2.0)], [(1, 0.4, 1.2), (2, 0.2, 1.3), (3, 0.1, 1.9)]),
        )
    ] + [_result("popularity", 0, [{"step": 0, "epoch": 0, "m": 0.05, "online/return": 0.5}],
                 {"0": {"m": 0.05, "online/return": 0.6}})]  # fmt: skip
    checkpoints = checkpoint_table(results)
    assert checkpoints.loc[(checkpoints.seed == 1) & (checkpoints.step == 2), "test/m"].item() == 0.2
    tables = validity_tables(results, ["m", "purchase/hr@20"], baselines=["popularity"])
    assert list(tables.across["metric"]) == ["m"]  # a metric without any value (a clicks-only log) is left out
    # best checkpoints: seed 0 step 3 (0.3, 2.1), seed 1 step 1 (0.4, 1.2), popularity (0.05, 0.6)
    assert tables.points[["m", "online/return"]].values.tolist() == [[0.3, 2.1], [0.4, 1.2], [0.05, 0.6]]
    across = tables.across.iloc[0]
    assert across["kendall_tau"] == pytest.approx(1 / 3) and across["n_runs"] == 3 and across["n_agents"] == 2
    assert math.isnan(across["agents_kendall_tau"])  # two agents: no rank correlation
    assert math.isnan(across["trained_kendall_tau"]) and across["n_trained_runs"] == 2  # the baseline left out
    selection = tables.selection.set_index("criterion")
    assert selection.loc["m", "mean_regret"] == pytest.approx((0 + 0.7) / 2)  # seed 1's val pick is its worst online
    assert selection.loc["online/return", "mean_regret"] == pytest.approx(0)
    text = format_validity(tables)
    assert "| m | +0.33 | +0.50 | – |" in text and "| last checkpoint | 2.000 | 0.000 |" in text


RESULTS = Path(__file__).resolve().parents[2] / "docs" / "results"


def test_recgym_validity_recomputes_the_committed_leaderboards(capsys):
    folders = [RESULTS / "ope-agents-myopic", RESULTS / "fitted-rc15-clicks"]
    board = folders_leaderboard(folders, n_resamples=20)  # the point values do not depend on the resamples
    for folder in folders:
        committed = pd.read_csv(folder / "validity_leaderboard.csv").set_index("quantity")
        mine = board[board.folder == str(folder)].set_index("quantity")
        assert list(mine.index) == list(committed.index)
        np.testing.assert_allclose(mine["kendall_tau"], committed["kendall_tau"])
        np.testing.assert_allclose(mine["relative_regret"], committed["relative_regret"])
    assert "| IIPS | +0.72 [" in format_folders_leaderboard(board)
    assert "] | – |" in format_folders_leaderboard(board)  # the RC15 sample's log has no propensities
    with pytest.raises(BenchmarkError, match="were not evaluated online"):
        folders_leaderboard([RESULTS / "knn-synthetic"])
    assert main(["validity", str(folders[1]), "--resamples", "20"]) == 0
    assert "| Click NDCG@20 | +0.35 [" in capsys.readouterr().out
    assert main(["validity", str(folders[1]), "--resamples", "0"]) == 2
    assert "n_resamples must be a finite integer >= 1, got 0" in capsys.readouterr().err
    assert main(["validity", str(RESULTS)]) == 2
    assert "not a benchmark folder" in capsys.readouterr().err


def test_fqe_of_each_runs_policy_is_ranked_over_every_run_but_the_oracles(one_thread, tmp_path, monkeypatch, capsys):
    import json

    from recgym import load_dataset
    from recgym.benchmark import run_benchmark, validity
    from recgym.evaluation import PopularityPolicy, fqe
    from recgym.saving import load_model

    data = {"n_sessions": 300, "n_items": 50}
    out, data_dir = tmp_path / "out", tmp_path / "data"
    run_benchmark(
        "synthetic", ["sasrec", "sqn", "popularity", "oracle"], seeds=2, steps=2, eval_every=1, top_n_checkpoints=1, online=30,
        progress=False, out=out, agent_options={"hidden_size": 8, "batch_size": 16}, data_dir=data_dir, **data,
    )  # fmt: skip
    estimates = validity.run_fqe(out, n_steps=3, data_dir=data_dir)
    assert sorted(zip(estimates["agent"], estimates["seed"])) == [
        ("popularity", 0), ("popularity", 1), ("sasrec", 0), ("sasrec", 1), ("sqn", 0), ("sqn", 1)
    ]  # fmt: skip
    result = json.loads((out / "runs/sqn/seed1/result.json").read_text())
    model = load_model(out / f"runs/sqn/seed1/checkpoints/step{result['selected_steps'][0]}.pt")
    dataset = load_dataset("synthetic", data_dir=data_dir, **data)
    for run, policy in ((("sqn", 1), model), (("popularity", 0), PopularityPolicy(dataset))):
        direct = fqe(policy, dataset, split="val", n_steps=3)
        row = estimates.set_index(["agent", "seed"]).loc[run]
        assert (row["fqe"], row["fqe_low"], row["fqe_high"]) == (direct.value, direct.low, direct.high)

    def no_refit(*args, **kwargs):
        raise AssertionError("the kept estimate is reused")

    monkeypatch.setattr(validity, "fqe", no_refit)
    pd.testing.assert_frame_equal(validity.run_fqe(out, n_steps=3, data_dir=data_dir), estimates)
    board = validity.folders_leaderboard([out], n_resamples=20, fqe_steps=3, data_dir=data_dir)
    assert "fqe" in set(board["quantity"]) and (board["n_rows"] == 6).all() and (board["n_clusters"] == 3).all()
    monkeypatch.undo()
    assert main(["validity", str(out), "--fqe", "3", "--data-dir", str(data_dir), "--resamples", "20"]) == 0
    assert "| FQE | " in capsys.readouterr().out
    monkeypatch.setattr(validity, "fqe", no_refit)
    with pytest.raises(AssertionError, match="reused"):  # other settings: fitted again
        validity.run_fqe(out, n_steps=4, data_dir=data_dir)
