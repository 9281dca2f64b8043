"""Fit and evaluation time of the session-kNN baselines on the RC15-shape synthetic dataset (200,000 sessions, 26,702
items). Target: fit under 60 s and a full val evaluation under 60 s on 2 cores.

    .venv/bin/python benchmarks/knn_speed.py [--data-dir DIR] [--n-sessions 200000] [--n-items 26702]

Prints one Markdown row per preset: the train sessions indexed, the fit (index building) seconds, the val events
scored, the evaluation seconds and the events per second, and the val purchase HR@20 / NDCG@20 (untuned presets).
"""

from __future__ import annotations

import argparse
import time

import recgym
from recgym.evaluation.knn import KNN_PRESETS, SessionKNNPolicy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir")
    parser.add_argument("--n-sessions", type=int, default=200_000)
    parser.add_argument("--n-items", type=int, default=26_702)
    args = parser.parse_args()
    dataset = recgym.load_dataset("synthetic", n_sessions=args.n_sessions, n_items=args.n_items, data_dir=args.data_dir)
    train, val = dataset.split("train"), dataset.split("val")
    print(f"{args.n_sessions:,} sessions, {args.n_items:,} items: {train.n_sessions:,} train sessions, "
          f"{val.n_transitions:,} val events\n")  # fmt: skip
    print("| preset | fit s | evaluation s | events/s | purchase HR@20 | purchase NDCG@20 |\n|---|---|---|---|---|---|")
    for name, preset in KNN_PRESETS.items():
        started = time.perf_counter()
        policy = SessionKNNPolicy(dataset, **preset)
        fitted = time.perf_counter()
        metrics = recgym.evaluate(policy, dataset, split="val", ks=(20,), progress=False)
        done = time.perf_counter()
        print(f"| {name} | {fitted - started:.1f} | {done - fitted:.1f} | {val.n_transitions / (done - fitted):,.0f} | "
              f"{metrics['purchase/hr@20']:.4f} | {metrics['purchase/ndcg@20']:.4f} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
