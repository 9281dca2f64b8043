"""The public reader of a results folder: its config and the runs that have finished, as records or as a table."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from recgym.benchmark.report import curves_table, runs_table
from recgym.benchmark.store import load_result, read_config, run_dir

__all__ = ["BenchmarkRuns", "read_runs"]


@dataclass(frozen=True)
class BenchmarkRuns:
    """What a results folder holds: ``config`` (as in ``config.json``), its hash, the planned (agent, seed) pairs and
    the finished runs' ``result.json`` records, in plan order (seed-major)."""

    out_dir: Path
    config: Mapping[str, Any]
    config_hash: str
    planned: list[tuple[str, int]]
    finished: list[dict[str, Any]]

    @property
    def complete(self) -> bool:
        return len(self.finished) == len(self.planned)

    def runs(self) -> pd.DataFrame:
        """One row per finished run and selection (``best``, ``top<n>``): the test metrics of its selected checkpoints."""
        return runs_table(self.finished)

    def curves(self) -> pd.DataFrame:
        """One row per finished run and evaluation step: the val metrics and the epoch-mean training logs."""
        return curves_table(self.finished)


def read_runs(out: str | os.PathLike[str]) -> BenchmarkRuns:
    """Read a folder written by :func:`~recgym.benchmark.run_benchmark` (finished or not) without writing to it."""
    out_dir = Path(out)
    recorded = read_config(out_dir)
    config, digest = recorded["config"], recorded["config_hash"]
    planned = [(label, int(seed)) for seed in config["seeds"] for label in config["agents"]]
    results = (load_result(run_dir(out_dir, label, seed), digest) for label, seed in planned)
    return BenchmarkRuns(out_dir, config, digest, planned, [result for result in results if result is not None])
