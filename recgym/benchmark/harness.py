"""Multi-seed benchmark harness: the paper's protocol end to end, for any d3rlpy discrete-action algorithm.

For each seed and agent: seed everything, train with d3rlpy's ``fitter`` (one d3rlpy epoch = ``eval_every`` steps),
evaluate on val at every epoch end, keep the best ``top_n_checkpoints`` checkpoints on disk, then evaluate those on
test once each. The seeds' test numbers are aggregated into the table (mean ± sample std over seeds) for two
selections made on val only (reference-protocol §7 item 22):

- ``best``: the test metrics of the single best val checkpoint;
- ``top<n>``: the mean of the test metrics of the ``n`` best val checkpoints (the paper's §4.1 "top-5" rule).

**Selection rule.** Checkpoints are ranked by one val metric, ``select_by`` (default ``reward@20``, the paper's
cumulative reward: the quantity the RL agents optimise, summed over every val event so less noisy than the
purchase-only metrics). Ties go to the earlier step. Fewer than ``n`` eval points: all of them are used.

**Results folder** (``out``)::

    config.json              {"config_hash": ..., "config": ...}: dataset and options, agents with their full
                             d3rlpy config dicts, seeds, steps, eval_every, ks, selection, versions
    curves.csv               one row per agent / seed / eval step: val metrics, "train/<name>" epoch-mean training logs
    runs/<agent>/seed<k>/    result.json (written last, atomically: the run is finished), d3rlpy/ (d3rlpy's CSV logs),
                             checkpoints/step<N>.pt: weights only (:func:`load_weights`); during training the
                             ``top_n_checkpoints`` best so far, after the test evaluation only the best one
    results.csv, results.md  mean ± std over seeds of the test metrics of the val-selected checkpoints; results.md
                             also has the training dynamics on val (peak, final, change; also in dynamics.csv)
    figures/*.png            training curves: mean over seeds with a ± std band

**One folder, one config.** The folder is keyed by the hash of ``config.json``'s config: what defines the
experiment, not where it runs (``device``, ``progress`` and the data directory are left out; each run records its
device in ``result.json``). A folder whose config hash differs is refused with an error naming both hashes and the
changed keys: use a new ``out``. Adding seeds or agents changes the hash too.

**Resume.** Rerunning the same call skips every run whose ``result.json`` exists. A run killed part-way is retrained
from scratch (its folder is wiped first): restarting from a checkpoint would not reproduce the RNG streams of the
uninterrupted run, and every run is seeded on its own, so a resumed benchmark gives the same table as an
uninterrupted one.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import re
import shutil
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

import d3rlpy
import numpy as np
import pandas as pd
import torch
from d3rlpy.base import LearnableConfig
from d3rlpy.logging import FileAdapter, FileAdapterFactory
from tqdm.auto import tqdm

from recgym.errors import RecgymError

__all__ = [
    "AgentSpec",
    "BenchmarkError",
    "BenchmarkResult",
    "aggregate",
    "config_hash",
    "describe_config",
    "load_result",
    "load_weights",
    "resolve_agents",
    "run_benchmark",
    "save_weights",
    "select_steps",
    "summarize_run",
    "table_metrics",
    "training_dynamics",
    "val_metrics",
]

AgentSpec = Union[str, LearnableConfig]
"""A registered agent name (a key of ``agents.AGENTS``), a d3rlpy config, or "module:ConfigClass"."""

RESULT_FILE = "result.json"
_LABEL = re.compile(r"^[A-Za-z0-9_.-]+$")


class BenchmarkError(RecgymError, ValueError):
    """A benchmark argument, agent spec or results folder that the user must fix; the message says how."""


@dataclass(frozen=True)
class BenchmarkResult:
    """What a finished benchmark wrote: the folder, its config hash and the tables read back from it."""

    out_dir: Path
    config_hash: str
    curves: pd.DataFrame
    """One row per agent / seed / eval step (``curves.csv``)."""
    runs: pd.DataFrame
    """One row per agent / seed / selection: test metrics of the val-selected checkpoint(s)."""
    table: pd.DataFrame
    """``runs`` aggregated over seeds (``results.csv``)."""
    figures: tuple[Path, ...]


# ---------------------------------------------------------------------------------------------- pure functions


def config_hash(config: Mapping[str, Any]) -> str:
    """Short sha256 of the canonical JSON of ``config`` (sorted keys), the key of a results folder."""
    blob = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


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


def aggregate(runs: pd.DataFrame, metrics: Sequence[str]) -> pd.DataFrame:
    """Mean and sample std (ddof=1; NaN for one seed) of ``metrics`` over seeds, per agent and selection.

    Columns: agent, selection, n_seeds, then ``<metric>`` (mean) and ``<metric>_std`` for each metric.
    """
    groups = runs.groupby(["agent", "selection"], sort=False)
    mean, std = groups[list(metrics)].mean(), groups[list(metrics)].std(ddof=1)
    table = groups.size().rename("n_seeds").to_frame()
    for metric in metrics:
        table[metric] = mean[metric]
        table[f"{metric}_std"] = std[metric]
    return table.reset_index()


def training_dynamics(curves: pd.DataFrame, metrics: Sequence[str]) -> pd.DataFrame:
    """Per agent and val metric, on the curve averaged over seeds: the peak and its step, the final value, the change.

    The paper asks for training dynamics beside the table: a method that peaks early and then degrades shows a
    large negative ``change`` (final − peak) even when its best checkpoint looks good. Metrics without values are
    skipped.
    Columns: agent, metric, peak, peak_step, final, final_step, change.
    """
    rows = []
    for agent, curve in curves.groupby("agent", sort=False):
        mean_curve = curve.groupby("step")[list(metrics)].mean()
        for metric in metrics:
            values = mean_curve[metric].dropna()
            if values.empty:
                continue
            peak, final = float(values.max()), float(values.iloc[-1])
            rows.append({
                "agent": agent, "metric": metric, "peak": peak, "peak_step": int(values.idxmax()),
                "final": final, "final_step": int(values.index[-1]), "change": final - peak,
            })  # fmt: skip
    return pd.DataFrame(rows, columns=["agent", "metric", "peak", "peak_step", "final", "final_step", "change"])


def format_dynamics(dynamics: pd.DataFrame) -> str:
    """The ``results.md`` section of :func:`training_dynamics`: one row per agent and metric."""
    lines = [
        "## Training dynamics on val (mean over seeds)",
        "",
        "| agent | metric | peak (step) | final (step) | final − peak |",
        "|---|---|---|---|---|",
    ]
    for row in dynamics.itertuples():
        digits = 1 if row.metric.startswith("reward") else 4
        lines.append(
            f"| {row.agent} | {row.metric} | {row.peak:.{digits}f} ({row.peak_step}) | "
            f"{row.final:.{digits}f} ({row.final_step}) | {row.change:+.{digits}f} |"
        )
    return "\n".join([*lines, ""])


def format_markdown(table: pd.DataFrame, metrics: Sequence[str], header: str) -> str:
    """``results.md``: one "mean ± std" table per selection, agents as rows."""
    lines = [header, ""]
    for selection, rows in table.groupby("selection", sort=False):
        lines += [f"## Selection: {selection}", "", "| agent | seeds | " + " | ".join(metrics) + " |"]
        lines.append("|---" * (len(metrics) + 2) + "|")
        for _, row in rows.iterrows():
            cells = [_format_cell(row[m], row[f"{m}_std"], m.startswith("reward")) for m in metrics]
            lines.append(f"| {row['agent']} | {row['n_seeds']} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def _format_cell(mean: float, std: float, is_reward: bool) -> str:
    digits = 1 if is_reward else 4
    return f"{mean:.{digits}f}" if np.isnan(std) else f"{mean:.{digits}f} ± {std:.{digits}f}"


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


# ---------------------------------------------------------------------------------------------- agents, dataset


def resolve_agents(
    agents: Sequence[AgentSpec] | Mapping[str, AgentSpec],
    *,
    preset: str,
    n_items: int,
    agent_options: Mapping[str, Any] | None = None,
) -> dict[str, tuple[LearnableConfig, str | None]]:
    """Label -> (config, spec string or None) for every agent spec; labels name the run folders.

    ``agent_options`` are overrides for the agents given by name (``agents.make_config(name, **overrides)``): a plain
    key (``"hidden_size"``) applies to every such agent, a key qualified by the agent's name (``"ccql.switch_step"``)
    to that agent only.
    """
    items = agents.items() if isinstance(agents, Mapping) else ((None, spec) for spec in agents)
    resolved: dict[str, tuple[LearnableConfig, str | None]] = {}
    for label, spec in items:
        config = _make_config(spec, preset=preset, n_items=n_items, options=agent_options or {})
        label = label or (spec if isinstance(spec, str) and ":" not in spec else config.get_type())
        if not _LABEL.match(label):
            raise BenchmarkError(f"agent label {label!r} must match {_LABEL.pattern} (it names a folder)")
        if label in resolved:
            raise BenchmarkError(f"two agents are labelled {label!r}: pass a mapping {{label: spec}} instead")
        resolved[label] = (config, spec if isinstance(spec, str) else None)
    if not resolved:
        raise BenchmarkError("no agents given")
    return resolved


def _make_config(spec: AgentSpec, *, preset: str, n_items: int, options: Mapping[str, Any]) -> LearnableConfig:
    if isinstance(spec, LearnableConfig):
        return spec
    if not isinstance(spec, str):
        raise BenchmarkError(f"an agent spec is a name, a d3rlpy LearnableConfig or 'module:ConfigClass', got {spec!r}")
    if ":" in spec:
        module, _, attr = spec.partition(":")
        try:
            obj = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as error:
            message = f"cannot import agent spec {spec!r}: {error} (is its folder on PYTHONPATH?)"
            raise BenchmarkError(message) from error
        config = obj() if isinstance(obj, type) else obj
        if not isinstance(config, LearnableConfig):
            raise BenchmarkError(f"{spec} is not a d3rlpy LearnableConfig (class or instance)")
        return config
    from agents import make_config

    shared = {key: value for key, value in options.items() if "." not in key}
    own = {key.partition(".")[2]: value for key, value in options.items() if key.partition(".")[0] == spec}
    return make_config(spec, dataset=preset, **{"n_items": n_items, **shared, **own})


def describe_config(config: LearnableConfig, spec: str | None) -> dict[str, Any]:
    """The exact, JSON-able description of an agent config: its d3rlpy type, class and every field."""
    cls = type(config)
    return {
        "spec": spec,
        "type": config.get_type(),
        "class": f"{cls.__module__}:{cls.__qualname__}",
        "params": json.loads(config.serialize()),
    }


def _load(dataset: Any, options: Mapping[str, Any], progress: bool) -> tuple[Any, dict[str, Any]]:
    """The SessionDataset and the JSON-able description of where it came from (``data_dir`` left out)."""
    if isinstance(dataset, (str, os.PathLike)):
        from recgym.datasets import load_dataset

        source = os.fspath(dataset)
        loaded = load_dataset(source, progress=progress, **options)
        kept = {k: v for k, v in options.items() if k != "data_dir"}
    else:
        if options:
            raise BenchmarkError("dataset options apply only when the dataset is given by name or path")
        loaded, source, kept = dataset, None, {}
    description = {"source": source, "options": kept, "stats": loaded.stats()}
    return loaded, json.loads(json.dumps(description, default=_json_default))


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (Path, os.PathLike)):
        return os.fspath(value)
    return str(value)


# ---------------------------------------------------------------------------------------------- folder, files


def _write_json(path: Path, payload: Any) -> None:
    """Atomic write: a reader never sees a half-written file."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=_json_default))
    os.replace(tmp, path)


