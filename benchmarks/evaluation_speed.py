"""Speed of the offline evaluator and of RecReplayEnv on the RC15-scale synthetic validation split.

The scorer is an untrained SASRec encoder (64 dims, one block) with a (n_items, 64) output matrix, the shape of
every agent's evaluation head. The same run times the scorer alone (encoder + matmul), the matmul alone and the
top-k alone, so the evaluator's own overhead can be read off the table. Target: a full val evaluation under 10 s.
``--catalogue N`` gives the head N items (the val states, ids below the dataset's catalogue, are states of it too):
``evaluate`` needs the dataset's own catalogue, so the table then gives the stages' time over the first
``--max-events`` val events and the time of every val event at that rate.

    .venv/bin/python benchmarks/evaluation_speed.py [--data-dir DIR] [--n-sessions 200000] [--device cpu]
    .venv/bin/python benchmarks/evaluation_speed.py --catalogue 1800000 --max-events 20000   # OTTO's catalogue
"""

from __future__ import annotations

import argparse
import functools
import time
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
import torch

import recgym
from agents import SASRecEncoder
from recgym.envs import RecReplayEnv
from recgym.evaluation.offline import default_batch_size
from recgym.ranking import top_k

T = TypeVar("T")


class SASRecScorer:
    """Untrained SASRec state encoder followed by a linear head over the whole catalogue."""

    def __init__(self, n_items: int, state_size: int, device: str) -> None:
        torch.manual_seed(0)
        self.device = device
        self.encoder = SASRecEncoder(n_items, state_size, hidden_size=64).to(device).eval()
        self.head = (torch.randn(n_items, 64) * 0.05).to(device)

    @torch.no_grad()
    def states(self, observations: np.ndarray) -> torch.Tensor:
        return self.encoder(torch.as_tensor(observations, device=self.device))

    @torch.no_grad()
    def scores(self, observations: np.ndarray) -> torch.Tensor:
        return self.states(observations) @ self.head.T


def timed(function: Callable[[], T], device: str) -> tuple[T, float]:
    """The function's result and its wall time in seconds (after the device has finished)."""
    start = time.perf_counter()
    result = function()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return result, time.perf_counter() - start


def env_steps_per_second(env: RecReplayEnv, slate: np.ndarray | int, max_steps: int) -> tuple[int, float]:
    steps, start = 0, time.perf_counter()
    env.reset(seed=0)
    while steps < max_steps:
        _, _, terminated, _, _ = env.step(slate)
        steps += 1
        if terminated:
            env.reset()
    return steps, steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None, help="recgym data directory (default: recgym's cache directory)")
    parser.add_argument("--n-sessions", type=int, default=200_000, help="synthetic sessions (200k gives RC15 scale)")
    parser.add_argument("--catalogue", type=int, default=None, help="items of the scoring head (default the dataset's)")
    parser.add_argument("--max-events", type=int, default=None, help="time the stages on the first N val events")
    parser.add_argument("--batch-size", type=int, default=None, help="rows per scoring call (default: evaluate's)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--env-steps", type=int, default=50_000)
    args = parser.parse_args()

    start = time.perf_counter()
    dataset = recgym.load_dataset("synthetic", n_sessions=args.n_sessions, data_dir=args.data_dir)
    load_s = time.perf_counter() - start
    val = dataset.split("val")
    n_events = val.n_transitions
    n_items = args.catalogue or dataset.n_items  # val states hold ids < dataset.n_items: valid for a bigger head too
    batch_size = args.batch_size or default_batch_size(n_items)
    scorer = SASRecScorer(n_items, dataset.state_size, args.device)
    scorer.scores(val.observations[:8].astype(np.int64))  # warm-up

    # one pass over the events timing each stage on its own, then evaluate() end to end (distinct states only)
    timed_events = min(n_events, args.max_events or n_events)
    stages = {"encoder": 0.0, "matmul": 0.0, "top_k": 0.0}
    for start in range(0, timed_events, batch_size):
        batch = val.observations[start : min(start + batch_size, timed_events)].astype(np.int64)
        states, seconds = timed(functools.partial(scorer.states, batch), args.device)
        stages["encoder"] += seconds
        scores, seconds = timed(functools.partial(torch.matmul, states, scorer.head.T), args.device)
        stages["matmul"] += seconds
        stages["top_k"] += timed(functools.partial(top_k, scores, 20), args.device)[1]
        del scores
    rows = [
        (f"  SASRec encoder alone ({timed_events:,} events)", stages["encoder"], f"{timed_events / stages['encoder']:,.0f} events/s"),
        ("  matmul alone (B x 64 @ 64 x n_items)", stages["matmul"], f"{timed_events / stages['matmul']:,.0f} events/s"),
        ("  top_k(k=20) alone", stages["top_k"], f"{timed_events / stages['top_k']:,.0f} events/s"),
    ]  # fmt: skip
    if n_items != dataset.n_items:  # evaluate() needs the dataset's catalogue: report the stages' rate for the val
        rate = timed_events / sum(stages.values())
        rows.insert(0, (f"score + top-20, every val event at {rate:,.1f} events/s", n_events / rate, "(extrapolated)"))
        print_table(args, dataset, val, n_items, batch_size, load_s, rows)
        return
    _, evaluate_s = timed(
        lambda: recgym.evaluate(scorer, dataset, batch_size=batch_size, device=args.device), args.device
    )
    rows.insert(0, ("evaluate(): score + top-20 + metrics", evaluate_s, f"{n_events / evaluate_s:,.0f} events/s"))

    for slate_size in (1, 20):
        env = RecReplayEnv(dataset, slate_size=slate_size)
        action = 0 if slate_size == 1 else np.arange(slate_size)
        steps, rate = env_steps_per_second(env, action, args.env_steps)
        rows.append((f"env.step, fixed action, slate_size={slate_size}", steps / rate, f"{rate:,.0f} steps/s"))

    print_table(args, dataset, val, n_items, batch_size, load_s, rows)


def print_table(
    args: argparse.Namespace, dataset: Any, val: Any, n_items: int, batch_size: int, load_s: float, rows: list
) -> None:
    print(
        f"dataset synthetic n_sessions={args.n_sessions}: {dataset.n_items:,} items, val {val.n_sessions:,} sessions, "
        f"{val.n_transitions:,} events, {len(np.unique(val.observations, axis=0)):,} distinct states (loaded in "
        f"{load_s:.1f} s); head of {n_items:,} items, device {args.device}, batch {batch_size}, "
        f"torch threads {torch.get_num_threads()}"
    )
    width = max(len(name) for name, _, _ in rows)
    print(f"{'what':<{width}}  {'seconds':>8}  rate")
    for name, seconds, rate in rows:
        print(f"{name:<{width}}  {seconds:8.2f}  {rate}")


if __name__ == "__main__":
    main()
