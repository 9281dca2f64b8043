"""Tables of a benchmark: checkpoint selection, per-seed rows, the aggregate with intervals, the comparison against a
reference agent, the training dynamics, and their Markdown."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from recgym.benchmark.stats import bootstrap_p_value, holm, mean_interval, session_bootstrap, welch_difference
from recgym.evaluation.metrics import metrics_from_parts

__all__ = [
    "aggregate",
    "compare",
    "curves_table",
    "format_comparison",
    "format_dynamics",
    "format_markdown",
    "format_session_tables",
    "OPE_METRICS",
    "metric_label",
    "offline_metrics",
    "runs_table",
    "select_steps",
    "selection_names",
    "session_tables",
    "summarize_run",
    "table_metrics",
    "training_dynamics",
    "val_metrics",
]

_EVENT_NAMES = {"purchase": "Purchase", "click": "Click"}
_METRIC_NAMES = {"hr": "HR", "ndcg": "NDCG"}


def metric_label(metric: str) -> str:
    """Readable name of a metric key: ``purchase/hr@20`` -> ``Purchase HR@20``, ``reward@20`` -> ``Reward@20``,
    ``ope/iips`` -> ``IIPS``; training logs ``train/q_logged_mean`` -> ``q_logged_mean (train)``."""
    if metric.startswith("train/"):
        return f"{metric.partition('/')[2]} (train)"
    if metric == "q_bias":
        return "Q bias (val)"
    if metric.startswith("online/"):
        return "Online " + metric.partition("/")[2].replace("_", " ")
    if metric.startswith("reward@"):
        return "Reward@" + metric.partition("@")[2]
    if metric in ("ope/iips", "ope/rips", "fqe"):
        return {"ope/iips": "IIPS", "ope/rips": "Cascade IPS", "fqe": "FQE"}[metric]
    event, _, rest = metric.partition("/")
    name, _, k = rest.partition("@")
    if event in _EVENT_NAMES and name in _METRIC_NAMES:
        return f"{_EVENT_NAMES[event]} {_METRIC_NAMES[name]}@{k}"
    return metric


def select_steps(curve: pd.DataFrame, metric: str, n: int) -> list[int]:
    """Steps of the ``n`` best eval points of one run on ``metric``, best first (ties: earlier step; NaN last)."""
    ranked = curve.sort_values([metric, "step"], ascending=[False, True], kind="mergesort", na_position="last")
    return [int(step) for step in ranked["step"].head(n)]


def selection_names(top_n: int) -> tuple[str, str]:
    """Names of the two selections: the single best checkpoint and the mean of the ``top_n`` best."""
    return "best", f"top{top_n}"


def summarize_run(
    test: Mapping[int, Mapping[str, float]], ranked_steps: Sequence[int], top_n: int
) -> dict[str, dict[str, float]]:
    """Test metrics per selection: the best val checkpoint's, and the mean over the first ``top_n`` ranked steps."""
    best, top = selection_names(top_n)
    chosen = [test[step] for step in ranked_steps[:top_n]]
    return {
        best: dict(test[ranked_steps[0]]),
        top: {key: float(np.mean([metrics[key] for metrics in chosen])) for key in chosen[0]},
    }


def val_metrics(ks: Sequence[int]) -> list[str]:
    """Every ranking metric ``recgym.evaluate`` reports for ``ks``: Reward@k, then HR/NDCG@k per event type."""
    return [f"reward@{k}" for k in sorted(ks)] + [
        f"{event}/{name}@{k}" for event in ("purchase", "click") for k in sorted(ks) for name in ("hr", "ndcg")
    ]


def table_metrics(ks: Sequence[int]) -> list[str]:
    """Columns of the results table, in the paper's order: Reward@max k, purchase HR/NDCG@k, click HR/NDCG@k."""
    return [f"reward@{max(ks)}"] + [m for m in val_metrics(ks) if not m.startswith("reward@")]