def _claim_folder(out: Path, config: Mapping[str, Any]) -> str:
    """Write ``config.json`` into ``out`` or check that the one there has the same hash; returns the hash."""
    digest = config_hash(config)
    path = out / "config.json"
    if path.exists():
        existing = json.loads(path.read_text())
        if existing.get("config_hash") != digest:
            changed = sorted(
                key for key in set(config) | set(existing.get("config", {}))
                if config.get(key) != existing.get("config", {}).get(key)
            )
            raise BenchmarkError(
                f"{out} holds a benchmark with config hash {existing.get('config_hash')}, this one has {digest} "
                f"(differs in: {', '.join(changed) or 'unknown'}); choose another --out to keep results apart"
            )
    else:
        out.mkdir(parents=True, exist_ok=True)
        _write_json(path, {"config_hash": digest, "config": config})
    return digest


def load_result(run_dir: Path, digest: str) -> dict[str, Any] | None:
    """A finished run's result dict, or None when the run has not finished."""
    path = run_dir / RESULT_FILE
    if not path.exists():
        return None
    result = json.loads(path.read_text())
    if result.get("config_hash") != digest:
        raise BenchmarkError(f"{path} belongs to config {result.get('config_hash')}, not {digest}")
    return result


def save_weights(algo: Any, path: Path) -> None:
    """State dicts of the algo's torch modules (no optimizer state), loadable with ``weights_only=True``."""
    torch.save({name: m.state_dict() for name, m in algo.impl.modules.get_torch_modules().items()}, path)


