"""Tests of recgym/benchmark/report.py: selection, aggregation, comparison and their Markdown as pure functions."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from recgym.benchmark.report import (
    aggregate,
    compare,
    format_comparison,
    format_dynamics,
    format_markdown,
    metric_label,
    select_steps,
    summarize_run,
    table_metrics,
    training_dynamics,
    val_metrics,
)


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


def test_aggregate_equals_numpy_mean_std_and_t_interval():
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
            half = stats.t.ppf(0.975, 3) * np.std(values, ddof=1) / 2  # t interval of 4 seeds
            assert (row[f"{m}_ci_low"], row[f"{m}_ci_high"]) == pytest.approx(
                (values.mean() - half, values.mean() + half)
            )


def test_training_dynamics_reads_peak_and_change_off_the_seed_mean_curve():
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
    # each seed of a: 0.2 - 0.4 and 0.4 - 0.6, both -0.2 (zero spread); b's one seed ends at its peak
    assert (a.n_seeds, a.seed_change, a.seed_change_low, a.seed_change_high) == pytest.approx((2, -0.2, -0.2, -0.2))
    assert (b.n_seeds, b.seed_change) == (1, 0.0) and np.isnan(b.seed_change_low)
    text = format_dynamics(dynamics)
    assert "| a | Click HR@20 | 0.5000 (20) | 0.3000 (30) | -0.2000 | -0.2000 [-0.2000, -0.2000] | 2 |" in text
    assert "| b | Click HR@20 | 0.3000 (30) | 0.3000 (30) | +0.0000 | +0.0000 | 1 |" in text


def test_per_seed_change_interval_is_the_t_interval_of_each_seeds_own_decline():
    # three seeds peak at different steps: declines -0.3, -0.1, -0.2 from their own peaks
    curves = pd.DataFrame({
        "agent": ["a"] * 9, "seed": [0, 0, 0, 1, 1, 1, 2, 2, 2], "step": [30, 10, 20] * 3,
        "reward@20": [0.2, 0.5, 0.3, 0.5, 0.2, 0.6, 0.4, 0.1, 0.6],
    })  # fmt: skip
    row = training_dynamics(curves, ["reward@20"]).iloc[0]
    declines = np.array([0.2 - 0.5, 0.5 - 0.6, 0.4 - 0.6])
    half = stats.t.ppf(0.975, 2) * declines.std(ddof=1) / np.sqrt(3)
    assert row.seed_change == pytest.approx(declines.mean())
    assert (row.seed_change_low, row.seed_change_high) == pytest.approx(
        (declines.mean() - half, declines.mean() + half)
    )


def test_aggregate_one_seed_has_nan_interval_and_markdown_shows_mean_only():
    runs = pd.DataFrame([{"agent": "x", "seed": 0, "selection": "best", "reward@20": 12.5}])
    table = aggregate(runs, ["reward@20"])
    assert math.isnan(table.loc[0, "reward@20_std"]) and math.isnan(table.loc[0, "reward@20_ci_low"])
    assert "| x | 1 | 12.5 |" in format_markdown(table, ["reward@20"], "# h")


def test_markdown_cells_are_mean_and_interval_with_readable_headers():
    runs = pd.DataFrame(
        [{"agent": "x", "seed": s, "selection": "best", "purchase/hr@5": v} for s, v in enumerate([0.2, 0.4])]
    )
    text = format_markdown(aggregate(runs, ["purchase/hr@5"]), ["purchase/hr@5"], "# h")
    half = stats.t.ppf(0.975, 1) * np.std([0.2, 0.4], ddof=1) / math.sqrt(2)
    assert f"| x | 2 | 0.3000 [{0.3 - half:.4f}, {0.3 + half:.4f}] |" in text
    assert "| agent | seeds | Purchase HR@5 |" in text and "## Selection: best" in text


def test_compare_is_welch_against_the_baseline_per_selection_and_metric():
    values = {"ref": [0.30, 0.31, 0.29], "new": [0.40, 0.42, 0.41], "same": [0.30, 0.29, 0.31]}
    runs = pd.DataFrame(
        [{"agent": a, "seed": s, "selection": sel, "m": v} for a, vs in values.items() for s, v in enumerate(vs)
         for sel in ("best", "top5")]
    )  # fmt: skip
    table = compare(runs, ["m"], "ref")
    assert sorted(set(table["agent"])) == ["new", "same"] and len(table) == 4
    new = table[(table.agent == "new") & (table.selection == "best")].iloc[0]
    expected = stats.ttest_ind(values["new"], values["ref"], equal_var=False)
    assert new["difference"] == pytest.approx(np.mean(values["new"]) - np.mean(values["ref"]))
    assert new["p_value"] == pytest.approx(expected.pvalue) and bool(new["significant"])
    same = table[(table.agent == "same") & (table.selection == "top5")].iloc[0]
    assert not same["significant"] and same["p_value"] == pytest.approx(1.0)
    # each selection's table is one family of 2 comparisons: Holm doubles the smaller p, keeps the larger (capped)
    assert new["p_holm"] == pytest.approx(min(1.0, 2 * expected.pvalue))
    assert table[(table.agent == "same") & (table.selection == "best")].iloc[0]["p_holm"] == pytest.approx(1.0)
    text = format_comparison(table, ["m"], "ref")
    assert "## Against ref" in text and f"p={expected.pvalue:.2g} (Holm {2 * expected.pvalue:.2g}) *" in text
    assert compare(runs, ["m"], None).empty


def test_metric_labels_are_readable():
    assert metric_label("purchase/hr@20") == "Purchase HR@20"
    assert metric_label("click/ndcg@5") == "Click NDCG@5"
    assert metric_label("reward@10") == "Reward@10"
    assert metric_label("train/q_logged_mean") == "q_logged_mean (train)"


def test_table_metrics_follow_the_paper_order():
    assert table_metrics((20, 5, 10)) == [
        "reward@20",
        "purchase/hr@5", "purchase/ndcg@5", "purchase/hr@10", "purchase/ndcg@10",
        "purchase/hr@20", "purchase/ndcg@20",
        "click/hr@5", "click/ndcg@5", "click/hr@10", "click/ndcg@10", "click/hr@20", "click/ndcg@20",
    ]  # fmt: skip
    assert set(table_metrics((5, 10, 20))) <= set(val_metrics((5, 10, 20)))
