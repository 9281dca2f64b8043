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
