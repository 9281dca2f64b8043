"""Throughput of online evaluation at RC15 scale, next to the offline evaluator on a split of as many sessions.

The policy is an untrained SASRec agent (``agents.make_config("sasrec", n_items=...)``, built on the
``RecOnline-Synthetic`` env): scoring cost is what matters, not what it learned. The same run times
``recgym.evaluate`` on the val split (20,000 sessions of the 200,000-session log), ``recgym.evaluate_online`` on as
many simulated sessions, and the simulation alone (no recommendation), so the ratios compare like with like; the
online rows once per world preset (``--worlds``, default ``myopic longterm``: the mechanics' cost).

    .venv/bin/python benchmarks/online_speed.py [--data-dir DIR] [--n-sessions 20000] [--slate-size 20]
"""

from __future__ import annotations

import argparse
import time

import gymnasium as gym
import torch

import recgym
from agents import make_config

LOG_SESSIONS = 200_000  # the RC15-scale log: 26,702 items


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None, help="recgym data directory (default: recgym's cache directory)")
    parser.add_argument("--n-sessions", type=int, default=None, help="simulated sessions (default: the val split's)")
    parser.add_argument("--slate-size", type=int, default=20)
    parser.add_argument("--worlds", nargs="+", default=["myopic", "longterm"], help="world presets of the online rows")
    args = parser.parse_args()

    start = time.perf_counter()
    dataset = recgym.load_dataset("synthetic", n_sessions=LOG_SESSIONS, data_dir=args.data_dir)
    env = gym.make("RecOnline-Synthetic", n_sessions=LOG_SESSIONS, data_dir=args.data_dir).unwrapped
    setup_s = time.perf_counter() - start
    val = dataset.split("val")
    n_sessions = args.n_sessions or val.n_sessions
    algo = make_config("sasrec", n_items=dataset.n_items).create(device="cpu")
    algo.build_with_env(env)
    options = {"log_sessions": LOG_SESSIONS, "data_dir": args.data_dir, "slate_size": args.slate_size}

    rows = []
    start = time.perf_counter()
    recgym.evaluate(algo, dataset, split="val")
    offline_s = time.perf_counter() - start
    rows.append(("recgym.evaluate, val split", offline_s, val.n_sessions, val.n_transitions))
    for world in args.worlds:
        for label, policy in (("SASRec", algo), ("no recommendation", None)):
            start = time.perf_counter()
            result = recgym.evaluate_online(policy, n_sessions=n_sessions, seed=0, world=world, **options)
            rows.append(
                (f"evaluate_online, {label}, {world}", time.perf_counter() - start, n_sessions, result["n_steps"])
            )

    print(
        f"synthetic, {dataset.n_items:,} items (log of {LOG_SESSIONS:,} sessions; dataset + world ready in "
        f"{setup_s:.1f} s); slate {args.slate_size}; torch threads {torch.get_num_threads()}"
    )
    print(
        f"{'what':<46} {'sessions':>8} {'steps':>8} {'seconds':>8} {'sessions/s':>11} {'steps/s':>9} {'x evaluate':>10}"
    )
    for label, seconds, sessions, steps in rows:
        rates = f"{sessions / seconds:11,.0f} {steps / seconds:9,.0f} {seconds / offline_s:10.2f}"
        print(f"{label:<46} {sessions:8,} {steps:8,} {seconds:8.2f} {rates}")
    print("steps: events for evaluate (one prediction each), clicks for evaluate_online (one slate each)")


if __name__ == "__main__":
    main()
