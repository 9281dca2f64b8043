"""One run of the benchmark: an agent and a seed, trained from scratch (or a baseline, evaluated once), selected on
val and reported on test. Every run writes its folder the same way, ``result.json`` last.

A training run saves its training state every ``state_every`` evaluations (:mod:`recgym.benchmark.training_state`);
run again after an interruption, it goes on from the last saved state to the numbers of an uninterrupted run."""

from __future__ import annotations

import functools
import shutil
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import d3rlpy
import pandas as pd
from d3rlpy.logging import LOG

from recgym.benchmark.loggers import logger_factory
from recgym.benchmark.report import select_steps, summarize_run
from recgym.benchmark.specs import ResolvedAgent
from recgym.benchmark.store import RESULT_FILE, write_json
from recgym.benchmark.training_state import (
    TRAINING_STATE_FILE,
    float_setting,
    read_training_state,
    restore_training_state,
    save_training_state,
)
from recgym.data.cache import write_npz
from recgym.envs.simulator import UserSimulator
from recgym.evaluation.knn import KNN_PRESETS, SessionKNNPolicy
from recgym.evaluation.offline import PopularityPolicy, RandomPolicy, evaluate, evaluate_sessions
from recgym.evaluation.online import OraclePolicy, evaluate_online
from recgym.evaluation.overestimation import has_q_function, q_bias
from recgym.saving import load_model, save_model
from recgym.worlds.fitted import FittedWorld, load_world

__all__ = ["ONLINE_METRICS", "SESSIONS_FILE", "RunSettings", "run_one", "val_curve"]


@dataclass(frozen=True)
class RunSettings:
    """What every run of a benchmark shares."""

    steps: int
    eval_every: int
    ks: tuple[int, ...]
    top_n: int
    select_by: str
    device: str
    progress: bool
    online: Mapping[str, Any] | None = None
    """``evaluate_online`` options (simulated sessions and the synthetic world's options), or None: offline only."""
    state_every: int = 1
    """Evaluations between two saves of the training state (and always after the last one); 0: never saved."""
    loggers: tuple[str, ...] = ("file",)
    """Where d3rlpy's training metrics go (:mod:`recgym.benchmark.loggers`); the results never read them."""


_TIMES = ("train_seconds", "val_seconds", "wall_seconds")  # a training run's time so far, in its saved progress

ONLINE_METRICS = ("online/return", "online/clicks_per_session", "online/purchases_per_session")
ONLINE_VAL_SEED, ONLINE_TEST_SEED = 1, 2  # selection and report see different simulated users
FITTED_WORLD = "fitted_world"  # the online options' key of a fitted world's file
SESSIONS_FILE = "test_sessions.npz"  # the best checkpoint's per-session test sums: parts (S, C), session_ids (S,)


@functools.lru_cache(maxsize=2)
def _fitted_world(path: str) -> FittedWorld:
    """The fitted world of ``path``, read once per process (the harness checked its item index)."""
    return load_world(path)


def _evaluate(policy: Any, dataset: Any, split: str, ks: Sequence[int]) -> dict[str, float]:
    return {k: float(v) for k, v in evaluate(policy, dataset, split=split, ks=ks).items()}


def _online(policy: Any, settings: RunSettings, seed: int) -> dict[str, float]:
    if settings.online is None:
        return {}
    options = dict(settings.online)
    if FITTED_WORLD in options:
        options["simulator"] = _fitted_world(options.pop(FITTED_WORLD))
    metrics = evaluate_online(policy, seed=seed, **options)
    return {name: float(metrics[name.partition("/")[2]]) for name in ONLINE_METRICS}


def _val(policy: Any, dataset: Any, settings: RunSettings) -> dict[str, float]:
    offline = {k: v for k, v in _evaluate(policy, dataset, "val", settings.ks).items() if not k.startswith("n_")}
    return {**offline, **_online(policy, settings, ONLINE_VAL_SEED)}


def _test(policy: Any, dataset: Any, settings: RunSettings, parts_file: Path | None = None) -> dict[str, float]:
    """Test metrics (offline and online); with ``parts_file``, also the per-session sums behind the offline ones
    (:func:`~recgym.evaluation.offline.evaluate_sessions`), saved there for the session bootstrap of the report."""
    if parts_file is None:
        offline = _evaluate(policy, dataset, "test", settings.ks)
    else:
        metrics, parts = evaluate_sessions(policy, dataset, "test", settings.ks)
        write_npz(parts_file, {"parts": parts, "session_ids": dataset.split("test").session_ids})
        offline = {k: float(v) for k, v in metrics.items()}
    return {**offline, **_online(policy, settings, ONLINE_TEST_SEED)}


