"""GPU check: CUDA step times of SASRec and CCQL on RC15's and OTTO's catalogues, evaluation time, and the wall time
the paper's full schedule would take on this accelerator. Made to run in under 8 minutes on one H100.

For each catalogue size (26,702 items: RC15; 1,800,000: OTTO-scale) and agent (``sasrec``, ``ccql``), one row per
path: ``default`` (the fused heads), ``unfused`` (``fused_heads=False``, the materialised logits), ``compiled``
(``compile_graph=True``), ``bf16`` (``autocast_dtype="bfloat16"``), ``sampled`` (``sampled_softmax=8192``). A row
times ``--steps`` updates at batch 256 on random states after ``--warmup`` untimed ones (the compilation happens
there), as throughput: one device synchronisation after the timed updates, as in training with ``log_every > 1``.
The batches are d3rlpy mini-batches built on the host, so the host-to-device copy of each is part of the step.
Evaluation: full-catalogue scoring and the top-20 of RC15's 114,948 val states (random states; the cost does not
depend on them), scored by the first agent on its default path, in recgym's scoring batches. The projection: the
paper's RC15 schedule, 216,000 steps and 108 evaluations (docs of the reference protocol), at the default path's step
time. A row that runs out of memory or fails says so and the others still run; rows left
when ``--budget-s`` has passed are listed as skipped.

    .venv/bin/python benchmarks/gpu_check.py                   # on the accelerator
    .venv/bin/python benchmarks/gpu_check.py --device cpu --items 2000 --steps 2 --warmup 1 --val-events 512
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from agents_speed import random_batch

from agents import make_config
from recgym.evaluation import as_scorer
from recgym.evaluation.offline import default_batch_size
from recgym.ranking import top_k

STATE_SIZE = 10
BATCH_SIZE = 256
PAPER_STEPS, PAPER_EVALUATIONS, RC15_VAL_EVENTS = 216_000, 108, 114_948
PATHS: dict[str, dict[str, object]] = {
    "default": {},
    "unfused": {"fused_heads": False},
    "compiled": {"compile_graph": True},
    "bf16": {"autocast_dtype": "bfloat16"},
    "sampled": {"sampled_softmax": 8192},  # at most half the catalogue
}


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def build(agent: str, n_items: int, path: str, device: torch.device):
    """The agent on ``device`` with the path's settings, its networks built for (10,)-item states."""
    settings = dict(PATHS[path])
    if "sampled_softmax" in settings:
        settings["sampled_softmax"] = min(int(settings["sampled_softmax"]), n_items // 2)
    config = make_config(agent, "rc15", n_items=n_items, batch_size=BATCH_SIZE, **settings)
    algo = config.create(device=str(device))
    algo.create_impl((STATE_SIZE,), n_items)
    return algo


def step_seconds(algo, batches: list, warmup: int, steps: int, device: torch.device) -> float:
    """Seconds per update: ``warmup`` untimed updates, then ``steps`` timed ones and one synchronisation."""
    for i in range(warmup):
        algo.update(batches[i % len(batches)])
    synchronize(device)
    start = time.perf_counter()
    for i in range(steps):
        algo.update(batches[i % len(batches)])
    synchronize(device)
    return (time.perf_counter() - start) / steps


def evaluation_seconds(algo, n_items: int, n_states: int, device: torch.device) -> float:
    """Seconds to score ``n_states`` random states over the catalogue and take each one's top 20."""
    rng = np.random.default_rng(0)
    states = rng.integers(0, n_items + 1, (n_states, STATE_SIZE))
    scorer, batch = as_scorer(algo), default_batch_size(n_items)
    synchronize(device)
    start = time.perf_counter()
    with torch.no_grad():
        for first in range(0, n_states, batch):
            top_k(scorer(states[first : first + batch]), 20).cpu()
    return time.perf_counter() - start


def measure(agent, n_items, path, batches, args, default_steps, evaluations) -> str:
    """One row's cells: the path's step time and peak device memory; the default path's times are kept for the
    projection (and, once per catalogue, its evaluation time)."""
    device = torch.device(args.device)
    algo = build(agent, n_items, path, device)
    seconds = step_seconds(algo, batches, args.warmup, args.steps, device)
    if path == "default":
        default_steps[n_items, agent] = seconds
        if n_items not in evaluations:
            evaluations[n_items] = evaluation_seconds(algo, n_items, args.val_events, device)
    cuda = device.type == "cuda"
    memory = f"{torch.cuda.max_memory_allocated(device) / 2**30:.2f} GiB" if cuda else ""
    return f"{seconds * 1e3:.2f} | {1 / seconds:,.0f} | {memory}"


def guarded(run: Callable[..., str], *arguments: Any) -> str:
    """What ``run(*arguments)`` returns, or why it has none: out of memory, or the first line of its error (a path
    that fails on this device is a finding, and the other rows still run)."""
    device = torch.device(arguments[4].device)
    try:
        return run(*arguments)
    except torch.OutOfMemoryError:
        return "out of memory | | "
    except Exception as error:  # reported in the table
        line = (str(error).strip().splitlines() or [type(error).__name__])[0]
        return f"failed: {type(error).__name__}: {line[:120]} | | "
    finally:
        if device.type == "cuda":
            torch.cuda.empty_cache()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda", help="cuda, cuda:N or cpu (a dry run)")
    parser.add_argument("--items", default="26702,1800000", help="comma-separated catalogue sizes")
    parser.add_argument("--agents", default="sasrec,ccql", help="comma-separated agents")
    parser.add_argument("--paths", default=",".join(PATHS), help=f"comma-separated, of {', '.join(PATHS)}")
    parser.add_argument("--steps", type=int, default=50, help="timed updates per row")
    parser.add_argument("--warmup", type=int, default=5, help="untimed updates before (compilation happens here)")
    parser.add_argument("--val-events", type=int, default=RC15_VAL_EVENTS, help="states scored by the evaluation")
    parser.add_argument("--budget-s", type=float, default=420, help="start no row after this many seconds")
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("CUDA is not available here: give --device cpu for a dry run")
    paths = args.paths.split(",")
    if unknown := sorted(set(paths) - set(PATHS)):
        parser.error(f"unknown paths {unknown}; known: {', '.join(PATHS)}")
    if "bf16" in paths and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        print(f"bf16 left out: {torch.cuda.get_device_name(device)} has no bfloat16 support")
        paths.remove("bf16")
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"device: {name}, torch {torch.__version__}, batch {BATCH_SIZE}, {args.steps} timed steps per row\n")
    started = time.perf_counter()
    rng = np.random.default_rng(0)
    default_steps: dict[tuple[int, str], float] = {}
    evaluations: dict[int, float] = {}
    print("| items | agent | path | ms / step | steps / s | peak device memory |")
    print("|---:|---|---|---:|---:|---:|")
    for n_items in map(int, args.items.split(",")):
        batches = [random_batch(n_items, BATCH_SIZE, rng) for _ in range(4)]
        for agent in args.agents.split(","):
            for path in paths:
                if time.perf_counter() - started > args.budget_s:
                    print(f"| {n_items:,} | {agent} | {path} | skipped: past --budget-s | | |", flush=True)
                    continue
                if device.type == "cuda":
                    torch.cuda.reset_peak_memory_stats(device)

                row = guarded(measure, agent, n_items, path, batches, args, default_steps, evaluations)
                print(f"| {n_items:,} | {agent} | {path} | {row} |", flush=True)
    scorer = args.agents.split(",")[0]
    print(f"\nevaluation ({args.val_events:,} states, full-catalogue scores and top 20; {scorer}, default path):")
    for n_items, seconds in evaluations.items():
        print(f"- {n_items:,} items: {seconds:.2f} s")
    print(f"\nprojected wall time of the paper's schedule ({PAPER_STEPS:,} steps, {PAPER_EVALUATIONS} evaluations):")
    for (n_items, agent), seconds in default_steps.items():
        total = PAPER_STEPS * seconds + PAPER_EVALUATIONS * evaluations.get(n_items, float("nan"))
        print(f"- {agent} at {n_items:,} items: {total / 3600:.2f} h")
    print(f"\ntotal: {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
