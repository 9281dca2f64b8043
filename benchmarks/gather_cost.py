"""Cost of the deterministic Q-column gather: ``F.embedding`` against indexing, forward + backward, same run.

The Q head's columns of the logged and sampled actions are gathered for every TD and CQL term. Indexing's backward
(``index_put_`` with accumulate) adds repeated rows with parallel atomics on CPU, so its float result changes from run
to run at more than one thread; ``F.embedding``'s backward adds them in a fixed order (``SASRecNetwork.q_of``). This
times one gather of (B, K) columns, its dot with the states and the backward of both, alternating the two forms.

    .venv/bin/python benchmarks/gather_cost.py [--items 26702] [--batch 256] [--columns 11] [--reps 200]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F


def gather_by_indexing(weight: torch.Tensor, bias: torch.Tensor, items: torch.Tensor) -> tuple[torch.Tensor, ...]:
    return weight[items], bias[items]


def gather_by_embedding(weight: torch.Tensor, bias: torch.Tensor, items: torch.Tensor) -> tuple[torch.Tensor, ...]:
    return F.embedding(items, weight), F.embedding(items, bias.unsqueeze(-1)).squeeze(-1)


def seconds(gather, weight, bias, states, items) -> float:
    started = time.perf_counter()
    rows, offsets = gather(weight, bias, items)
    q = torch.einsum("bkd,bd->bk", rows, states) + offsets
    q.sum().backward()
    weight.grad = bias.grad = None
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=26_702)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--columns", type=int, default=11, help="columns per sample: the logged action + 10 negatives")
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--reps", type=int, default=200)
    args = parser.parse_args()
    generator = torch.Generator().manual_seed(0)
    weight = torch.randn(args.items, args.hidden, generator=generator, requires_grad=True)
    bias = torch.randn(args.items, generator=generator, requires_grad=True)
    states = torch.randn(args.batch, args.hidden, generator=generator)
    items = torch.randint(args.items, (args.batch, args.columns), generator=generator)
    print(f"{args.batch} x {args.columns} columns of a {args.items:,} x {args.hidden} head; median of {args.reps} ms")
    print(f"{'threads':>7} {'indexing':>9} {'embedding':>10} {'ratio':>6}")
    for threads in (1, 2):
        torch.set_num_threads(threads)
        times: dict[str, list[float]] = {"indexing": [], "embedding": []}
        for _ in range(args.reps):  # alternate, so that both see the same machine
            times["indexing"].append(seconds(gather_by_indexing, weight, bias, states, items))
            times["embedding"].append(seconds(gather_by_embedding, weight, bias, states, items))
        index_ms, embed_ms = (1000 * statistics.median(times[name]) for name in ("indexing", "embedding"))
        print(f"{threads:>7} {index_ms:>9.3f} {embed_ms:>10.3f} {embed_ms / index_ms:>6.2f}")


if __name__ == "__main__":
    main()
