"""Figures of a benchmark, like the paper's Figures 3-4: one panel per metric, one line per agent (mean over seeds)
with a shaded band (95% Student-t interval by default, or ± std, or min-max over seeds), a dotted vertical line at
each agent's ``switch_step``, baselines as flat lines, and a figure of the final test metrics with their intervals.

Lines differ in style and marker as well as colour, so the figures survive grayscale printing. Every figure is
written as PNG and as PDF (vector, for papers). Figures are drawn on a bare :class:`matplotlib.figure.Figure` (Agg
canvas), so no pyplot state or GUI backend is touched and the module works headless.
"""

from __future__ import annotations

import itertools
import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from recgym.benchmark.report import metric_label
from recgym.benchmark.stats import mean_interval
from recgym.benchmark.validity import ONLINE_TARGET
from recgym.errors import RecgymError

__all__ = [
    "TRAIN_PANELS",
    "VALIDITY_PANELS",
    "VAL_PANELS",
    "plot_curves",
    "plot_offline_vs_online",
    "plot_results",
    "plot_test_metrics",
]

VAL_PANELS = (
    "purchase/hr@20",
    "purchase/ndcg@20",
    "purchase/hr@5",
    "purchase/ndcg@5",
    "reward@20",
    "click/hr@20",
    "click/ndcg@20",
    "click/hr@5",
    "click/ndcg@5",
    "online/return",
    "online/purchases_per_session",
)
"""Validation metrics drawn by :func:`plot_results`, in panel order (online ones where the benchmark measured them)."""

TRAIN_PANELS = ("train/q_logged_mean", "train/q_logged_max", "train/q_negative_mean", "q_bias", "train/loss")
"""Training logs drawn by :func:`plot_results` where the agents log them: mean / max Q of logged actions, mean Q of
sampled negatives, the val Q bias (mean Q of logged actions − their discounted return, paper A.1), the loss."""

TEST_PANELS = ("reward@20", "purchase/hr@20", "purchase/ndcg@20", "click/hr@20", "click/ndcg@20", "online/return")
"""Test metrics drawn by :func:`plot_test_metrics`."""

VALIDITY_PANELS = ("reward@20", "purchase/hr@20", "click/hr@20", "click/ndcg@20")
"""Offline test metrics drawn against the online return by :func:`plot_offline_vs_online`."""

Band = Literal["ci", "std", "minmax"]
BAND_NAMES = {"ci": "95% CI", "std": "± std", "minmax": "min-max"}
_LINE_STYLES = ("-", "--", "-.", ":")
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


def _styles(agents: Sequence[str]) -> dict[str, dict[str, Any]]:
    """One (colour, line style, marker) per agent, the same in every panel and figure."""
    pairs = itertools.product(_MARKERS, _LINE_STYLES)
    return {
        agent: {"color": f"C{i % 10}", "linestyle": style, "marker": marker}
        for i, (agent, (marker, style)) in enumerate(zip(agents, pairs))
    }


def _band(values: pd.Series, band: Band) -> tuple[float, float]:
    if band == "ci":
        interval = mean_interval(values.to_numpy())
        return (interval.low, interval.high) if len(values) > 1 else (interval.estimate, interval.estimate)
    if band == "std":
        spread = float(values.std(ddof=1)) if len(values) > 1 else 0.0
        return float(values.mean()) - spread, float(values.mean()) + spread
    return float(values.min()), float(values.max())


