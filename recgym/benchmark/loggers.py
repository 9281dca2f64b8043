"""Where a training run's d3rlpy metrics go: d3rlpy's CSV files, TensorBoard, Weights & Biases, or several.

The benchmark's own tables never read these logs (each run's curve is recorded in its ``result.json``), so the choice
changes nothing in a results folder's config or numbers. TensorBoard and W&B need their optional packages
(``pip install 'recgym[tensorboard]'`` or ``'recgym[wandb]'``); W&B takes its project, entity and mode from its own
environment variables (``WANDB_PROJECT``, ``WANDB_MODE=offline`` ...).
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from d3rlpy.logging import (
    CombineAdapterFactory,
    FileAdapter,
    FileAdapterFactory,
    LoggerAdapterFactory,
    NoopAdapterFactory,
    TensorboardAdapterFactory,
    WanDBAdapter,
)

from recgym.benchmark.specs import BenchmarkError

__all__ = ["LOGGERS", "check_loggers", "logger_factory"]

LOGGERS: dict[str, str | None] = {"file": None, "tensorboard": "tensorboardX", "wandb": "wandb"}
"""Logger name -> the optional package it needs (None: none)."""


def check_loggers(loggers: Sequence[str]) -> tuple[str, ...]:
    """The loggers as a tuple of distinct known names whose packages are installed; one-line BenchmarkError else."""
    chosen = tuple(dict.fromkeys(loggers))
    for name in chosen:
        if name not in LOGGERS:
            raise BenchmarkError(f"unknown logger {name!r}; expected some of {', '.join(LOGGERS)}")
        package = LOGGERS[name]
        if package is not None and importlib.util.find_spec(package) is None:
            raise BenchmarkError(f"logger {name!r} needs the {package} package: pip install 'recgym[{name}]'")
    return chosen


def logger_factory(loggers: Sequence[str], folder: Path, run_name: str) -> LoggerAdapterFactory:
    """One d3rlpy logger factory writing to every logger of ``loggers`` for the run in ``folder``.

    ``file``: d3rlpy's CSV files under ``folder`` (without its per-parameter gradient files); ``tensorboard``: event
    files under ``folder/tensorboard`` (``tensorboard --logdir OUT/runs`` shows every run); ``wandb``: one W&B run
    named ``run_name``.
    """
    factories: list[LoggerAdapterFactory] = []
    for name in loggers:
        if name == "file":
            factories.append(_MetricsFileAdapterFactory(root_dir=str(folder)))
        elif name == "tensorboard":
            factories.append(TensorboardAdapterFactory(root_dir=str(folder / "tensorboard")))
        else:
            factories.append(_NamedWandbAdapterFactory(run_name))
    if not factories:
        return NoopAdapterFactory()
    return factories[0] if len(factories) == 1 else CombineAdapterFactory(factories)


class _MetricsFileAdapter(FileAdapter):
    """d3rlpy's CSV logger without its per-parameter gradient files (dozens per run, unused here)."""

    def watch_model(self, epoch: int, step: int) -> None:
        pass


class _MetricsFileAdapterFactory(FileAdapterFactory):
    def create(self, algo: Any, experiment_name: str, n_steps_per_epoch: int) -> FileAdapter:
        return _MetricsFileAdapter(algo, os.path.join(self._root_dir, experiment_name))


class _NamedWandbAdapterFactory(LoggerAdapterFactory):
    """d3rlpy's W&B adapter, its run named after the benchmark run (``agent/seedK``, and where it resumed)."""

    def __init__(self, run_name: str) -> None:
        self._run_name = run_name

    def create(self, algo: Any, experiment_name: str, n_steps_per_epoch: int) -> WanDBAdapter:
        name = self._run_name if experiment_name == "d3rlpy" else f"{self._run_name}/{experiment_name}"
        return WanDBAdapter(algo, name, n_steps_per_epoch)
