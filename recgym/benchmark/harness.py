"""The whole benchmark: check every argument, claim the results folder, run what is missing, write the report."""

from __future__ import annotations

import functools
import json
import os
import warnings
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import d3rlpy
import pandas as pd
import torch
from tqdm.auto import tqdm

from agents import PRESETS, PresetFile, read_preset_file
from recgym.benchmark.ablation import ablation_rows
from recgym.benchmark.executors import Unit, make_executor
from recgym.benchmark.loggers import check_loggers
from recgym.benchmark.plotting import plot_results
from recgym.benchmark.report import (
    ablation_steps,
    aggregate,
    compare,
    curves_table,
    format_ablation,
    format_comparison,
    format_dynamics,
    format_markdown,
    format_session_tables,
    offline_metrics,
    session_tables,
    table_metrics,
    training_dynamics,
    val_metrics,
)
from recgym.benchmark.results import read_runs
from recgym.benchmark.runner import FITTED_WORLD, ONLINE_METRICS, RunSettings
from recgym.benchmark.specs import AgentSpec, BenchmarkError, describe_agent, resolve_agents
from recgym.benchmark.store import (
    CONFIG_FILE,
    claim_folder,
    config_hash,
    folder_lock,
    json_default,
    load_result,
    run_dir,
    write_curves,
)
from recgym.benchmark.validity import format_validity, validity_tables
from recgym.checks import check_number
from recgym.data.cache import file_fingerprint
from recgym.data.dataset import SessionDataset
from recgym.data.slate_log import is_slate_log
from recgym.datasets import load_dataset
from recgym.envs.mechanics import WORLD_PRESETS
from recgym.envs.registration import SYNTHETIC_SESSIONS
from recgym.version import __version__
from recgym.worlds.fitted import load_world

__all__ = [
    "DEFAULT_BASELINE",
    "FOLD_PREFIX",
    "BenchmarkResult",
    "check_device",
    "load_for_benchmark",
    "run_benchmark",
    "write_report",
    "write_splits_report",
]

