"""Where a fused SASRec step's time goes beyond its matmuls: each part timed alone, next to the roofline.

At batch 256 on an RC15-sized catalogue (as ``agents_speed.py``), in alternation, medians over ``--rounds``:

- the roofline: the CE head's (B×d)@(d×n) forward and its two backward products into preallocated outputs;
- the fused CE head (:func:`agents.fused_heads.linear_cross_entropy`) forward and backward, on the same shapes;
- one forward and backward of the SASRec encoder in train mode (with its dropout);
- the fused Adam step of a SASRec network (gradients set once, so only the update is timed);
- one (B × state × hidden) dropout mask three ways: torch's ``bernoulli_`` (what ``nn.Dropout`` draws), ``rand``,
  and a counter-based integer hash (splitmix64) in torch ops, the usual way to draw masks in parallel.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/step_parts.py
    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/step_parts.py --threads 2
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import numpy as np
import torch
from agents_speed import HIDDEN, RC15_ITEMS, STATE_SIZE, encoder_op, interleaved, make_algo, random_batch, roofline_op

from agents.fused_heads import linear_cross_entropy

MASK_KEEP = 0.9
"""Keep probability of the masks: the presets' dropout of 0.1."""


def fused_head_op(n_items: int, batch_size: int) -> Callable[[], None]:
    """The fused CE head forward and backward on random states, weights and targets."""
    states = torch.randn(batch_size, HIDDEN, requires_grad=True)
    weight = torch.nn.Parameter(0.01 * torch.randn(n_items, HIDDEN))
    bias = torch.nn.Parameter(torch.zeros(n_items))
    targets = torch.randint(n_items, (batch_size,))
    return lambda: linear_cross_entropy(states, weight, bias, targets).mean().backward()


def adam_op(n_items: int, batch_size: int) -> Callable[[], None]:
    """One step of the fused Adam of a SASRec network, whose gradients are filled once."""
    algo = make_algo("sasrec", n_items, batch_size)
    modules = algo.impl.modules
    network, optim = modules.network1, modules.optim1.optim
    for parameter in network.parameters():
        parameter.grad = torch.randn_like(parameter)
    return optim.step


def hash_mask(shape: tuple[int, ...], seed: int) -> torch.Tensor:
    """A keep mask from splitmix64 of (element index + seed): each element has its own counter, so any thread may
    draw any part of it."""
    z = torch.arange(int(np.prod(shape)), dtype=torch.int64) * -7046029254386353131 + seed  # golden-ratio increment
    z = (z ^ (z >> 30)) * -4658895280553007687
    z = (z ^ (z >> 27)) * -7723592293110705685
    z = z ^ (z >> 31)
    return ((z >> 40) & (2**24 - 1) < int(MASK_KEEP * 2**24)).view(shape)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=21, help="timings of each part, in alternation (odd)")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--n-items", type=int, default=RC15_ITEMS)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    n_items, batch_size = args.n_items, args.batch_size
    batches = [random_batch(n_items, batch_size, np.random.default_rng(i)) for i in range(4)]
    activations = torch.empty(batch_size, STATE_SIZE, HIDDEN)
    parts = {
        "fused CE head, forward + backward": fused_head_op(n_items, batch_size),
        "SASRec encoder, forward + backward": encoder_op("sasrec", n_items, batch_size, batches),
        "fused Adam step": adam_op(n_items, batch_size),
        "dropout mask, bernoulli_": lambda: torch.empty_like(activations).bernoulli_(MASK_KEEP),
        "dropout mask, rand < p": lambda: torch.rand(activations.shape) < MASK_KEEP,
        "dropout mask, counter hash": lambda: hash_mask(tuple(activations.shape), seed=12345),
    }
    # the roofline takes the place of the update, so each ratio is roofline / part: inverted below (an odd number
    # of rounds makes the inverse of the median ratio the median of the inverses)
    medians, ratios = interleaved(roofline_op(n_items, batch_size, 1, 0), list(parts.values()), args.rounds)
    print(
        f"n_items={n_items} batch={batch_size} hidden={HIDDEN} state={STATE_SIZE} threads={args.threads} "
        f"torch={torch.__version__}"
    )
    print(f"{'part':<38}{'ms':>9}{'× roofline':>12}")
    print(f"{'roofline (CE head matmuls)':<38}{1000 * medians[0]:>9.2f}{1.0:>12.2f}")
    for name, seconds, ratio in zip(parts, medians[1:], ratios):
        print(f"{name:<38}{1000 * seconds:>9.2f}{1 / ratio:>12.2f}")


if __name__ == "__main__":
    main()
