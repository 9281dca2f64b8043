"""Step time and peak RSS of SASRec and CCQL from RC15's 26,702 items to OTTO's 1.8 million, per CE head.

Heads: ``full`` (the default: a (B × n_items) logit matrix and its gradient), ``fused`` (``fused_heads=True``: the
same loss and the selector's argmax block by block, :mod:`agents.fused_heads`) and ``sampled`` (``fused_heads=True``
plus ``sampled_softmax=M`` shared negatives with the log-Q correction, :mod:`agents.sampled_softmax`) and, for the
agents with a Q head, ``sampled_q`` (``sampled`` plus ``sampled_q_targets=M`` candidates for the selector). Each
(agent, head, catalogue) runs in a fresh process under an address-space limit, so a configuration that does not fit
reports that instead of pushing the machine into swap. Batch 256, hidden 64, state 10, random ids (``agents_speed.random_batch``), one thread.

    .venv/bin/python benchmarks/catalogue_scale.py
    .venv/bin/python benchmarks/catalogue_scale.py --items 26702,250000 --agents sasrec --steps 2
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import subprocess
import sys
import time

import numpy as np
import torch
from agents_speed import STATE_SIZE, random_batch
from load_timing import peak_rss_gib

from agents import make_config

HEADS = {
    "full": {},
    "fused": {"fused_heads": True},
    "sampled": {"fused_heads": True, "sampled_softmax": 2048},
    "sampled_q": {"fused_heads": True, "sampled_softmax": 2048, "sampled_q_targets": 2048},
}


def child(agent: str, head: str, n_items: int, steps: int, limit_gib: float) -> None:
    """Build, warm up and time ``steps`` updates; print one JSON line (ms/step and peak RSS, or the failure)."""
    limit = int(limit_gib * 2**30)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    torch.set_num_threads(1)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    try:
        config = make_config(agent, "rc15", n_items=n_items, **HEADS[head])
        algo = config.create(device="cpu")
        algo.create_impl((STATE_SIZE,), n_items)
        batch = random_batch(n_items, config.batch_size, rng)
        algo.update(batch)  # warm-up: Adam's state and the allocator's first touches
        start = time.perf_counter()
        for _ in range(steps):
            algo.update(batch)
        seconds = (time.perf_counter() - start) / steps
    except (MemoryError, RuntimeError) as error:
        print(json.dumps({"error": f"does not fit in {limit_gib:g} GiB ({type(error).__name__})"}))
        return
    print(json.dumps({"ms": 1000 * seconds, "rss_gib": peak_rss_gib()}))


def measure(agent: str, head: str, n_items: int, steps: int, limit_gib: float) -> dict:
    command = [sys.executable, __file__, "--child", agent, head, str(n_items), str(steps), str(limit_gib)]
    done = subprocess.run(command, capture_output=True, text=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        return {"error": f"failed (exit {done.returncode}): {done.stderr.strip().splitlines()[-1:]}"}
    return json.loads(lines[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", default="26702,70852,250000,1800000", help="comma-separated catalogue sizes")
    parser.add_argument("--agents", default="sasrec,ccql")
    parser.add_argument("--heads", default=",".join(HEADS), help=f"comma-separated subset of {list(HEADS)}")
    parser.add_argument("--steps", type=int, default=3, help="timed updates after one warm-up update")
    parser.add_argument("--limit-gib", type=float, default=12.0, help="address-space limit of each measurement")
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        agent, head, n_items, steps, limit = args.child
        child(agent, head, int(n_items), int(steps), float(limit))
        return
    print(
        f"batch=256 hidden=64 state={STATE_SIZE} threads=1 steps={args.steps} limit={args.limit_gib:g} GiB "
        f"torch={torch.__version__}"
    )
    print(f"{'agent':<8}{'head':<10}{'items':>11}{'ms/step':>11}{'peak RSS GiB':>14}")
    for n_items in (int(n) for n in args.items.split(",")):
        for agent in args.agents.split(","):
            fields = {field.name for field in dataclasses.fields(make_config(agent, "rc15", n_items=2))}
            for head in args.heads.split(","):
                if not set(HEADS[head]) <= fields:  # e.g. sampled_q_targets of an agent without a Q head
                    continue
                result = measure(agent, head, n_items, args.steps, args.limit_gib)
                if "error" in result:
                    print(f"{agent:<8}{head:<10}{n_items:>11,}  {result['error']}")
                else:
                    print(f"{agent:<8}{head:<10}{n_items:>11,}{result['ms']:>11.1f}{result['rss_gib']:>14.2f}")
                sys.stdout.flush()


if __name__ == "__main__":
    main()