def load_weights(algo: Any, path: Path) -> None:
    """Load weights written by :func:`save_weights` into an algo of the same architecture."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    for name, module in algo.impl.modules.get_torch_modules().items():
        module.load_state_dict(state[name])


# ---------------------------------------------------------------------------------------------- one run


class _MetricsFileAdapter(FileAdapter):
    """d3rlpy's CSV logger without its per-parameter gradient files (dozens per run, unused here)."""

    def watch_model(self, epoch: int, step: int) -> None:
        pass


class _MetricsFileAdapterFactory(FileAdapterFactory):
    def create(self, algo: Any, experiment_name: str, n_steps_per_epoch: int) -> FileAdapter:
        return _MetricsFileAdapter(algo, os.path.join(self._root_dir, experiment_name))


@dataclass(frozen=True)
class _Settings:
    steps: int
    eval_every: int
    ks: tuple[int, ...]
    top_n: int
    select_by: str
    device: str
    progress: bool


def _evaluate(algo: Any, dataset: Any, split: str, ks: Sequence[int]) -> dict[str, float]:
    from recgym.evaluation import evaluate

    return {k: float(v) for k, v in evaluate(algo, dataset, split=split, ks=ks).items()}


def _train_run(
    label: str, config: LearnableConfig, seed: int, dataset: Any, run_dir: Path, settings: _Settings, digest: str
) -> dict[str, Any]:
    """Train one agent with one seed from scratch, select on val, evaluate the kept checkpoints on test."""
    shutil.rmtree(run_dir, ignore_errors=True)
    checkpoints = run_dir / "checkpoints"
    checkpoints.mkdir(parents=True)
    d3rlpy.seed(seed)
    algo = config.create(device=settings.device)
    n_epochs = settings.steps // settings.eval_every
    curve: list[dict[str, Any]] = []
    kept: set[int] = set()
    val_seconds = 0.0
    started = time.perf_counter()
    fitter = algo.fitter(
        dataset.to_d3rlpy("train"),
        n_steps=settings.steps,
        n_steps_per_epoch=settings.eval_every,
        experiment_name="d3rlpy",
        with_timestamp=False,
        logger_adapter=_MetricsFileAdapterFactory(root_dir=str(run_dir)),
        show_progress=settings.progress,
        save_interval=n_epochs + 1,  # never: checkpoints are written below, weights only
    )
    for epoch, logged in fitter:
        step = epoch * settings.eval_every
        tick = time.perf_counter()
        val = {k: v for k, v in _evaluate(algo, dataset, "val", settings.ks).items() if not k.startswith("n_")}
        val_seconds += time.perf_counter() - tick
        train = {f"train/{k}": float(v) for k, v in logged.items() if not k.startswith("time_")}
        curve.append({"step": step, "epoch": epoch, **val, **train})
        save_weights(algo, checkpoints / f"step{step}.pt")
        kept.add(step)
        keep = set(select_steps(pd.DataFrame(curve), settings.select_by, settings.top_n))
        for stale in kept - keep:
            (checkpoints / f"step{stale}.pt").unlink()
        kept = keep
    fitted = time.perf_counter()
    ranked = select_steps(pd.DataFrame(curve), settings.select_by, settings.top_n)
    test = {}
    for step in ranked:
        load_weights(algo, checkpoints / f"step{step}.pt")
        test[step] = _evaluate(algo, dataset, "test", settings.ks)
    for step in ranked[1:]:  # the table is computed; only the best model is worth its disk space
        (checkpoints / f"step{step}.pt").unlink()
    result = {
        "config_hash": digest,
        "agent": label,
        "seed": seed,
        "finished": True,
        "device": settings.device,
        "select_by": settings.select_by,
        "selected_steps": ranked,
        "selections": summarize_run(test, ranked, settings.top_n),
        "test": {str(step): metrics for step, metrics in test.items()},
        "curve": curve,
        "train_seconds": fitted - started - val_seconds,
        "val_seconds": val_seconds,
        "test_seconds": time.perf_counter() - fitted,
    }
    _write_json(run_dir / RESULT_FILE, result)
    return result


