"""One run of the benchmark: an agent and a seed, trained from scratch (or a baseline, evaluated once), selected on
val and reported on test. Every run writes its folder the same way, ``result.json`` last."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import d3rlpy
import pandas as pd
import torch
from d3rlpy.logging import FileAdapter, FileAdapterFactory

from recgym.benchmark.report import select_steps, summarize_run
from recgym.benchmark.specs import ResolvedAgent
from recgym.benchmark.store import RESULT_FILE, write_json
from recgym.envs.online import UserSimulator
from recgym.evaluation import PopularityPolicy, RandomPolicy, evaluate
from recgym.online import OraclePolicy, evaluate_online
from recgym.q_bias import has_q_function, q_bias
from recgym.saving import load_model, save_model

__all__ = ["ONLINE_METRICS", "RunSettings", "run_one"]


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


ONLINE_METRICS = ("online/return", "online/clicks_per_session", "online/purchases_per_session")
ONLINE_VAL_SEED, ONLINE_TEST_SEED = 1, 2  # selection and report see different simulated users


class _MetricsFileAdapter(FileAdapter):
    """d3rlpy's CSV logger without its per-parameter gradient files (dozens per run, unused here)."""

    def watch_model(self, epoch: int, step: int) -> None:
        pass


class _MetricsFileAdapterFactory(FileAdapterFactory):
    def create(self, algo: Any, experiment_name: str, n_steps_per_epoch: int) -> FileAdapter:
        return _MetricsFileAdapter(algo, os.path.join(self._root_dir, experiment_name))


def _evaluate(policy: Any, dataset: Any, split: str, ks: Sequence[int]) -> dict[str, float]:
    return {k: float(v) for k, v in evaluate(policy, dataset, split=split, ks=ks).items()}


def _online(policy: Any, settings: RunSettings, seed: int) -> dict[str, float]:
    if settings.online is None:
        return {}
    metrics = evaluate_online(policy, seed=seed, **settings.online)
    return {name: float(metrics[name.partition("/")[2]]) for name in ONLINE_METRICS}


def _val(policy: Any, dataset: Any, settings: RunSettings) -> dict[str, float]:
    offline = {k: v for k, v in _evaluate(policy, dataset, "val", settings.ks).items() if not k.startswith("n_")}
    return {**offline, **_online(policy, settings, ONLINE_VAL_SEED)}


def _test(policy: Any, dataset: Any, settings: RunSettings) -> dict[str, float]:
    return {**_evaluate(policy, dataset, "test", settings.ks), **_online(policy, settings, ONLINE_TEST_SEED)}


def _q_bias(algo: Any, dataset: Any) -> dict[str, float]:
    """Overestimation on val (:func:`recgym.q_bias.q_bias`); empty for an algorithm without a Q function."""
    return q_bias(algo, dataset, "val") if has_q_function(algo) else {}


def run_one(agent: ResolvedAgent, seed: int, dataset: Any, folder: Path, settings: RunSettings, digest: str) -> dict:
    """Run ``agent`` with ``seed`` into ``folder`` (wiped first) and return what ``result.json`` records."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    d3rlpy.seed(seed)
    started = time.perf_counter()
    if agent.config is None:
        outcome = _baseline_run(agent, seed, dataset, settings)
    else:
        outcome = _train_run(agent, dataset, folder, settings)
    ranked = outcome.pop("ranked")
    result = {
        "config_hash": digest,
        "agent": agent.label,
        "seed": seed,
        "finished": True,
        "device": settings.device,
        "torch_threads": torch.get_num_threads(),
        "select_by": settings.select_by,
        "selected_steps": ranked,
        "selections": summarize_run(outcome["test"], ranked, settings.top_n),
        **outcome,
        "test": {str(step): metrics for step, metrics in outcome["test"].items()},
        "wall_seconds": time.perf_counter() - started,
    }
    write_json(folder / RESULT_FILE, result)
    return result


def _baseline_run(agent: ResolvedAgent, seed: int, dataset: Any, settings: RunSettings) -> dict[str, Any]:
    """A policy without training: one evaluation at step 0 on val, then on test."""
    policy = _baseline_policy(agent.baseline, seed, dataset, settings)
    curve = [{"step": 0, "epoch": 0, **_val(policy, dataset, settings)}]
    return {"curve": curve, "ranked": [0], "test": {0: _test(policy, dataset, settings)}}


def _baseline_policy(name: str | None, seed: int, dataset: Any, settings: RunSettings) -> Any:
    if name == "popularity":
        return PopularityPolicy(dataset)
    if name == "random":
        return RandomPolicy(dataset.n_items, seed=seed)
    assert name == "oracle" and settings.online is not None  # the harness refuses the oracle without a world
    world = {key: value for key, value in settings.online.items() if key not in ("n_sessions", "slate_size")}
    return OraclePolicy(UserSimulator(n_sessions=world.pop("log_sessions"), **world))


def _train_run(agent: ResolvedAgent, dataset: Any, folder: Path, settings: RunSettings) -> dict[str, Any]:
    """Train from scratch, keep the ``top_n`` best val checkpoints, evaluate them on test, keep only the best."""
    assert agent.config is not None
    checkpoints = folder / "checkpoints"
    checkpoints.mkdir()
    algo = agent.config.create(device=settings.device)
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
        logger_adapter=_MetricsFileAdapterFactory(root_dir=str(folder)),
        show_progress=settings.progress,
        save_interval=n_epochs + 1,  # never: checkpoints are written below, as safe model files
    )
    for epoch, logged in fitter:
        step = epoch * settings.eval_every
        tick = time.perf_counter()
        val = {**_val(algo, dataset, settings), **_q_bias(algo, dataset)}
        val_seconds += time.perf_counter() - tick
        train = {f"train/{k}": float(v) for k, v in logged.items() if not k.startswith("time_")}
        curve.append({"step": step, "epoch": epoch, **val, **train})
        save_model(algo, checkpoints / f"step{step}.pt", dataset=dataset)
        kept.add(step)
        keep = set(select_steps(pd.DataFrame(curve), settings.select_by, settings.top_n))
        for stale in kept - keep:
            (checkpoints / f"step{stale}.pt").unlink()
        kept = keep
    fitted = time.perf_counter()
    ranked = select_steps(pd.DataFrame(curve), settings.select_by, settings.top_n)
    test = {}
    for step in ranked:
        test[step] = _test(load_model(checkpoints / f"step{step}.pt", settings.device), dataset, settings)
    for step in ranked[1:]:  # the table is computed; only the best model is worth its disk space
        (checkpoints / f"step{step}.pt").unlink()
    return {
        "curve": curve,
        "ranked": ranked,
        "test": test,
        "train_seconds": fitted - started - val_seconds,
        "val_seconds": val_seconds,
        "test_seconds": time.perf_counter() - fitted,
    }
