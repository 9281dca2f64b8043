"""Training-curve figures of a benchmark, like the paper's Figures 3-4: one panel per metric, one line per agent
(mean over seeds) with a shaded band (± std, or min-max) over seeds.

Figures are drawn on a bare :class:`matplotlib.figure.Figure` (Agg canvas), so no pyplot state or GUI backend is
touched and the module works headless.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import pandas as pd
from matplotlib.figure import Figure

__all__ = ["TRAIN_PANELS", "VAL_PANELS", "plot_curves", "plot_results"]

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
)
"""Validation metrics drawn by :func:`plot_results`, in panel order."""

TRAIN_PANELS = ("train/q_logged_mean", "train/q_logged_max", "train/loss")
"""Training logs drawn by :func:`plot_results` where the agents log them (mean / max Q of logged actions, loss)."""

Band = Literal["std", "minmax"]


def plot_curves(
    curves: pd.DataFrame,
    metrics: Sequence[str],
    path: str | os.PathLike[str],
    *,
    band: Band = "std",
    title: str | None = None,
    ncols: int = 5,
) -> Path | None:
    """Draw ``metrics`` of ``curves`` (columns agent, seed, step, metrics...) into the PNG ``path``.

    Metrics missing from ``curves`` or NaN throughout are skipped; returns None when none is left to draw.
    """
    if band not in ("std", "minmax"):
        raise ValueError(f"band must be 'std' or 'minmax', got {band!r}")
    drawn = [m for m in metrics if m in curves.columns and curves[m].notna().any()]
    if not drawn:
        return None
    ncols = min(ncols, len(drawn))
    nrows = math.ceil(len(drawn) / ncols)
    fig = Figure(figsize=(4.0 * ncols, 3.2 * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, metric in zip(axes, drawn):
        for agent, rows in curves.groupby("agent", sort=False):
            stats = rows.groupby("step")[metric].agg(["mean", "std", "min", "max"])
            line = ax.plot(stats.index, stats["mean"], label=str(agent))[0]
            if band == "std":
                spread = stats["std"].fillna(0.0)
                low, high = stats["mean"] - spread, stats["mean"] + spread
            else:
                low, high = stats["min"], stats["max"]
            ax.fill_between(stats.index, low, high, color=line.get_color(), alpha=0.2, linewidth=0)
        ax.set_title(metric)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    for ax in axes[len(drawn):]:
        ax.set_visible(False)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 6))
    n_seeds = curves.groupby("agent")["seed"].nunique().max()
    band_name = "± std" if band == "std" else "min-max"
    fig.suptitle(f"{title + ': ' if title else ''}mean over {n_seeds} seed(s), band {band_name}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path


def plot_results(out_dir: str | os.PathLike[str], *, band: Band = "std") -> list[Path]:
    """Redraw a benchmark folder's figures from its ``curves.csv`` into ``figures/``; returns the written PNGs."""
    out_dir = Path(out_dir)
    source = out_dir / "curves.csv"
    if not source.exists():
        raise FileNotFoundError(f"{source} not found: not a benchmark folder, or no run has finished yet")
    curves = pd.read_csv(source)
    figures = [
        plot_curves(curves, VAL_PANELS, out_dir / "figures" / "val_curves.png", band=band, title="validation"),
        plot_curves(curves, TRAIN_PANELS, out_dir / "figures" / "train_curves.png", band=band, title="training"),
    ]
    return [path for path in figures if path is not None]