def _q_bias(algo: Any, dataset: Any) -> dict[str, float]:
    """Overestimation on val (:func:`recgym.evaluation.overestimation.q_bias`); empty for an algorithm without a Q function."""
    return q_bias(algo, dataset, "val") if has_q_function(algo) else {}


def run_one(agent: ResolvedAgent, seed: int, dataset: Any, folder: Path, settings: RunSettings, digest: str) -> dict:
    """Run ``agent`` with ``seed`` into ``folder`` and return what ``result.json`` records.

    The folder is wiped first, unless it holds the training state of an interrupted run of this config, which the run
    goes on from.
    """
    state = None if agent.config is None else read_training_state(folder / TRAINING_STATE_FILE, digest, settings.device)
    if state is None:
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
    d3rlpy.seed(seed)
    started = time.perf_counter()
    if agent.config is None:
        outcome = _baseline_run(agent, seed, dataset, folder, settings)
    else:
        outcome = _train_run(agent, dataset, folder, settings, digest, state)
    earlier_seconds = outcome.pop("earlier_wall_seconds", 0.0)
    ranked = outcome.pop("ranked")
    result = {
        "config_hash": digest,
        "agent": agent.label,
        "seed": seed,
        "finished": True,
        **float_setting(settings.device),
        "select_by": settings.select_by,
        "selected_steps": ranked,
        "selections": summarize_run(outcome["test"], ranked, settings.top_n),
        **outcome,
        "test": {str(step): metrics for step, metrics in outcome["test"].items()},
        "wall_seconds": earlier_seconds + time.perf_counter() - started,
    }
    write_json(folder / RESULT_FILE, result)
    (folder / TRAINING_STATE_FILE).unlink(missing_ok=True)
    _keep_best_checkpoint(folder, ranked)
    return result


def _baseline_run(agent: ResolvedAgent, seed: int, dataset: Any, folder: Path, settings: RunSettings) -> dict[str, Any]:
    """A policy without training: one evaluation at step 0 on val, then on test."""
    policy = baseline_policy(agent, seed, dataset, settings)
    curve = [{"step": 0, "epoch": 0, **_val(policy, dataset, settings)}]
    return {"curve": curve, "ranked": [0], "test": {0: _test(policy, dataset, settings, folder / SESSIONS_FILE)}}


def baseline_policy(agent: ResolvedAgent, seed: int, dataset: Any, settings: RunSettings | None) -> Any:
    """The policy of a baseline row; ``settings`` (its online world) is needed by the oracle only."""
    name = agent.baseline
    if name == "popularity":
        return PopularityPolicy(dataset)
    if name == "random":
        return RandomPolicy(dataset.n_items, seed=seed)
    if name in KNN_PRESETS:
        return SessionKNNPolicy(dataset, **{**KNN_PRESETS[name], **agent.options})
    assert name == "oracle" and settings is not None and settings.online is not None  # refused without a world
    if FITTED_WORLD in settings.online:
        return OraclePolicy(_fitted_world(settings.online[FITTED_WORLD]))
    world = {key: value for key, value in settings.online.items() if key not in ("n_sessions", "slate_size")}
    return OraclePolicy(UserSimulator(n_sessions=world.pop("log_sessions"), **world))


def _train_run(
    agent: ResolvedAgent, dataset: Any, folder: Path, settings: RunSettings, digest: str, state: dict[str, Any] | None
) -> dict[str, Any]:
    """Train from scratch or from ``state``, keep the ``top_n`` best val checkpoints, evaluate them on test, keep only
    the best."""
    assert agent.config is not None
    checkpoints = folder / "checkpoints"
    checkpoints.mkdir(exist_ok=True)
    algo = agent.config.create(device=settings.device)
    started = time.perf_counter()  # train_seconds counts the dataset conversion, not the networks' creation, as before
    train = dataset.to_d3rlpy("train")
    progress: dict[str, Any] = {"step": 0, "curve": [], "kept": [], "resumed_at": [], **dict.fromkeys(_TIMES, 0.0)}
    if state is not None:
        algo.build_with_dataset(train)
        progress = restore_training_state(algo, state)
        progress["resumed_at"].append(progress["step"])
        LOG.info("Resumed from the training state.", run=str(folder), step=progress["step"])
    start, curve, kept = progress["step"], progress["curve"], set(progress["kept"])
    earlier = {name: progress[name] for name in _TIMES}
    val_seconds = 0.0
    for row in _evaluations(algo, train, dataset, settings, folder, agent.label, start):
        val_seconds += row.pop("val_seconds")
        step = row["step"]
        curve.append(row)
        save_model(algo, checkpoints / f"step{step}.pt", dataset=dataset)
        kept.add(step)
        keep = set(select_steps(pd.DataFrame(curve), settings.select_by, settings.top_n))
        for stale in kept - keep:  # already gone if an interruption came between this and the state's saving
            (checkpoints / f"step{stale}.pt").unlink(missing_ok=True)
        kept = keep
        elapsed = time.perf_counter() - started
        times = (elapsed - val_seconds, val_seconds, elapsed)
        progress.update(step=step, kept=sorted(kept), **{name: earlier[name] + t for name, t in zip(_TIMES, times)})
        if _saves_state(step, settings):
            save_training_state(folder / TRAINING_STATE_FILE, algo, digest, settings.device, progress)
    fitted = time.perf_counter()
    ranked = select_steps(pd.DataFrame(curve), settings.select_by, settings.top_n)
    test = {}
    for step in ranked:  # the best checkpoint's per-session sums are kept for the report's session bootstrap
        parts_file = folder / SESSIONS_FILE if step == ranked[0] else None
        test[step] = _test(load_model(checkpoints / f"step{step}.pt", settings.device), dataset, settings, parts_file)
    return {
        "curve": curve,
        "ranked": ranked,
        "test": test,
        "train_seconds": earlier["train_seconds"] + fitted - started - val_seconds,
        "val_seconds": earlier["val_seconds"] + val_seconds,
        "test_seconds": time.perf_counter() - fitted,
        "resumed_at": progress["resumed_at"],
        "earlier_wall_seconds": earlier["wall_seconds"],
    }


