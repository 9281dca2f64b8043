"""Which offline metric predicts what a policy earns online: rank agreement over a benchmark run with ``--online``.

Three views of one results folder, each offline metric (HR/NDCG@k per event type, Reward@k, on the replay splits)
against the online return (:func:`recgym.evaluate_online` in the world that wrote the logs):

- **across policies**: every run's val-selected checkpoint (baselines included), its test offline metrics against its
  online return on the test users (simulated users that selection never saw); Kendall τ-b and Spearman ρ over the
  runs, over the trained runs alone (the baselines left out) and over the agents' means;
- **within a run**: across one run's checkpoints, each val offline metric against the online return on the val users;
  τ and ρ per run, averaged over the trained runs;
- **checkpoint selection**: the checkpoint each val metric selects in each run, and its online return on the test
  users against the run's best checkpoint online (the regret). It needs the test evaluation of every checkpoint
  (``--top-n`` at least the number of evaluations); otherwise it is left out.

:func:`run_fqe` adds fitted Q evaluation (:func:`recgym.evaluation.fqe`) of each trained run's best checkpoint, an
estimate of its return per session from the logs alone; :func:`folders_leaderboard` then ranks it beside the replay
metrics over the trained runs (the baselines have no checkpoint to evaluate).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from recgym.benchmark.report import metric_label, offline_metrics, select_steps
from recgym.benchmark.results import read_runs
from recgym.benchmark.runner import baseline_policy
from recgym.benchmark.specs import BenchmarkError, ResolvedAgent
from recgym.benchmark.store import read_json, run_dir, write_json
from recgym.checks import check_number
from recgym.datasets import load_dataset
from recgym.evaluation.fqe import fqe
from recgym.saving import load_model

__all__ = [
    "ONLINE_TARGET",
    "ValidityTables",
    "checkpoint_table",
    "folders_leaderboard",
    "format_folders_leaderboard",
    "format_validity",
    "leaderboard",
    "rank_agreement",
    "run_fqe",
    "selection_regret",
    "validity_tables",
    "within_run_agreement",
]

ONLINE_TARGET = "online/return"
"""What the offline metrics are asked to predict: the mean return per simulated session."""
FQE_QUANTITY = "fqe"
FQE_FILE = "fqe.json"  # a run's FQE estimate and the settings that made it, beside its result.json


@dataclass(frozen=True)
class ValidityTables:
    """The three views of :func:`validity_tables` and the points they were computed from."""

    points: pd.DataFrame
    """One row per run: agent, seed, the test metrics of its val-selected ("best") checkpoint."""
    across: pd.DataFrame
    within: pd.DataFrame
    selection: pd.DataFrame | None
    """None when not every checkpoint of every trained run was evaluated on test."""
    board: pd.DataFrame
    """:func:`leaderboard` of the metrics over the runs, resampling agents."""


def rank_agreement(x: Sequence[float], y: Sequence[float]) -> tuple[float, float]:
    """Kendall τ-b and Spearman ρ of ``x`` against ``y``; NaN when fewer than 3 pairs or either side is constant."""
    xs, ys = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(xs) < 3 or np.ptp(xs) == 0 or np.ptp(ys) == 0:
        return float("nan"), float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(stats.kendalltau(xs, ys).statistic), float(stats.spearmanr(xs, ys).statistic)


def leaderboard(
    points: pd.DataFrame,
    quantities: Sequence[str],
    target: str,
    *,
    clusters: str | None = None,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """How well each offline quantity (a column of ``points``, one row per policy or run) predicts ``target`` (its
    true online value): Kendall τ-b, Spearman ρ, the regret of deploying the row it ranks first (the best target
    minus the target of its first; ties: the first row) relative to the best target, and whether that first is the
    best.

    τ, ρ and the regret come with a percentile-bootstrap interval that resamples the rows with replacement, or whole
    groups of rows when ``clusters`` names a column (the agent behind several seeds' runs), so it covers which
    policies happened to be compared, not the noise of each estimate; ``top1_share`` is the share of resamples whose
    first is their best. One row per quantity; ``n_clusters`` counts the groups (the rows without ``clusters``).
    """
    check_number("n_resamples", n_resamples, at_least=1, integer=True)
    check_number("confidence", confidence, above=0, below=1)
    labels = points[clusters].to_numpy() if clusters is not None else np.arange(len(points))
    groups = [np.flatnonzero(labels == label) for label in pd.unique(labels)]
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(groups), size=(n_resamples, len(groups)))
    truth = points[target].to_numpy(dtype=float)
    alpha = (1.0 - confidence) / 2.0

    def scores(rows: np.ndarray, values: np.ndarray) -> tuple[float, float, float, float]:
        tau, rho = rank_agreement(values[rows], truth[rows])
        known = rows[~np.isnan(values[rows])]
        if not len(known):
            return tau, rho, float("nan"), float("nan")
        chosen = truth[known][int(np.argmax(values[known]))]
        best = truth[rows].max()
        regret = (best - chosen) / abs(best) if best else float("nan")
        return tau, rho, regret, float(chosen == best)

    table = []
    for quantity in quantities:
        values = points[quantity].to_numpy(dtype=float)
        point = scores(np.arange(len(points)), values)
        resampled = np.array([scores(np.concatenate([groups[g] for g in draw]), values) for draw in draws])
        with warnings.catch_warnings():  # a quantity constant in every resample has no τ: its interval is NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            low, high = np.nanquantile(resampled, [alpha, 1.0 - alpha], axis=0)
            top1_share = float(np.nanmean(resampled[:, 3]))
        row: dict[str, Any] = {"quantity": quantity, "n_rows": len(points), "n_clusters": len(groups)}
        for index, name in enumerate(("kendall_tau", "spearman_rho", "relative_regret")):
            row.update({name: point[index], f"{name}_low": low[index], f"{name}_high": high[index]})
        row.update({"top1": point[3] == 1.0, "top1_share": top1_share})
        table.append(row)
    return pd.DataFrame(table)


def checkpoint_table(results: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per run and evaluated step: ``val/<metric>`` from the curve, ``test/<metric>`` where tested."""
    rows = []
    for result in results:
        tested = {int(step): metrics for step, metrics in result["test"].items()}
        for point in result["curve"]:
            step = int(point["step"])
            row = {"agent": result["agent"], "seed": result["seed"], "step": step, "trained": step > 0}
            row.update({f"val/{key}": value for key, value in point.items() if key not in ("step", "epoch")})
            row.update({f"test/{key}": value for key, value in tested.get(step, {}).items()})
            rows.append(row)
    return pd.DataFrame(rows)


def _across(points: pd.DataFrame, metrics: Sequence[str], baselines: Sequence[str]) -> pd.DataFrame:
    means = points.groupby("agent", sort=False)[[*metrics, ONLINE_TARGET]].mean()
    trained = points[~points["agent"].isin(baselines)]
    rows = []
    for metric in metrics:
        tau, rho = rank_agreement(points[metric], points[ONLINE_TARGET])
        agents_tau, agents_rho = rank_agreement(means[metric], means[ONLINE_TARGET])
        trained_tau, trained_rho = rank_agreement(trained[metric], trained[ONLINE_TARGET])
        rows.append({"metric": metric, "kendall_tau": tau, "spearman_rho": rho, "n_runs": len(points),
                     "agents_kendall_tau": agents_tau, "agents_spearman_rho": agents_rho, "n_agents": len(means),
                     "trained_kendall_tau": trained_tau, "trained_spearman_rho": trained_rho,
                     "n_trained_runs": len(trained)})  # fmt: skip
    return pd.DataFrame(rows)


def within_run_agreement(checkpoints: pd.DataFrame, metrics: Sequence[str]) -> pd.DataFrame:
    """Per val metric: τ and ρ against the val online return across each trained run's checkpoints, averaged.

    ``n_runs`` counts the runs where both are defined (≥ 3 checkpoints, neither side constant); ``positive_share``
    is the share of those with τ > 0.
    """
    trained = checkpoints[checkpoints["trained"]]
    rows = []
    for metric in metrics:
        pairs = [
            rank_agreement(run[f"val/{metric}"], run[f"val/{ONLINE_TARGET}"])
            for _, run in trained.groupby(["agent", "seed"], sort=False)
        ]
        taus = np.array([tau for tau, _ in pairs if not np.isnan(tau)])
        rhos = np.array([rho for _, rho in pairs if not np.isnan(rho)])
        rows.append({
            "metric": metric,
            "mean_kendall_tau": float(taus.mean()) if len(taus) else float("nan"),
            "mean_spearman_rho": float(rhos.mean()) if len(rhos) else float("nan"),
            "positive_share": float((taus > 0).mean()) if len(taus) else float("nan"),
            "n_runs": len(taus),
        })  # fmt: skip
    return pd.DataFrame(rows)


def selection_regret(checkpoints: pd.DataFrame, criteria: Sequence[str]) -> pd.DataFrame | None:
    """Per val criterion: the test online return of the checkpoint it selects in each trained run (ties: the earlier
    step), the regret against the run's online-best checkpoint, and how often it selects that checkpoint.

    ``final`` (the last checkpoint) is added as a reference. None when some checkpoint has no test evaluation.
    """
    trained = checkpoints[checkpoints["trained"]]
    target = f"test/{ONLINE_TARGET}"
    if trained.empty or target not in trained or trained[target].isna().any():
        return None
    rows = []
    for criterion in [*criteria, "final"]:
        chosen_returns, regrets, hits = [], [], []
        for _, run in trained.groupby(["agent", "seed"], sort=False):
            # "final": the last evaluation; otherwise the benchmark's own selection rule
            step = run["step"].max() if criterion == "final" else select_steps(run, f"val/{criterion}", 1)[0]
            chosen = run[run["step"] == step].iloc[0]
            best = run[target].max()
            chosen_returns.append(chosen[target])
            regrets.append(best - chosen[target])
            hits.append(chosen[target] == best)
        rows.append({"criterion": criterion, "online_return": float(np.mean(chosen_returns)),
                     "mean_regret": float(np.mean(regrets)), "max_regret": float(np.max(regrets)),
                     "best_share": float(np.mean(hits)), "n_runs": len(regrets)})  # fmt: skip
    return pd.DataFrame(rows)


def validity_tables(
    results: Sequence[Mapping[str, Any]], metrics: Sequence[str], baselines: Sequence[str] = (), n_resamples: int = 2000
) -> ValidityTables:
    """The three views for the offline ``metrics`` over finished runs that were evaluated online; across policies
    also without the ``baselines`` (labels), whose distance from the trained policies makes ranking them easy. A metric
    no run has a value of (purchase metrics on a clicks-only log) is left out."""
    points = pd.DataFrame([{"agent": r["agent"], "seed": r["seed"], **r["selections"]["best"]} for r in results])
    metrics = [metric for metric in metrics if metric in points and points[metric].notna().any()]
    checkpoints = checkpoint_table(results)
    criteria = [*metrics, ONLINE_TARGET]  # selecting by the online return of the val users: what a live test would do
    return ValidityTables(
        points=points[["agent", "seed", *metrics, ONLINE_TARGET]],
        across=_across(points, metrics, baselines),
        within=within_run_agreement(checkpoints, metrics),
        selection=selection_regret(checkpoints, criteria),
        board=leaderboard(points, metrics, ONLINE_TARGET, clusters="agent", n_resamples=n_resamples),
    )


def _cell(value: float, digits: int = 2) -> str:
    return "–" if np.isnan(value) else f"{value:+.{digits}f}"


def _percent(value: float) -> str:
    return "–" if np.isnan(value) else f"{value:.1%}"


def _share(share: float, n: int) -> str:
    return "–" if n == 0 else f"{share:.0%} of {n}"


def format_validity(tables: ValidityTables) -> str:
    """The ``results.md`` section of :func:`validity_tables`."""
    across = tables.across.sort_values("kendall_tau", ascending=False, na_position="last")
    n_runs, n_agents = int(across["n_runs"].iloc[0]), int(across["n_agents"].iloc[0])
    n_trained = int(across["n_trained_runs"].iloc[0])
    lines = [
        "## Offline metrics against the online return",
        "",
        f"Across policies: test metrics of each run's val-selected checkpoint against its online return on the test "
        f"users; rank correlations over the {n_runs} runs, over the {n_trained} trained runs (baselines left out) and "
        f"over the {n_agents} agents' means. Within runs: val "
        f"metrics against the online return on the val users across each trained run's checkpoints, averaged over "
        f"the runs (positive: share of runs with τ > 0).",
        "",
        "| metric | τ (runs) | ρ (runs) | τ (trained) | ρ (trained) | τ (agents) | ρ (agents) | τ within runs | "
        "ρ within runs | positive |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    within = tables.within.set_index("metric")
    for row in across.itertuples():
        inside = within.loc[row.metric]
        lines.append(
            f"| {metric_label(row.metric)} | {_cell(row.kendall_tau)} | {_cell(row.spearman_rho)} | "
            f"{_cell(row.trained_kendall_tau)} | {_cell(row.trained_spearman_rho)} | "
            f"{_cell(row.agents_kendall_tau)} | {_cell(row.agents_spearman_rho)} | "
            f"{_cell(inside['mean_kendall_tau'])} | {_cell(inside['mean_spearman_rho'])} | "
            f"{_share(inside['positive_share'], int(inside['n_runs']))} |"
        )
    lines.append("")
    lines += [
        f"Leaderboard: over the {n_runs} runs, the relative regret of deploying the run each metric ranks first, and "
        f"95% bootstrap intervals that resample the {n_agents} agents (all seeds of an agent together), so they "
        "cover which agents were compared, not the noise of each number.",
        "",
        "| metric | τ [95% over agents] | ρ [95% over agents] | regret of its first | its first is the best |",
        "|---|---|---|---|---|",
    ]
    for row in tables.board.sort_values("kendall_tau", ascending=False, na_position="last").itertuples():
        lines.append(
            f"| {metric_label(row.quantity)} | {_cell(row.kendall_tau)} [{_cell(row.kendall_tau_low)}, "
            f"{_cell(row.kendall_tau_high)}] | {_cell(row.spearman_rho)} [{_cell(row.spearman_rho_low)}, "
            f"{_cell(row.spearman_rho_high)}] | {_percent(row.relative_regret)} [{_percent(row.relative_regret_low)}, "
            f"{_percent(row.relative_regret_high)}] | {'yes' if row.top1 else 'no'} (in "
            f"{'–' if np.isnan(row.top1_share) else f'{row.top1_share:.0%}'} of resamples) |"
        )
    lines.append("")
    if tables.selection is None:
        lines += ["Checkpoint selection: not every checkpoint was evaluated on test (run with `--top-n` at least the "
                  "number of evaluations to compare selections).", ""]  # fmt: skip
        return "\n".join(lines)
    lines += [
        "Checkpoint selection: the online return (test users) of the checkpoint each val criterion selects, mean "
        "over the trained runs; regret against each run's online-best checkpoint.",
        "",
        "| selected by | online return | mean regret | max regret | selects the online-best |",
        "|---|---|---|---|---|",
    ]
    for row in tables.selection.sort_values("mean_regret", kind="mergesort").itertuples():
        name = "last checkpoint" if row.criterion == "final" else metric_label(row.criterion)
        if row.criterion == ONLINE_TARGET:
            name += " (val users)"
        lines.append(
            f"| {name} | {row.online_return:.3f} | {row.mean_regret:.3f} | {row.max_regret:.3f} | "
            f"{_share(row.best_share, row.n_runs)} |"
        )
    return "\n".join([*lines, ""])


def run_fqe(
    folder: str | os.PathLike[str],
    *,
    n_steps: int = 2000,
    split: str = "val",
    data_dir: str | os.PathLike[str] | None = None,
    progress: bool = False,
) -> pd.DataFrame:
    """FQE of every finished run's policy on ``split`` of the folder's dataset, reloaded from its config
    (``data_dir``: where its raw files or cache are): a trained run's best checkpoint
    (``runs/LABEL/seedN/checkpoints``), a baseline rebuilt from its settings — all but the oracle, which reads the
    live world, not the log. One row per run: agent, seed, fqe, fqe_low, fqe_high (95% over the split's sessions).
    Each estimate is kept in the run folder (``fqe.json``) with its settings and reused by a later call with the same
    ones."""
    check_number("n_steps", n_steps, at_least=1, integer=True, error=BenchmarkError)
    runs = read_runs(folder)
    agents = runs.config["agents"]
    population = [r for r in runs.finished if agents[r["agent"]].get("baseline") != "oracle"]
    settings = {"n_steps": int(n_steps), "split": split, "checkpoint": "best"}
    rows, dataset = [], None
    for result in population:
        path = run_dir(runs.out_dir, result["agent"], result["seed"])
        cached = read_json(path / FQE_FILE) if (path / FQE_FILE).is_file() else None
        if cached is None or cached.get("settings") != settings:
            if dataset is None:
                dataset = _folder_dataset(runs.config, data_dir)
            policy = _run_policy(path, result, agents[result["agent"]], dataset)
            estimate = fqe(policy, dataset, split=split, n_steps=n_steps, progress=progress)
            cached = {"settings": settings, "value": estimate.value, "low": estimate.low, "high": estimate.high}
            write_json(path / FQE_FILE, cached)
        rows.append({"agent": result["agent"], "seed": result["seed"], FQE_QUANTITY: cached["value"],
                     f"{FQE_QUANTITY}_low": cached["low"], f"{FQE_QUANTITY}_high": cached["high"]})  # fmt: skip
    return pd.DataFrame(rows, columns=["agent", "seed", FQE_QUANTITY, f"{FQE_QUANTITY}_low", f"{FQE_QUANTITY}_high"])


def _run_policy(path: Path, result: Mapping[str, Any], agent: Mapping[str, Any], dataset: Any) -> Any:
    """A finished run's policy: its best checkpoint, or its baseline rebuilt from the recorded settings."""
    if "baseline" in agent:
        resolved = ResolvedAgent(result["agent"], agent.get("spec"), None, agent["baseline"], agent.get("options", {}))
        return baseline_policy(resolved, int(result["seed"]), dataset, None)
    checkpoint = path / "checkpoints" / f"step{result['selected_steps'][0]}.pt"
    if not checkpoint.is_file():
        raise BenchmarkError(f"{checkpoint} not found: FQE needs each run's best checkpoint on disk")
    return load_model(checkpoint)


def _folder_dataset(config: Mapping[str, Any], data_dir: str | os.PathLike[str] | None) -> Any:
    """The dataset a results folder was benchmarked on, loaded again from its config's source and options."""
    source, options = config["dataset"]["source"], dict(config["dataset"]["options"])
    if source is None or (isinstance(source, str) and source.startswith("in-memory")):
        raise BenchmarkError("this folder's dataset was given in memory: FQE cannot load it again")
    return load_dataset(source, data_dir=data_dir, progress=False, **options)


def folders_leaderboard(
    folders: Sequence[str | os.PathLike[str]],
    n_resamples: int = 2000,
    *,
    fqe_steps: int | None = None,
    data_dir: str | os.PathLike[str] | None = None,
) -> pd.DataFrame:
    """:func:`leaderboard` of every offline metric of each results folder evaluated online (``--online``), over its
    finished runs and resampling its agents (``n_resamples`` times); one row per folder and metric (``folder`` its
    path). With ``fqe_steps``, FQE (:func:`run_fqe`, that many updates) is ranked too, and every quantity over the
    runs FQE has (all but the oracle's)."""
    boards = []
    for folder in folders:
        runs = read_runs(folder)
        if "online" not in runs.config:
            raise BenchmarkError(f"{folder}: its runs were not evaluated online (--online): nothing to rank against")
        if not runs.finished:
            raise BenchmarkError(f"{folder}: no run has finished yet")
        metrics = offline_metrics(runs.config)
        if fqe_steps is None:
            board = validity_tables(runs.finished, metrics, n_resamples=n_resamples).board
        else:
            estimates = run_fqe(folder, n_steps=fqe_steps, data_dir=data_dir)
            points = pd.DataFrame([{"agent": r["agent"], "seed": r["seed"], **r["selections"]["best"]}
                                   for r in runs.finished]).merge(estimates, on=["agent", "seed"])  # fmt: skip
            quantities = [m for m in metrics if m in points and points[m].notna().any()] + [FQE_QUANTITY]
            board = leaderboard(points, quantities, ONLINE_TARGET, clusters="agent", n_resamples=n_resamples)
        boards.append(board.assign(folder=str(folder)))
    return pd.concat(boards, ignore_index=True)


def format_folders_leaderboard(board: pd.DataFrame) -> str:
    """A Markdown table of :func:`folders_leaderboard`: one row per metric, one column per folder, each cell
    Kendall τ [95% interval over agents]."""
    folders = list(dict.fromkeys(board["folder"]))
    lines = [
        "Kendall τ of each offline metric against the online return over each folder's runs [95% bootstrap interval "
        "resampling its agents]; – where a folder lacks the metric.",
        "",
        "| metric | " + " | ".join(folders) + " |",
        "|---|" + "---|" * len(folders),
    ]
    cells = board.set_index(["quantity", "folder"])
    for quantity in dict.fromkeys(board["quantity"]):
        row = []
        for folder in folders:
            if (quantity, folder) in cells.index:
                cell = cells.loc[(quantity, folder)]
                row.append(
                    f"{_cell(cell['kendall_tau'])} [{_cell(cell['kendall_tau_low'])}, {_cell(cell['kendall_tau_high'])}]"
                )
            else:
                row.append("–")
        lines.append(f"| {metric_label(quantity)} | " + " | ".join(row) + " |")
    return "\n".join([*lines, ""])
