"""Wall time of one 12-run grid with each executor: sequential, ``--jobs 2`` local processes, and Ray.

    OMP_NUM_THREADS=1 python benchmarks/executors_speed.py [--steps 300]

Two agents (sqn, snqn) × γ ∈ {0, 0.5, 0.9} × 2 seeds on a small synthetic log, the same call three times into
three folders; prints each wall time, its ratio to the sequential one, and whether the tables are identical (they
must be: every unit runs with one torch thread here). Ray needs ``pip install 'recgym[ray]'``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

import recgym
from recgym.benchmark import run_benchmark
from recgym.logs import silence_d3rlpy_logs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=300)
    args = parser.parse_args()
    torch.set_num_threads(1)
    silence_d3rlpy_logs()  # the workers of --jobs follow; Ray's do not print to this terminal
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        dataset = recgym.load_dataset("synthetic", n_sessions=3000, n_items=500, data_dir=root / "data")
        common = dict(
            agents=["sqn", "snqn"], grid={"gamma": [0.0, 0.5, 0.9]}, seeds=2, steps=args.steps,
            eval_every=args.steps // 3, top_n_checkpoints=1, progress=False, baseline=None,
        )  # fmt: skip
        runs = {"local": {}, "local --jobs 2": {"jobs": 2}, "ray": {"executor": "ray"}}
        timings, tables = {}, {}
        for name, options in runs.items():
            started = time.perf_counter()
            result = run_benchmark(dataset, out=root / name.replace(" ", "_"), **common, **options)
            timings[name] = time.perf_counter() - started
            tables[name] = result.table
        print(f"12 runs of {args.steps} steps (sqn, snqn × gamma 0/0.5/0.9 × 2 seeds), 3,000 sessions, 500 items")
        print(f"{'executor':<16}{'wall s':>9}{'× local':>9}  same table")
        for name, seconds in timings.items():
            same = tables[name].equals(tables["local"])
            print(f"{name:<16}{seconds:>9.1f}{seconds / timings['local']:>9.2f}  {same}")


if __name__ == "__main__":
    main()