OPE_METRICS = ("ope/iips", "ope/rips")
"""On a recommender's slate log: off-policy estimates of the policy's slates (:func:`recgym.evaluate`)."""


def offline_metrics(config: Mapping[str, Any]) -> list[str]:
    """The offline columns of a results folder's tables: :func:`table_metrics`, and the estimates on a slate log."""
    on_slate_log = "logger" in config["dataset"]["stats"]
    return table_metrics(config["ks"]) + (list(OPE_METRICS) if on_slate_log else [])


def runs_table(results: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per agent / seed / selection from run result dicts (``result.json``)."""
    rows = [
        {"agent": r["agent"], "seed": r["seed"], "selection": name, **metrics}
        for r in results
        for name, metrics in r["selections"].items()
    ]
    return pd.DataFrame(rows)


def curves_table(results: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """All runs' val curves, one row per agent / seed / eval step."""
    rows = [{"agent": r["agent"], "seed": r["seed"], **row} for r in results for row in r["curve"]]
    return pd.DataFrame(rows)


def aggregate(runs: pd.DataFrame, metrics: Sequence[str], confidence: float = 0.95) -> pd.DataFrame:
    """Per agent and selection: the mean of each metric over seeds, its sample std and its t interval.

    Columns: agent, selection, n_seeds, then ``<metric>``, ``<metric>_std``, ``<metric>_ci_low``,
    ``<metric>_ci_high`` for each metric (:func:`recgym.benchmark.stats.mean_interval`).
    """
    rows = []
    for (agent, selection), group in runs.groupby(["agent", "selection"], sort=False):
        row: dict[str, Any] = {"agent": agent, "selection": selection, "n_seeds": len(group)}
        for metric in metrics:
            interval = mean_interval(group[metric].to_numpy(), confidence)
            std = float(group[metric].std(ddof=1)) if len(group) > 1 else float("nan")
            row.update({
                metric: interval.estimate, f"{metric}_std": std,
                f"{metric}_ci_low": interval.low, f"{metric}_ci_high": interval.high,
            })  # fmt: skip
        rows.append(row)
    return pd.DataFrame(rows)


def compare(runs: pd.DataFrame, metrics: Sequence[str], baseline: str | None, confidence: float = 0.95) -> pd.DataFrame:
    """Every other agent against ``baseline`` per selection and metric: Welch difference, interval, p-value.

    Columns: agent, selection, metric, difference, ci_low, ci_high, p_value, significant (the interval excludes 0),
    p_holm (Holm-adjusted over the selection's table: all agents and metrics); no rows when ``baseline`` is None.
    """
    rows = []
    for selection, group in runs.groupby("selection", sort=False) if baseline is not None else ():
        reference = group[group["agent"] == baseline]
        for agent, rows_of_agent in group.groupby("agent", sort=False):
            if agent == baseline:
                continue
            for metric in metrics:
                d = welch_difference(rows_of_agent[metric].to_numpy(), reference[metric].to_numpy(), confidence)
                rows.append({
                    "agent": agent, "selection": selection, "metric": metric, "difference": d.estimate,
                    "ci_low": d.low, "ci_high": d.high, "p_value": d.p_value, "significant": d.significant,
                })  # fmt: skip
    columns = ["agent", "selection", "metric", "difference", "ci_low", "ci_high", "p_value", "significant"]
    table = pd.DataFrame(rows, columns=columns)
    table["p_holm"] = np.nan  # each selection's table is one family: every agent against the baseline on every metric
    for _, family in table.groupby("selection", sort=False):
        table.loc[family.index, "p_holm"] = holm(family["p_value"].to_numpy())
    return table


DYNAMICS_COLUMNS = (
    "agent", "metric", "peak", "peak_step", "final", "final_step", "change",
    "n_seeds", "seed_change", "seed_change_low", "seed_change_high",
)  # fmt: skip


def training_dynamics(curves: pd.DataFrame, metrics: Sequence[str]) -> pd.DataFrame:
    """Per agent and val metric, on the curve averaged over seeds: the peak and its step, the final value, the change;
    and the change of each seed's own curve (its final − its own peak) with its mean and 95% t interval over seeds.

    The paper asks for training dynamics beside the table: a method that peaks early and then degrades shows a
    large negative ``change`` (final − peak) even when its best checkpoint looks good; the per-seed interval says
    whether the decline is more than seed noise. Metrics without values are skipped.
    Columns: agent, metric, peak, peak_step, final, final_step, change, n_seeds, seed_change, seed_change_low,
    seed_change_high.
    """
    rows = []
    for agent, curve in curves.groupby("agent", sort=False):
        mean_curve = curve.groupby("step")[list(metrics)].mean()
        for metric in metrics:
            values = mean_curve[metric].dropna()
            if values.empty:
                continue
            peak, final = float(values.max()), float(values.iloc[-1])
            seed_changes = [
                float(seed_values.iloc[-1] - seed_values.max())
                for _, seed_curve in curve.groupby("seed")
                if not (seed_values := seed_curve.sort_values("step")[metric].dropna()).empty
            ]
            interval = mean_interval(seed_changes)
            rows.append({
                "agent": agent, "metric": metric, "peak": peak, "peak_step": int(values.idxmax()),
                "final": final, "final_step": int(values.index[-1]), "change": final - peak,
                "n_seeds": len(seed_changes), "seed_change": interval.estimate, "seed_change_low": interval.low,
                "seed_change_high": interval.high,
            })  # fmt: skip
    return pd.DataFrame(rows, columns=list(DYNAMICS_COLUMNS))


def _digits(metric: str) -> int:
    return 1 if metric.startswith("reward") else 3 if metric.startswith("online/") else 4


def format_dynamics(dynamics: pd.DataFrame) -> str:
    """The ``results.md`` section of :func:`training_dynamics`: one row per agent and metric."""
    lines = [
        "## Training dynamics on val (mean over seeds)",
        "",
        "Peak, final and final − peak of the seed-mean curve; then each seed's final − its own peak, mean [95% CI].",
        "",
        "| agent | metric | peak (step) | final (step) | final − peak | per seed: final − peak | seeds |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in dynamics.itertuples():
        digits = _digits(row.metric)
        per_seed = _format_interval(row.seed_change, row.seed_change_low, row.seed_change_high, digits, "+")
        lines.append(
            f"| {row.agent} | {metric_label(row.metric)} | {row.peak:.{digits}f} ({row.peak_step}) | "
            f"{row.final:.{digits}f} ({row.final_step}) | {row.change:+.{digits}f} | {per_seed} | {row.n_seeds} |"
        )
    return "\n".join([*lines, ""])


def _format_interval(mean: float, low: float, high: float, digits: int, sign: str = "") -> str:
    if np.isnan(mean):
        return "–"
    if np.isnan(low):
        return f"{mean:{sign}.{digits}f}"
    return f"{mean:{sign}.{digits}f} [{low:{sign}.{digits}f}, {high:{sign}.{digits}f}]"


def format_markdown(table: pd.DataFrame, metrics: Sequence[str], header: str) -> str:
    """``results.md``: one "mean [95% CI]" table per selection, agents as rows."""
    lines = [header, ""]
    for selection, rows in table.groupby("selection", sort=False):
        lines += [f"## Selection: {selection}", ""]
        lines.append("| agent | seeds | " + " | ".join(metric_label(m) for m in metrics) + " |")
        lines.append("|---" * (len(metrics) + 2) + "|")
        for _, row in rows.iterrows():
            cells = [_format_interval(row[m], row[f"{m}_ci_low"], row[f"{m}_ci_high"], _digits(m)) for m in metrics]
            lines.append(f"| {row['agent']} | {row['n_seeds']} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def format_comparison(comparison: pd.DataFrame, metrics: Sequence[str], baseline: str) -> str:
    """The ``results.md`` section of :func:`compare`: difference [95% CI] and p per agent, * where the CI excludes 0."""
    lines = [
        f"## Against {baseline} (difference of means [95% Welch CI], Welch's t-test p; * = CI excludes 0)",
        "",
        "Holm: the p-value adjusted for every comparison of its selection's table (all agents, all metrics); the "
        "intervals and * are not adjusted. They cover seed noise only, not test-sample noise.",
        "",
    ]
    for selection, group in comparison.groupby("selection", sort=False):
        lines += [f"### Selection: {selection}", ""]
        lines.append("| agent | " + " | ".join(metric_label(m) for m in metrics) + " |")
        lines.append("|---" * (len(metrics) + 1) + "|")
        for agent, rows in group.groupby("agent", sort=False):
            by_metric = rows.set_index("metric")
            cells = []
            for m in metrics:
                r = by_metric.loc[m]
                cell = _format_interval(r["difference"], r["ci_low"], r["ci_high"], _digits(m), sign="+")
                p = "" if np.isnan(r["p_value"]) else f" p={r['p_value']:.2g} (Holm {r['p_holm']:.2g})"
                cells.append(cell + p + (" *" if r["significant"] else ""))
            lines.append(f"| {agent} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


SESSION_RESAMPLES = 2000
"""Replicates of the session bootstrap of :func:`session_tables` (seeded: the same folder gives the same tables)."""


def session_tables(
    folds: Sequence[Mapping[str, Sequence[np.ndarray]]], ks: Sequence[int], metrics: Sequence[str], baseline: str | None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ``best`` selection's test metrics with intervals over seeds *and* test sessions, and the differences from
    ``baseline`` paired over sessions (:func:`recgym.benchmark.stats.session_bootstrap`, 95% percentile intervals).

    ``folds``: per session fold (one for a single split), ``{agent: each run's per-session sums of its best
    checkpoint}`` (``test_sessions.npz``). Each fold is bootstrapped on its own (seeded by its index) and the
    replicates are averaged over folds (stratified by fold). The point estimate is the mean over folds of the mean
    over runs of the whole test split's metric (``results.csv``'s ``best`` mean for one split). Returns the cell
    table (agent, n_runs, then ``<metric>``, ``_ci_low``, ``_ci_high``) and the comparison (agent, metric,
    difference, ci_low, ci_high, relative (difference / the baseline's value), p_value, p_holm over the table).
    """
    point, replicates = _session_replicates(folds, ks, metrics)
    cells = []
    for agent, values in replicates.items():
        low, high = np.nanpercentile(values, [2.5, 97.5], axis=0)
        row: dict[str, Any] = {"agent": agent, "n_runs": sum(len(parts[agent]) for parts in folds)}
        for index, metric in enumerate(metrics):
            row.update({metric: point[agent][index], f"{metric}_ci_low": low[index], f"{metric}_ci_high": high[index]})
        cells.append(row)
    pairs = [] if baseline is None or baseline not in replicates else [(a, baseline) for a in point if a != baseline]
    columns = ["agent", "metric", "difference", "ci_low", "ci_high", "relative", "p_value"]
    comparison = pd.DataFrame(_paired_rows(replicates, point, pairs, metrics), columns=columns)
    comparison["p_holm"] = holm(comparison["p_value"].to_numpy())
    return pd.DataFrame(cells), comparison


def ablation_steps(
    folds: Sequence[Mapping[str, Sequence[np.ndarray]]],
    ks: Sequence[int],
    metrics: Sequence[str],
    pairs: Sequence[tuple[str, str]],
) -> pd.DataFrame:
    """Each (row, the row it is read against) of an ablation: the difference of the ``best`` selection's test metrics,
    paired over test sessions by the bootstrap of :func:`session_tables` (same replicates). Columns: agent, against,
    metric, difference, ci_low, ci_high, relative, p_value, p_holm (over the table)."""
    point, replicates = _session_replicates(folds, ks, metrics)
    columns = ["agent", "against", "metric", "difference", "ci_low", "ci_high", "relative", "p_value"]
    present = [(agent, against) for agent, against in pairs if agent in point and against in point]
    steps = pd.DataFrame(_paired_rows(replicates, point, present, metrics), columns=columns)
    steps["p_holm"] = holm(steps["p_value"].to_numpy())
    return steps


def _session_replicates(
    folds: Sequence[Mapping[str, Sequence[np.ndarray]]], ks: Sequence[int], metrics: Sequence[str]
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Each agent's point estimate of ``metrics`` and its bootstrap replicates averaged over folds (module doc of
    :func:`session_tables`)."""
    ks = tuple(sorted(int(k) for k in ks))

    def statistic(summed: np.ndarray) -> np.ndarray:
        computed = metrics_from_parts(summed, ks)
        return np.stack([computed[m] for m in metrics], axis=-1)

    agents = list(folds[0])
    if any(list(parts) != agents for parts in folds):
        raise ValueError("every fold must hold runs of the same agents")
    point = {
        agent: np.mean([np.mean([statistic(p.sum(axis=0)) for p in parts[agent]], axis=0) for parts in folds], axis=0)
        for agent in agents
    }
    per_fold = [session_bootstrap(parts, statistic, n_resamples=SESSION_RESAMPLES, seed=index)
                for index, parts in enumerate(folds)]  # fmt: skip
    replicates = {agent: np.mean([fold[agent] for fold in per_fold], axis=0) for agent in agents}
    return point, replicates


def _paired_rows(
    replicates: Mapping[str, np.ndarray],
    point: Mapping[str, np.ndarray],
    pairs: Sequence[tuple[str, str]],
    metrics: Sequence[str],
) -> list[dict[str, Any]]:
    """``agent`` minus ``against`` for each pair, per metric, from replicates that share their session draws."""
    rows = []
    for agent, baseline in pairs:
        values = replicates[agent]
        differences = values - replicates[baseline]
        low, high = np.nanpercentile(differences, [2.5, 97.5], axis=0)
        p_values = bootstrap_p_value(differences)
        for index, metric in enumerate(metrics):
            difference, reference = point[agent][index] - point[baseline][index], point[baseline][index]
            rows.append({
                "agent": agent, "against": baseline, "metric": metric, "difference": difference, "ci_low": low[index],
                "ci_high": high[index], "relative": difference / reference if reference else np.nan,
                "p_value": p_values[index],
            })  # fmt: skip
    return rows


def config_changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """``"key: old -> new"`` for each flattened key (``a.b.c``) on which two config dicts differ, sorted."""
    first, second = flatten("", before), flatten("", after)
    keys = sorted(set(first) | set(second))
    return [f"{key}: {first.get(key)} -> {second.get(key)}" for key in keys if first.get(key) != second.get(key)]


def flatten(prefix: str, value: Any) -> dict[str, Any]:
    """Nested mappings as one level of dotted keys under ``prefix`` (empty mappings and other values are leaves)."""
    if isinstance(value, Mapping) and value:
        return {
            key: item
            for name, child in value.items()
            for key, item in flatten(f"{prefix}.{name}" if prefix else str(name), child).items()
        }
    return {prefix: value}


def format_ablation(config: Mapping[str, Any], steps: pd.DataFrame | None, metrics: Sequence[str]) -> str:
    """The ``results.md`` section of an ablation folder: each row, the config fields in which it differs from the
    row it is read against, and the difference by :func:`ablation_steps` (None: runs without per-session files)."""
    ablation, agents = config["ablation"], config["agents"]
    lines = [
        f"## One-factor ablation of {ablation['agent']} (selection: best)",
        "",
        "Each row changes one thing from the row it is read against (the loss components are switched on one at a "
        f"time; each setting row puts one setting of {ablation['agent']} at {ablation['reference']}'s value). "
        "Differences [95% CI] are paired over test sessions and seeds (the hierarchical bootstrap above), with "
        "bootstrap p, Holm-adjusted over this table; * = CI excludes 0.",
        "",
        "| row | against | what changes | " + " | ".join(metric_label(m) for m in metrics) + " |",
        "|---" * (len(metrics) + 3) + "|",
    ]
    by_row = {} if steps is None else {agent: group.set_index("metric") for agent, group in steps.groupby("agent")}
    for label, against in ablation["rows"]:
        changes = (
            "the first row"
            if against is None
            else "; ".join(config_changes(agents[against].get("params", {}), agents[label].get("params", {})))
            or "nothing"
        )
        cells = []
        for metric in metrics:
            if label not in by_row:
                cells.append("")
                continue
            cells.append(_paired_cell(by_row[label].loc[metric], metric))
        lines.append(f"| {label} | {against or ''} | {changes} | " + " | ".join(cells) + " |")
    if steps is None:
        lines += ["", "(No differences: a run has no per-session test file.)"]
    return "\n".join([*lines, ""])


def format_session_tables(
    cells: pd.DataFrame, comparison: pd.DataFrame, metrics: Sequence[str], baseline: str | None, n_folds: int = 1
) -> str:
    """The ``results.md`` section of :func:`session_tables` (``n_folds``: the session folds it averages)."""
    within = f" within each of {n_folds} session folds, averaged over the folds" if n_folds > 1 else ""
    lines = [
        "## Intervals over seeds and test sessions (selection: best)",
        "",
        f"Mean over runs [95% hierarchical bootstrap interval: seeds and test sessions resampled{within}, "
        f"{SESSION_RESAMPLES} replicates]. Intervals over seeds alone cover training noise only; these also cover "
        "which sessions are in the test split.",
        "",
        "| agent | runs | " + " | ".join(metric_label(m) for m in metrics) + " |",
        "|---" * (len(metrics) + 2) + "|",
    ]
    for _, row in cells.iterrows():
        formatted = [_format_interval(row[m], row[f"{m}_ci_low"], row[f"{m}_ci_high"], _digits(m)) for m in metrics]
        lines.append(f"| {row['agent']} | {row['n_runs']} | " + " | ".join(formatted) + " |")
    lines.append("")
    if baseline is not None and len(comparison):
        lines += [
            f"### Against {baseline}, paired over test sessions (difference [95% CI], relative difference, bootstrap "
            "p, Holm-adjusted over this table; * = CI excludes 0)",
            "",
            "| agent | " + " | ".join(metric_label(m) for m in metrics) + " |",
            "|---" * (len(metrics) + 1) + "|",
        ]
        for agent, group in comparison.groupby("agent", sort=False):
            by_metric = group.set_index("metric")
            formatted = []
            formatted = [_paired_cell(by_metric.loc[m], m, relative=True) for m in metrics]
            lines.append(f"| {agent} | " + " | ".join(formatted) + " |")
        lines.append("")
    return "\n".join(lines)


def _paired_cell(row: pd.Series, metric: str, *, relative: bool = False) -> str:
    """A difference paired over test sessions as a table cell: ``+d [low, high] (relative) p=.. (Holm ..) *``."""
    cell = _format_interval(row["difference"], row["ci_low"], row["ci_high"], _digits(metric), sign="+")
    if relative and not np.isnan(row["relative"]):
        cell += f" ({row['relative']:+.1%})"
    significant = " *" if (row["ci_low"] > 0 or row["ci_high"] < 0) else ""
    return f"{cell} p={row['p_value']:.2g} (Holm {row['p_holm']:.2g}){significant}"