def _evaluations(
    algo: Any, train: Any, dataset: Any, settings: RunSettings, folder: Path, label: str, start: int = 0
) -> Iterator[dict[str, Any]]:
    """Train ``algo`` from step ``start`` to ``settings.steps`` and yield each val evaluation's curve row (with its
    ``val_seconds``); d3rlpy's logs go to ``folder``."""
    if start >= settings.steps:
        return
    log_folder = "d3rlpy" if start == 0 else f"d3rlpy-from-step{start}"
    shutil.rmtree(folder / log_folder, ignore_errors=True)  # a second interruption before the next evaluation
    epochs = algo.fitter(
        train,
        n_steps=settings.steps - start,
        n_steps_per_epoch=settings.eval_every,
        experiment_name=log_folder,
        with_timestamp=False,
        logger_adapter=logger_factory(settings.loggers, folder, f"{label}/{folder.name}"),
        show_progress=settings.progress,
        save_interval=settings.steps + 1,  # never: checkpoints are written by the caller, as safe model files
    )
    for epoch, logged in epochs:
        step = start + epoch * settings.eval_every
        tick = time.perf_counter()
        val = {**_val(algo, dataset, settings), **_q_bias(algo, dataset)}
        seconds = time.perf_counter() - tick
        train_metrics = {f"train/{k}": float(v) for k, v in logged.items() if not k.startswith("time_")}
        yield {"step": step, "epoch": step // settings.eval_every, **val, **train_metrics, "val_seconds": seconds}


def val_curve(
    agent: ResolvedAgent,
    seed: int,
    dataset: Any,
    folder: Path,
    settings: RunSettings,
    on_evaluation: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """The val curve of ``agent`` trained with ``seed`` (a baseline: its one evaluation at step 0), as
    :func:`run_one` would record it, without checkpoints, training state or any test evaluation (what a tuner
    selects on); d3rlpy's logs go to ``folder`` when ``settings.loggers`` name any. ``on_evaluation`` sees each row
    as it comes (a tuner's pruning raises from it)."""
    d3rlpy.seed(seed)
    if agent.config is None:
        rows: Iterable[dict[str, Any]] = [
            {"step": 0, "epoch": 0, **_val(baseline_policy(agent, seed, dataset, settings), dataset, settings)}
        ]
    else:
        algo = agent.config.create(device=settings.device)
        rows = _evaluations(algo, dataset.to_d3rlpy("train"), dataset, settings, folder, agent.label)
    curve = []
    for row in rows:
        row.pop("val_seconds", None)
        curve.append(row)
        if on_evaluation is not None:
            on_evaluation(row)
    return curve


def _saves_state(step: int, settings: RunSettings) -> bool:
    """Whether the evaluation at ``step`` saves the training state. A checkpoint deleted since the last save is safe
    to lose: the resumed run replays the same curve, and a checkpoint out of the best ``top_n`` never returns."""
    if settings.state_every == 0:
        return False
    return step == settings.steps or (step // settings.eval_every) % settings.state_every == 0


def _keep_best_checkpoint(folder: Path, ranked: list[int]) -> None:
    """Once the result is written, only the best model is worth its disk space."""
    for step in ranked[1:]:
        (folder / "checkpoints" / f"step{step}.pt").unlink(missing_ok=True)