DEFAULT_BASELINE = "sasrec"


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
    """``runs`` aggregated over seeds with 95% intervals (``results.csv``)."""
    comparison: pd.DataFrame
    """Every agent against the reference agent (``comparison.csv``; empty without one)."""
    figures: tuple[Path, ...]


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
    baseline: str | None = DEFAULT_BASELINE,
    preset: str | os.PathLike[str] | None = None,
    agent_options: Mapping[str, Any] | None = None,
    grid: Mapping[str, Sequence[Any]] | None = None,
    executor: str = "local",
    jobs: int = 1,
    ray_address: str | None = None,
    online: int | None = None,
    world: str | os.PathLike[str] | None = None,
    state_every: int = 1,
    loggers: Sequence[str] = ("file",),
    progress: bool = True,
    splits: int = 1,
    ablate: str | None = None,
    ablation_reference: str = "sasrec",
    **dataset_options: Any,
) -> BenchmarkResult:
    """Train every agent with every seed, select checkpoints on val, report test; resumable (see the package doc).

    ``dataset``: "synthetic" / "rc15" / "retailrocket", a path (both loaded with ``recgym.load_dataset(dataset,
    **dataset_options)``), or a ``SessionDataset``. ``agents``: a list of specs or a mapping label -> spec
    (:mod:`recgym.benchmark.specs`); named agents take the ``preset`` (a name of ``agents.PRESETS``, default: the
    dataset's name when it is one, else "synthetic"; or a preset file, e.g. ``recgym tune``'s ``preset.json``); ``agent_options`` are ``-a`` options and ``grid`` maps an option key to the values
    crossed with the agents (each point a row, :mod:`recgym.benchmark.specs`). ``executor`` runs the (agent, seed)
    units: "local" (sequential, or ``jobs`` processes) or "ray" (``ray_address``; :mod:`recgym.benchmark.executors`);
    every unit writes its run folder the same way, so resume and tables do not depend on it. ``seeds``: a count
    (seeds 0..n-1) or explicit seeds. ``steps`` must be a multiple of ``eval_every`` (one evaluation per d3rlpy
    epoch). ``select_by`` defaults to ``reward@<max k>``. ``baseline``: the label every other agent is compared
    with (skipped when it is the default and not in the run; None: no comparison). ``online``: a number of
    simulated sessions; with the synthetic dataset, every val evaluation and every test report also measures what
    the policy earns online (:func:`recgym.evaluate_online` in the world that wrote the logs: return, clicks and
    purchases per session; val and test see different simulated users), as columns and curves ``online/...``.
    ``world``: with ``online``, another world to evaluate in: a preset of the synthetic world's mechanics
    (``"longterm"``; the synthetic dataset only), or the path of a world fitted to this dataset
    (:func:`recgym.worlds.fit_world`, ``recgym calibrate``), which any dataset can be evaluated in.
    ``state_every``: evaluations between two saves of a run's training state, which an interrupted run resumes from
    (always saved after the last evaluation; 0: never, an interrupted run starts over). The state is a few times
    the size of a checkpoint. ``loggers``: where each run's d3rlpy training metrics go, any of "file" (d3rlpy's CSV
    files in the run folder), "tensorboard", "wandb" (:mod:`recgym.benchmark.loggers`); not part of the config.
    ``splits``: with N > 1, session cross-validation: the same benchmark on each of N folds of the log's sessions
    (``n_folds=N, fold=k``, :mod:`recgym.data.protocol`; every session is in exactly one test fold), each into its own
    results folder ``out/fold<k>``, then :func:`write_splits_report` pools them in ``out``.
    ``ablate``: an agent name to ablate instead of ``agents`` (give an empty list): its one-factor ablation against
    ``ablation_reference`` (:mod:`recgym.benchmark.ablation`), compared with its cross-entropy-only row; ``results.md``
    reads each row against the one it changes.
    """
    arguments = {
        key: value for key, value in locals().items() if key not in ("dataset", "out", "splits", "dataset_options")
    }
    check_number("splits", splits, at_least=1, integer=True, error=BenchmarkError)
    if splits > 1:
        return _run_splits(dataset, Path(out), int(splits), arguments, dataset_options)
    seed_list = list(range(seeds)) if isinstance(seeds, int) else [int(s) for s in seeds]
    ks = tuple(sorted(int(k) for k in ks))
    select_by = select_by or f"reward@{ks[-1]}"
    if not seed_list or len(set(seed_list)) != len(seed_list):
        raise BenchmarkError(f"seeds must be a positive count or distinct integers, got {seeds!r}")
    check_number("eval_every", eval_every, at_least=1, integer=True, error=BenchmarkError)
    check_number("steps", steps, at_least=1, integer=True, error=BenchmarkError)
    if steps % eval_every:
        raise BenchmarkError(f"steps ({steps}) must be a positive multiple of eval_every ({eval_every})")
    check_number("state_every (0: never save the training state)", state_every, at_least=0, integer=True,
                 error=BenchmarkError)  # fmt: skip
    check_number("top_n_checkpoints", top_n_checkpoints, at_least=1, integer=True, error=BenchmarkError)
    if select_by not in val_metrics(ks):
        raise BenchmarkError(f"select_by must be one of {val_metrics(ks)}, got {select_by!r}")
    check_device(device)
    loggers = check_loggers(loggers)

    from_world = (
        (isinstance(dataset, str) and dataset == "synthetic")
        or is_slate_log(dataset)
        or (isinstance(dataset, SessionDataset) and "world" in dataset.stats())
    )
    if world is not None and online is None:
        raise BenchmarkError("world= (--world) says where to evaluate online: give online= (--online N) too")
    fitted = world is not None and str(world) not in WORLD_PRESETS
    if online is not None and not (from_world or fitted):
        raise BenchmarkError(
            "online evaluation needs a log of a live world: the synthetic dataset, or a recommender's slate log "
            "(recgym worlds log)"
        )
    data, data_description = load_for_benchmark(dataset, dataset_options, progress)
    online_options = _online_options(data, dataset_options, online, world)
    data.require_nonempty("val", "test")
    preset = preset or (data.name if data.name in PRESETS else "synthetic")
    chosen_preset: str | PresetFile = str(preset) if str(preset) in PRESETS else read_preset_file(preset)
    resolve = functools.partial(
        resolve_agents, preset=chosen_preset, n_items=int(data.n_items), state_size=int(data.state_size),
        steps=int(steps), eval_every=int(eval_every),
    )  # fmt: skip
    ablation = None
    if ablate is not None:
        if agents or grid:
            raise BenchmarkError("an ablation builds its own rows: give no agents and no grid beside ablate")
        ablation = ablation_rows(ablate, ablation_reference, lambda rows: resolve(rows, agent_options=agent_options))
        agents = {label: ablate for label, _, _ in ablation}
        agent_options = {**(agent_options or {}), **{f"{label}.{field}": value for label, _, options in ablation
                                                     for field, value in options.items()}}  # fmt: skip
        baseline = ablation[0][0]
    specs = resolve(agents, agent_options=agent_options, grid=grid)
    wide = _wide_selection(int(top_n_checkpoints), int(steps) // int(eval_every))
    if wide and any(spec.config is not None for spec in specs.values()):  # baselines have one evaluation
        warnings.warn(f"recgym: {wide}", UserWarning, stacklevel=2)
    if online_options is None and any(spec.baseline == "oracle" for spec in specs.values()):
        raise BenchmarkError("the oracle baseline needs online evaluation (--online) in the synthetic world")
    executor_fn = make_executor(executor, jobs=jobs, ray_address=ray_address)
    if baseline is not None and baseline not in specs:
        if baseline != DEFAULT_BASELINE:
            raise BenchmarkError(f"baseline {baseline!r} is not an agent of this run ({', '.join(specs)})")
        baseline = None
    config = {
        "dataset": data_description,
        "agent_preset": chosen_preset.describe() if isinstance(chosen_preset, PresetFile) else chosen_preset,
        "agents": {label: describe_agent(agent) for label, agent in specs.items()},
        "seeds": seed_list,
        "steps": int(steps),
        "eval_every": int(eval_every),
        "ks": list(ks),
        "top_n_checkpoints": int(top_n_checkpoints),
        "select_by": select_by,
        "recgym_version": __version__,
        "d3rlpy_version": d3rlpy.__version__,
    }
    if grid:  # only then, so that folders of runs without a grid keep their hash
        config["grid"] = {key: list(values) for key, values in grid.items()}
    if ablation is not None:
        config["ablation"] = {"agent": ablate, "reference": ablation_reference,
                              "rows": [[label, against] for label, against, _ in ablation]}  # fmt: skip
    if online_options is not None:
        config["online"] = {"n_sessions": online_options["n_sessions"], "slate_size": online_options["slate_size"]}
        if world is not None:  # only then, so that folders evaluated in the logs' own world keep their hash
            config["online"]["world"] = {"fitted": file_fingerprint(Path(world), {})} if fitted else str(world)
    out_dir = Path(out)
    with folder_lock(out_dir):
        digest = claim_folder(out_dir, config, data.inputs)
        settings = RunSettings(
            int(steps), int(eval_every), ks, int(top_n_checkpoints), select_by, device, progress, online_options,
            int(state_every), loggers,
        )  # fmt: skip

        plan = [(label, seed) for seed in seed_list for label in specs]
        results = {key: load_result(run_dir(out_dir, *key), digest) for key in plan}
        missing = [
            Unit(specs[label], seed, run_dir(out_dir, label, seed))
            for label, seed in plan
            if results[label, seed] is None
        ]
        with tqdm(total=len(plan), initial=len(plan) - len(missing), desc="benchmark runs", unit="run",
                  disable=not progress) as bar:  # fmt: skip
            for result in executor_fn(missing, data, settings, digest):
                results[result["agent"], result["seed"]] = result
                write_curves(out_dir, curves_table([r for r in results.values() if r is not None]))
                bar.update()

        return write_report(out_dir, baseline=baseline)


def write_report(out: str | os.PathLike[str], *, baseline: str | None = DEFAULT_BASELINE) -> BenchmarkResult:
    """Write the tables and figures of a results folder from its ``config.json`` and the runs that have finished.

    ``run_benchmark`` calls it at the end; called on a folder whose benchmark is still running or was interrupted
    (``recgym report DIR``), it reports the finished runs and says in ``results.md`` how many are missing. On the
    folder of a cross-validated benchmark (``splits``) it writes :func:`write_splits_report`.
    """
    if not (Path(out) / CONFIG_FILE).exists() and (Path(out) / f"{FOLD_PREFIX}0" / CONFIG_FILE).exists():
        return write_splits_report(out, baseline=baseline)  # a cross-validated benchmark's folder
    folder = read_runs(out)
    out_dir, config, digest, finished = folder.out_dir, folder.config, folder.config_hash, folder.finished
    if not finished:
        raise BenchmarkError(f"{out_dir}: no run has finished yet")
    baseline = _ablation_baseline(config, baseline)
    if baseline is not None and baseline not in config["agents"]:
        if baseline != DEFAULT_BASELINE:
            raise BenchmarkError(f"baseline {baseline!r} is not an agent of {out_dir} ({', '.join(config['agents'])})")
        baseline = None
    curves, runs = folder.curves(), folder.runs()
    write_curves(out_dir, curves)
    select_by, top_n = config["select_by"], config["top_n_checkpoints"]
    offline = offline_metrics(config)
    metrics, table, comparison = _write_tables(out_dir, config, runs, baseline)
    name = config["dataset"]["stats"].get("name", config["dataset"]["source"])
    header = (
        f"# Benchmark on {name} (config {digest})\n\n"
        f"Test metrics of checkpoints selected on val by {select_by}: mean [95% Student-t CI] over seeds "
        f"{config['seeds']}; {config['steps']} steps, evaluated every {config['eval_every']}; best = the best val "
        f"checkpoint, top{top_n} = mean of the {top_n} best. Baselines are evaluated once, untrained. "
        f"{_float_settings(finished)}"
    )
    wide = _wide_selection(int(top_n), int(config["steps"]) // int(config["eval_every"]))
    if wide and any("class" in agent for agent in config["agents"].values()):
        header += f"\n\n**Note:** {wide}."
    spanning = _phase_spans(config, finished, int(top_n))
    if spanning:
        note = (
            f"top{top_n} mixes checkpoints from before and after the phase switch (switch_step) in {len(spanning)} "
            f"run(s): {', '.join(spanning)}; read best beside it"
        )
        warnings.warn(f"recgym: {out_dir}: {note}", UserWarning, stacklevel=2)
        header += f"\n\n**Note:** {note}."
    if not folder.complete:
        header += (
            f"\n\n**Partial: {len(finished)} of {len(folder.planned)} runs have finished**; rerun the benchmark's command to "
            "resume the others (the n_seeds column says how many seeds each row has)."
        )
    dynamics_metrics = list(dict.fromkeys([select_by, "purchase/hr@20", "click/hr@20"]))
    dynamics = training_dynamics(curves, [m for m in dynamics_metrics if m in curves])
    dynamics.to_csv(out_dir / "dynamics.csv", index=False)
    sections = [format_markdown(table, metrics, header)]
    if baseline is not None:
        sections.append(format_comparison(comparison, metrics, baseline))
    sections += _session_sections(out_dir, config, [folder.session_parts()], baseline)
    sections.append(format_dynamics(dynamics))
    if "online" in config:
        baselines = [label for label, agent in config["agents"].items() if agent.get("baseline")]
        sections.append(_write_validity(out_dir, finished, offline, baselines))
    (out_dir / "results.md").write_text("\n".join(sections))
    figures = tuple(plot_results(out_dir))
    return BenchmarkResult(out_dir, digest, curves, runs, table, comparison, figures)


def _write_tables(
    out_dir: Path, config: Mapping[str, Any], runs: pd.DataFrame, baseline: str | None
) -> tuple[list[str], pd.DataFrame, pd.DataFrame]:
    """The metrics of a folder's tables, and its ``results.csv`` and ``comparison.csv`` (written)."""
    metrics = offline_metrics(config) + (list(ONLINE_METRICS) if "online" in config else [])
    table = aggregate(runs, metrics)
    table.to_csv(out_dir / "results.csv", index=False)
    comparison = compare(runs, metrics, baseline)
    comparison.to_csv(out_dir / "comparison.csv", index=False)
    return metrics, table, comparison


def _session_sections(
    out_dir: Path,
    config: Mapping[str, Any],
    folds: Sequence[Mapping[str, Sequence[Any]] | None],
    baseline: str | None,
) -> list[str]:
    """The ``results.md`` sections of the session bootstrap over ``folds`` (none where a fold's runs have no
    per-session files), writing ``sessions.csv`` and ``sessions_comparison.csv``; and an ablation folder's section
    (``ablation.csv``)."""
    sections = []
    complete = [parts for parts in folds if parts is not None] if all(p is not None for p in folds) else []
    if complete:
        ranking = table_metrics(config["ks"])
        cells, paired = session_tables(complete, config["ks"], ranking, baseline)
        cells.to_csv(out_dir / "sessions.csv", index=False)
        paired.to_csv(out_dir / "sessions_comparison.csv", index=False)
        sections.append(format_session_tables(cells, paired, ranking, baseline, n_folds=len(complete)))
    if "ablation" in config:
        shown = [config["select_by"]] + [f"{kind}/hr@{max(config['ks'])}" for kind in ("purchase", "click")]
        metrics = list(dict.fromkeys(shown))
        pairs = [(label, against) for label, against in config["ablation"]["rows"] if against is not None]
        steps = ablation_steps(complete, config["ks"], metrics, pairs) if complete else None
        if steps is not None:
            steps.to_csv(out_dir / "ablation.csv", index=False)
        sections.append(format_ablation(config, steps, metrics))
    return sections


def _run_splits(
    dataset: Any, out: Path, splits: int, arguments: Mapping[str, Any], dataset_options: Mapping[str, Any]
) -> BenchmarkResult:
    """One benchmark per session fold into ``out/fold<k>``, then the pooled report."""
    if isinstance(dataset, SessionDataset) or is_slate_log(dataset):
        raise BenchmarkError(
            "splits re-split the log: give the dataset by name or path, not a loaded dataset or slate log"
        )
    given = sorted({"n_folds", "fold"} & set(dataset_options))
    if given:
        raise BenchmarkError(f"splits sets the folds itself: drop {', '.join(given)}")
    for fold in range(splits):
        run_benchmark(dataset, out=out / f"{FOLD_PREFIX}{fold}", n_folds=splits, fold=fold, **arguments,
                      **dataset_options)  # fmt: skip
    return write_splits_report(out, baseline=arguments["baseline"])


FOLD_PREFIX = "fold"
"""The results folder of session fold k of a cross-validated benchmark is ``out/fold<k>``."""


def write_splits_report(out: str | os.PathLike[str], *, baseline: str | None = DEFAULT_BASELINE) -> BenchmarkResult:
    """Pool the fold folders of a cross-validated benchmark (``out/fold<k>``): ``results.md`` / ``results.csv`` over
    every run of every fold (seeds × folds, Student-t intervals), the Welch comparison, and the session bootstrap
    stratified by fold. Each fold folder keeps its own report."""
    out_dir = Path(out)
    folders = sorted(
        out_dir.glob(f"{FOLD_PREFIX}*/config.json"), key=lambda path: int(path.parent.name[len(FOLD_PREFIX) :])
    )
    if not folders:
        raise BenchmarkError(f"{out_dir}: no fold folder ({FOLD_PREFIX}0, ...) with a config.json")
    folds = [read_runs(path.parent) for path in folders]
    config = folds[0].config
    baseline = _ablation_baseline(config, baseline)
    if baseline is not None and baseline not in config["agents"]:
        baseline = None
    runs = pd.concat([fold.runs().assign(fold=index) for index, fold in enumerate(folds) if fold.finished])
    curves = pd.concat([fold.curves().assign(fold=index) for index, fold in enumerate(folds) if fold.finished])
    metrics, table, comparison = _write_tables(out_dir, config, runs, baseline)
    name = config["dataset"]["stats"].get("name", config["dataset"]["source"])
    header = (
        f"# Benchmark on {name} over {len(folds)} session folds\n\n"
        f"Each fold is its own results folder ({', '.join(path.parent.name for path in folders)}). Test metrics of "
        f"checkpoints selected on val by {config['select_by']}: mean [95% Student-t CI] over every run of every "
        f"fold (seeds {config['seeds']} × {len(folds)} folds); {config['steps']} steps, evaluated every "
        f"{config['eval_every']}."
    )
    finished = sum(len(fold.finished) for fold in folds)
    planned = sum(len(fold.planned) for fold in folds)
    if finished < planned:
        header += f"\n\n**Partial: {finished} of {planned} runs have finished**; rerun the command to resume."
    sections = [format_markdown(table, metrics, header)]
    if baseline is not None:
        sections.append(format_comparison(comparison, metrics, baseline))
    sections += _session_sections(out_dir, config, [fold.session_parts() for fold in folds], baseline)
    (out_dir / "results.md").write_text("\n".join(sections))
    digest = config_hash({"folds": [fold.config_hash for fold in folds]})
    return BenchmarkResult(out_dir, digest, curves, runs, table, comparison, ())


def _ablation_baseline(config: Mapping[str, Any], baseline: str | None) -> str | None:
    """An ablation folder's first row in place of the default baseline (which it does not have)."""
    if "ablation" in config and baseline == DEFAULT_BASELINE and baseline not in config["agents"]:
        return str(config["ablation"]["rows"][0][0])
    return baseline


def _phase_spans(config: Mapping[str, Any], finished: Sequence[Mapping[str, Any]], top_n: int) -> list[str]:
    """The runs whose top-n checkpoints lie on both sides of their agent's phase switch (a checkpoint at the switch
    step closes the first phase)."""
    spans = []
    for result in finished:
        switch = config["agents"][result["agent"]].get("params", {}).get("switch_step")
        steps = result.get("selected_steps", [])[:top_n]
        if switch and steps and min(steps) <= switch < max(steps):
            spans.append(f"{result['agent']} seed {result['seed']}")
    return spans


def _wide_selection(top_n: int, evaluations: int) -> str:
    """A sentence when the top-n selection averages more than a quarter of a run's evaluations, else '' (top1 is the
    best checkpoint: it averages nothing)."""
    if top_n == 1 or 4 * top_n <= evaluations:
        return ""
    return (
        f"top{top_n} averages {min(top_n, evaluations)} of the {evaluations} evaluations of a run, more than a quarter: "
        "it mixes phases of training (early and late checkpoints); read it beside best, the val-selected checkpoint"
    )


def _float_settings(finished: Sequence[Mapping[str, Any]]) -> str:
    """Which float settings the runs had (a run reproduces bit for bit only under its own), as a sentence."""
    settings = Counter(
        (r.get("device"), r.get("torch_threads"), r.get("cpu_capability", "instruction set not recorded"))
        for r in finished
    )
    parts = [f"{n} on {device}, {threads} torch thread(s), {isa}" for (device, threads, isa), n in settings.items()]
    return f"Runs ({'; '.join(parts)}) reproduce bit for bit under the same setting."


def _write_validity(
    out_dir: Path, finished: Sequence[Mapping[str, Any]], metrics: Sequence[str], baselines: Sequence[str]
) -> str:
    """``validity_*.csv`` (offline metrics against the online return) and their ``results.md`` section."""
    tables = validity_tables(finished, metrics, baselines)
    tables.points.to_csv(out_dir / "validity_points.csv", index=False)
    tables.across.merge(tables.within, on="metric", suffixes=("", "_within")).to_csv(
        out_dir / "validity_correlations.csv", index=False
    )
    tables.board.to_csv(out_dir / "validity_leaderboard.csv", index=False)
    if tables.selection is not None:
        tables.selection.to_csv(out_dir / "validity_selection.csv", index=False)
    return format_validity(tables)


def check_device(device: str) -> None:
    """Refuse a device this torch cannot use before any data is prepared."""
    try:
        torch.empty(0, device=device)
    except (RuntimeError, AssertionError) as error:  # torch raises AssertionError for CUDA on a CPU-only build
        raise BenchmarkError(f"device {device!r} is not usable here: {str(error).strip().splitlines()[0]}") from error


def _online_options(
    data: SessionDataset, options: Mapping[str, Any], n_sessions: int | None, world: str | os.PathLike[str] | None
) -> dict[str, Any] | None:
    """``evaluate_online`` options for the world that wrote ``data`` (the synthetic generator's with the dataset
    ``options``, or the world recorded on a recommender's slate log, with its slate size), a preset of the synthetic
    world's mechanics (``world``), or the fitted world of the file ``world``."""
    if n_sessions is None:
        return None
    check_number("online (simulated sessions)", n_sessions, at_least=2, integer=True, error=BenchmarkError)
    card = data.stats().get("world")
    if world is not None and str(world) not in WORLD_PRESETS:
        load_world(world, data)  # a damaged file or another item index: one line, before any run
        slate_size = int(data.stats().get("slate_size", 20))  # a slate log's own, else 20
        return {"n_sessions": n_sessions, "slate_size": slate_size, FITTED_WORLD: str(Path(world).resolve())}
    if card is None:  # the synthetic generator's logs
        settings = {key: value for key, value in options.items() if key != "seed"}  # the split seed is not the world's
        log_sessions = settings.pop("n_sessions", SYNTHETIC_SESSIONS)
        mechanics = {} if world is None else {"world": str(world)}
        return {"n_sessions": n_sessions, "slate_size": 20, "log_sessions": log_sessions, **settings, **mechanics}
    if world is not None:
        raise BenchmarkError(
            "a slate log is evaluated in the world that wrote it; --world takes a fitted world's file for it"
        )
    if "fitted" in card["options"]:
        raise BenchmarkError(
            "this slate log was written in a world fitted to a log: give that world's file with --world"
        )
    settings = dict(card["options"])
    settings.update(state_size=data.state_size, reward_click=data.reward_click, reward_purchase=data.reward_purchase)
    if options.get("data_dir") is not None:
        settings["data_dir"] = options["data_dir"]
    log_sessions = settings.pop("n_sessions")
    return {
        "n_sessions": n_sessions,
        "slate_size": int(data.stats()["slate_size"]),
        "log_sessions": log_sessions,
        **settings,
    }


def load_for_benchmark(dataset: Any, options: Mapping[str, Any], progress: bool) -> tuple[Any, dict[str, Any]]:
    """The SessionDataset and the JSON-able description of where it came from (``data_dir`` left out).

    ``dataset`` is a ``SessionDataset`` or anything ``recgym.load_dataset`` reads: a name, a path, a list of files,
    {event type: files}, or an in-memory table (described as such; its content hash is among the inputs).
    """
    if isinstance(dataset, SessionDataset):
        if options:
            raise BenchmarkError("dataset options apply only when the dataset is given by name, path or table")
        loaded, source, kept = dataset, None, {}
    else:
        loaded = load_dataset(dataset, progress=progress, **options)
        source = _describe_source(dataset)
        kept = {k: v for k, v in options.items() if k not in ("data_dir", "cache_dir")}
    description = {"source": source, "options": kept, "stats": loaded.stats()}
    return loaded, json.loads(json.dumps(description, default=json_default))


def _describe_source(dataset: Any) -> Any:
    if isinstance(dataset, (str, os.PathLike)):
        return os.fspath(dataset)
    if isinstance(dataset, Mapping):
        return {key: _describe_source(value) for key, value in dataset.items()}
    if isinstance(dataset, (list, tuple)):
        return [_describe_source(value) for value in dataset]
    return f"in-memory {type(dataset).__name__}"
