"""What fitted Q evaluation costs per policy (per checkpoint) at RC15 catalogue size.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/fqe_cost.py [--n-items 26702 --n-sessions 20000 --steps 200]

Builds the synthetic dataset (``--n-sessions``, ``--n-items``), trains a SASRec checkpoint for 50 steps (the policy:
its greedy item is what FQE bootstraps from), then fits :func:`recgym.evaluation.fit_fqe` on the val split for
``--steps`` updates (batch 256, hidden 64) and estimates the value on val's first states. Prints the seconds per
update, the estimate's seconds, and the projected time of a fit of 2,000 updates (the default of ``fit_fqe``); the
short fit's estimate has not converged and is not printed.
"""

from __future__ import annotations

import argparse
import tempfile
import time

from agents import make_config
from recgym import load_dataset
from recgym.evaluation import fit_fqe


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-items", type=int, default=26_702)
    parser.add_argument("--n-sessions", type=int, default=20_000)
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        dataset = load_dataset("synthetic", n_sessions=args.n_sessions, n_items=args.n_items, data_dir=folder)
    algo = make_config("sasrec", n_items=dataset.n_items).create()
    algo.fit(dataset.to_d3rlpy("train"), n_steps=50, n_steps_per_epoch=50, show_progress=False)
    val = dataset.split("val")
    began = time.perf_counter()
    fitted = fit_fqe(algo, dataset, split="val", n_steps=args.steps)
    fit_seconds = time.perf_counter() - began
    began = time.perf_counter()
    fitted.values(val.observations[val.episode_starts[:-1]])
    value_seconds = time.perf_counter() - began
    print(f"{dataset!r}; val: {val.n_sessions:,} sessions, {val.n_transitions:,} transitions")
    print("| items | updates | s per update | fit s | projected 2,000 updates s | estimate s |")
    print("|---|---|---|---|---|---|")
    per_step = fit_seconds / args.steps
    print(f"| {dataset.n_items:,} | {args.steps} | {per_step:.3f} | {fit_seconds:.1f} | {2000 * per_step:.0f} "
          f"| {value_seconds:.2f} |")  # fmt: skip


if __name__ == "__main__":
    main()