# ---------------------------------------------------------------------------------------------- whole benchmark


def run_benchmark(
    dataset: Any,
    agents: Sequence[AgentSpec] | Mapping[str, AgentSpec],
    *,
    seeds: int | Sequence[int] = 5,
    steps: int,
    eval_every: int,
    device: str = "cpu",
    out: str | os.PathLike[str],
    ks: Sequence[int] = (5, 10, 20),
    top_n_checkpoints: int = 5,
    select_by: str | None = None,
    preset: str | None = None,
    agent_options: Mapping[str, Any] | None = None,
    progress: bool = True,
    **dataset_options: Any,
) -> BenchmarkResult:
    """Train every agent with every seed, select checkpoints on val, report test; resumable (see module doc).

    ``dataset``: "synthetic" / "rc15" / "retailrocket", a path (both loaded with ``recgym.load_dataset(dataset,
    **dataset_options)``), or a ``SessionDataset``. ``agents``: a list of specs (labelled by name or d3rlpy type)
    or a mapping label -> spec; a spec is a registered name (``agents.make_config(name, dataset=preset,
    n_items=...)``, ``preset`` defaulting to the dataset's name when it is one of the presets, else "synthetic"),
    a d3rlpy ``LearnableConfig`` or "module:ConfigClass"; ``agent_options`` (e.g. ``{"hidden_size": 32}``) override
    the preset of every agent given by name. ``seeds``: a count (seeds 0..n-1) or explicit seeds.
    ``steps`` must be a multiple of ``eval_every`` (one evaluation per d3rlpy epoch). ``select_by`` defaults to
    ``reward@<max k>``.
    """
    from agents import PRESETS
    from recgym import __version__
    from recgym.plotting import plot_results

    seed_list = list(range(seeds)) if isinstance(seeds, int) else [int(s) for s in seeds]
    ks = tuple(sorted(int(k) for k in ks))
    select_by = select_by or f"reward@{ks[-1]}"
    if not seed_list or len(set(seed_list)) != len(seed_list):
        raise BenchmarkError(f"seeds must be a positive count or distinct integers, got {seeds!r}")
    if eval_every < 1 or steps < eval_every or steps % eval_every:
        raise BenchmarkError(f"steps ({steps}) must be a positive multiple of eval_every ({eval_every})")
    if top_n_checkpoints < 1:
        raise BenchmarkError(f"top_n_checkpoints must be >= 1, got {top_n_checkpoints}")
    if select_by not in val_metrics(ks):
        raise BenchmarkError(f"select_by must be one of {val_metrics(ks)}, got {select_by!r}")

    data, data_description = _load(dataset, dataset_options, progress)
    preset = preset or (data.name if data.name in PRESETS else "synthetic")
    specs = resolve_agents(agents, preset=preset, n_items=int(data.n_items), agent_options=agent_options)
    config = {
        "dataset": data_description,
        "agent_preset": preset,
        "agents": {label: describe_config(cfg, spec) for label, (cfg, spec) in specs.items()},
        "seeds": seed_list,
        "steps": int(steps),
        "eval_every": int(eval_every),
        "ks": list(ks),
        "top_n_checkpoints": int(top_n_checkpoints),
        "select_by": select_by,
        "recgym_version": __version__,
        "d3rlpy_version": d3rlpy.__version__,
    }
    out_dir = Path(out)
    digest = _claim_folder(out_dir, config)
    settings = _Settings(int(steps), int(eval_every), ks, int(top_n_checkpoints), select_by, device, progress)

    plan = [(label, seed) for seed in seed_list for label in specs]
    results = {key: load_result(_run_dir(out_dir, *key), digest) for key in plan}
    done = sum(result is not None for result in results.values())
    with tqdm(total=len(plan), initial=done, desc="benchmark runs", unit="run", disable=not progress) as bar:
        for label, seed in plan:
            if results[label, seed] is not None:
                continue
            bar.set_postfix_str(f"{label} seed {seed}")
            results[label, seed] = _train_run(
                label, specs[label][0], seed, data, _run_dir(out_dir, label, seed), settings, digest
            )
            _write_curves(out_dir, [r for r in results.values() if r is not None])
            bar.update()

    finished = [results[key] for key in plan]
    curves = _write_curves(out_dir, finished)
    runs = runs_table(finished)
    metrics = table_metrics(ks)
    table = aggregate(runs, metrics)
    table.to_csv(out_dir / "results.csv", index=False)
    header = (
        f"# Benchmark on {data.name} (config {digest})\n\n"
        f"Test metrics of checkpoints selected on val by {select_by}: mean ± sample std over seeds {seed_list}; "
        f"{steps} steps, evaluated every {eval_every}; best = the best val checkpoint, "
        f"top{top_n_checkpoints} = mean of the {top_n_checkpoints} best."
    )
    dynamics_metrics = list(dict.fromkeys([select_by, "purchase/hr@20", "click/hr@20"]))
    dynamics = training_dynamics(curves, [m for m in dynamics_metrics if m in curves])
    dynamics.to_csv(out_dir / "dynamics.csv", index=False)
    (out_dir / "results.md").write_text(format_markdown(table, metrics, header) + "\n" + format_dynamics(dynamics))
    figures = tuple(plot_results(out_dir))
    return BenchmarkResult(out_dir, digest, curves, runs, table, figures)


def _run_dir(out: Path, label: str, seed: int) -> Path:
    return out / "runs" / label / f"seed{seed}"


def _write_curves(out: Path, results: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    curves = curves_table(results)
    tmp = out / "curves.csv.tmp"
    curves.to_csv(tmp, index=False)
    os.replace(tmp, out / "curves.csv")
    return curves