def plot_curves(
    curves: pd.DataFrame,
    metrics: Sequence[str],
    path: str | os.PathLike[str],
    *,
    band: Band = "ci",
    title: str | None = None,
    ncols: int = 5,
    switch_steps: Mapping[str, int] | None = None,
    baselines: Sequence[str] = (),
) -> list[Path]:
    """Draw ``metrics`` of ``curves`` (columns agent, seed, step, metrics...) into ``path`` (.png) and its .pdf twin.

    ``switch_steps``: agent -> step of a vertical marker; ``baselines``: agents drawn as flat lines at their single
    value. Metrics missing from ``curves`` or NaN throughout are skipped; returns [] when none is left to draw.
    """
    if band not in BAND_NAMES:
        raise ValueError(f"band must be one of {sorted(BAND_NAMES)}, got {band!r}")
    drawn = [m for m in metrics if m in curves.columns and curves[m].notna().any()]
    if not drawn:
        return []
    ncols = min(ncols, len(drawn))
    nrows = math.ceil(len(drawn) / ncols)
    fig = Figure(figsize=(4.0 * ncols, 3.3 * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    agents = list(dict.fromkeys(curves["agent"]))
    styles = _styles(agents)
    steps = curves["step"]
    for ax, metric in zip(axes, drawn):
        for agent in agents:
            rows = curves[(curves["agent"] == agent) & curves[metric].notna()]
            if rows.empty:
                continue
            style = styles[agent]
            if agent in baselines:
                ax.axhline(rows[metric].mean(), color=style["color"], linestyle=style["linestyle"], label=agent)
                continue
            by_step = rows.groupby("step")[metric]
            mean = by_step.mean()
            low, high = zip(*(_band(values, band) for _, values in by_step))
            ax.plot(mean.index, mean.to_numpy(), label=agent, markersize=3, markevery=max(1, len(mean) // 8), **style)
            ax.fill_between(mean.index, low, high, color=style["color"], alpha=0.18, linewidth=0)
            switch = (switch_steps or {}).get(agent)
            if switch is not None and steps.min() <= switch <= steps.max():
                ax.axvline(switch, color=style["color"], linestyle=":", linewidth=1.0, alpha=0.8)
        ax.set_title(metric_label(metric))
        ax.set_ylabel(metric_label(metric))
        ax.set_xlabel("gradient step")
        ax.grid(alpha=0.3)
    for ax in axes[len(drawn) :]:
        ax.set_visible(False)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 6))
    n_seeds = curves.groupby("agent")["seed"].nunique().max()
    notes = f"mean over {n_seeds} seed(s), band {BAND_NAMES[band]}"
    if switch_steps:
        notes += "; dotted vertical line: the agent's switch to its second phase"
    fig.suptitle(f"{title + ': ' if title else ''}{notes}")
    return _save(fig, Path(path))


def plot_test_metrics(
    table: pd.DataFrame, metrics: Sequence[str], path: str | os.PathLike[str], *, selection: str, title: str = ""
) -> list[Path]:
    """One panel per test metric: each agent's mean with its 95% interval (``results.csv`` rows of ``selection``)."""
    rows = table[table["selection"] == selection]
    drawn = [m for m in metrics if m in rows.columns and rows[m].notna().any()]
    if not drawn:
        return []
    agents = list(rows["agent"])
    styles = _styles(agents)
    fig = Figure(figsize=(3.2 * len(drawn), 0.35 * len(agents) + 1.6), layout="constrained")
    axes = fig.subplots(1, len(drawn), squeeze=False, sharey=True).ravel()
    for ax, metric in zip(axes, drawn):
        for y, (_, row) in enumerate(rows.iterrows()):
            low, high = row[f"{metric}_ci_low"], row[f"{metric}_ci_high"]
            error = None if np.isnan(low) else [[row[metric] - low], [high - row[metric]]]
            style = styles[row["agent"]]
            ax.errorbar(row[metric], y, xerr=error, fmt=style["marker"], color=style["color"], capsize=3)
        ax.set_title(metric_label(metric))
        ax.set_xlabel(metric_label(metric))
        ax.grid(alpha=0.3, axis="x")
    axes[0].set_yticks(range(len(agents)), agents)
    axes[0].invert_yaxis()
    fig.suptitle(f"{title + ': ' if title else ''}test, selection {selection}: mean and 95% CI over seeds")
    return _save(fig, Path(path))


def plot_offline_vs_online(
    points: pd.DataFrame,
    metrics: Sequence[str],
    path: str | os.PathLike[str],
    *,
    baselines: Sequence[str] = (),
    title: str = "",
) -> list[Path]:
    """One panel per offline test metric against the online return: a marker per run, one style per agent; a second
    row without the ``baselines`` zooms in on the trained policies."""
    drawn = [m for m in metrics if m in points.columns and points[m].notna().any()]
    if not drawn or ONLINE_TARGET not in points:
        return []
    styles = _styles(list(dict.fromkeys(points["agent"])))
    trained = points[~points["agent"].isin(baselines)]
    rows = [points] + ([trained] if len(trained) and len(trained) < len(points) else [])
    fig = Figure(figsize=(3.6 * len(drawn) + 1.6, 3.2 * len(rows) + 0.3), layout="constrained")
    axes = fig.subplots(len(rows), len(drawn), squeeze=False)
    for row, (shown, panels) in enumerate(zip(rows, axes)):
        for ax, metric in zip(panels, drawn):
            for agent, runs in shown.groupby("agent", sort=False):
                style = styles[agent]
                ax.scatter(runs[metric], runs[ONLINE_TARGET], marker=style["marker"], color=style["color"],
                           label=agent if row == 0 else None)  # fmt: skip
            ax.set_xlabel(f"{metric_label(metric)} (test, replay)")
            ax.grid(alpha=0.3)
        what = "all runs" if row == 0 else "trained policies"
        panels[0].set_ylabel(f"{metric_label(ONLINE_TARGET)} (test users)\n{what}")
    fig.legend(*axes[0][0].get_legend_handles_labels(), loc="outside right center", fontsize="small", frameon=False)
    fig.suptitle(f"{title + ': ' if title else ''}offline metrics against the online return, one marker per run")
    return _save(fig, Path(path))


def _save(fig: Figure, path: Path) -> list[Path]:
    path.parent.mkdir(parents=True, exist_ok=True)
    png, pdf = path.with_suffix(".png"), path.with_suffix(".pdf")
    fig.savefig(png, dpi=110)
    fig.savefig(pdf)
    return [png, pdf]


def plot_results(out_dir: str | os.PathLike[str], *, band: Band = "ci") -> list[Path]:
    """Redraw a benchmark folder's figures from its ``curves.csv``, ``config.json`` and ``results.csv``."""
    out_dir = Path(out_dir)
    source = out_dir / "curves.csv"
    if not source.is_file():
        raise RecgymError(f"{source} not found: not a benchmark folder, or no run has finished yet")
    curves = _read_csv(source, ("agent", "seed", "step"))
    agents = _agents_of(out_dir)
    switch_steps = {label: step for label, a in agents.items() if (step := _switch_of(a)) is not None}
    baselines = [label for label, a in agents.items() if a.get("baseline")]
    figures = out_dir / "figures"
    options: dict[str, Any] = {"band": band, "switch_steps": switch_steps, "baselines": baselines}
    written = [
        *plot_curves(curves, VAL_PANELS, figures / "val_curves.png", title="validation", **options),
        *plot_curves(curves, TRAIN_PANELS, figures / "train_curves.png", title="training", **options),
    ]
    results = out_dir / "results.csv"
    if results.is_file():
        table = _read_csv(results, ("agent", "selection"))
        selection = next((s for s in table["selection"].unique() if s != "best"), "best")
        written += plot_test_metrics(table, TEST_PANELS, figures / "test_metrics.png", selection=selection)
    points = out_dir / "validity_points.csv"
    if points.is_file():
        written += plot_offline_vs_online(
            _read_csv(points, ("agent",)), VALIDITY_PANELS, figures / "offline_vs_online.png", baselines=baselines
        )
    return written


def _read_csv(path: Path, columns: Sequence[str]) -> pd.DataFrame:
    """A table of a results folder; an empty, damaged or foreign one is a one-line error naming it."""
    try:
        table = pd.read_csv(path)
    except pd.errors.EmptyDataError as error:
        raise RecgymError(f"{path} is empty: no run has finished yet") from error
    except (UnicodeDecodeError, pd.errors.ParserError) as error:
        raise RecgymError(f"{path} is damaged (not a CSV table); rerun `recgym report` to rewrite it") from error
    missing = [column for column in columns if column not in table.columns]
    if missing:
        raise RecgymError(f"{path} is damaged (no column {', '.join(missing)}); rerun `recgym report` to rewrite it")
    return table


def _agents_of(out_dir: Path) -> dict[str, Any]:
    path = out_dir / "config.json"
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())["config"]["agents"]
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise RecgymError(f"{path} is damaged ({error})") from error


def _switch_of(agent: Mapping[str, Any]) -> int | None:
    params = agent.get("params") or {}
    return params.get("switch_step")
