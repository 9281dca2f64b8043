"""The public reader of a results folder: its config and the runs that have finished, as records or as a table."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recgym.benchmark.report import curves_table, flatten, runs_table
from recgym.benchmark.runner import SESSIONS_FILE
from recgym.benchmark.specs import BenchmarkError
from recgym.benchmark.store import load_result, read_config, run_dir

__all__ = ["BenchmarkRuns", "describe_run", "diff_runs", "read_runs"]


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

    def session_parts(self) -> dict[str, list[np.ndarray]] | None:
        """Agent -> each finished run's per-session test sums of its best checkpoint (``test_sessions.npz``, rows in
        the test split's session order), or None when a finished run has none (runs written before these files existed kept
        only the totals). A run whose test sessions differ from the others' is a :class:`BenchmarkError`."""
        parts: dict[str, list[np.ndarray]] = {}
        reference = None
        for result in self.finished:
            path = run_dir(self.out_dir, result["agent"], result["seed"]) / SESSIONS_FILE
            if not path.is_file():
                return None
            with np.load(path, allow_pickle=False) as stored:
                sessions, values = stored["session_ids"], stored["parts"]
            if reference is None:
                reference = sessions
            elif not np.array_equal(sessions, reference):
                raise BenchmarkError(f"{path}: its test sessions differ from the other runs' (another split?)")
            parts.setdefault(result["agent"], []).append(values)
        return parts


def read_runs(out: str | os.PathLike[str]) -> BenchmarkRuns:
    """Read a folder written by :func:`~recgym.benchmark.run_benchmark` (finished or not) without writing to it."""
    out_dir = Path(out)
    recorded = read_config(out_dir)
    config, digest = recorded["config"], recorded["config_hash"]
    planned = [(label, int(seed)) for seed in config["seeds"] for label in config["agents"]]
    results = (load_result(run_dir(out_dir, label, seed), digest) for label, seed in planned)
    return BenchmarkRuns(out_dir, config, digest, planned, [result for result in results if result is not None])


_FLOAT_SETTINGS = ("device", "torch_threads", "cpu_capability")


def describe_run(run: str | os.PathLike[str]) -> dict[str, Any]:
    """Everything that defines a run folder (``OUT/runs/LABEL/seedN``), flattened to dotted keys: its seed, its
    agent's description (``agent.params.learning_rate``...), the folder's run settings (``dataset.*``, ``steps``...),
    and, once it has finished, the float settings it ran under (``float.device``...)."""
    folder = Path(run)
    out, label, seed_name = folder.parents[2] if len(folder.parents) > 2 else folder, folder.parent.name, folder.name
    if folder.parent.parent.name != "runs" or not seed_name.startswith("seed") or not seed_name[4:].isdigit():
        raise BenchmarkError(f"{folder}: not a run folder (expected OUT/runs/LABEL/seedN)")
    recorded = read_config(out)
    config = recorded["config"]
    if label not in config["agents"]:
        raise BenchmarkError(f"{folder}: {out} has no agent {label!r} ({', '.join(config['agents'])})")
    settings = {key: value for key, value in config.items() if key not in ("agents", "seeds")}
    described = {"seed": int(seed_name[4:]), **flatten("agent", config["agents"][label]), **flatten("", settings)}
    result = load_result(folder, recorded["config_hash"])
    if result is not None:
        described.update({f"float.{key}": result.get(key) for key in _FLOAT_SETTINGS})
    return described


def diff_runs(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> list[tuple[str, Any, Any]]:
    """The keys of :func:`describe_run` on which two runs differ, with each one's value (None: absent), sorted."""
    first, second = describe_run(a), describe_run(b)
    keys = sorted(set(first) | set(second))
    return [(key, first.get(key), second.get(key)) for key in keys if first.get(key) != second.get(key)]
