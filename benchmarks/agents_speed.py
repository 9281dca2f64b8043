"""Training speed of every agent at batch 256 on an RC15-sized catalogue, next to its matmul roofline, and peak RSS.

The roofline of a step is the time of the full-catalogue matmuls it cannot avoid, timed with torch in the same run
into preallocated outputs: (B×d)@(d×n) forward + the two backward products for the CE head of the updated network
(for d3rlpy's DiscreteCQL: its Q head, whose CQL term is a logsumexp over all items), and the forward of the double-Q
selector's Q(s′, ·) for its argmax (plus Q(s, ·) for the negative-action TD); everything else (encoder, gathered Q
columns, softmax, Adam) is overhead. The "heads" column adds what any implementation that materialises the logits
pays on top: the heads as torch ops (Linear + cross-entropy forward and backward, selector Linear + argmax).
``agent+fused`` rows train the same agent with ``fused_heads=True`` (:mod:`agents.fused_heads`: the CE loss and the
selector's argmax blockwise, without a (B × n_items) matrix); ``agent+bf16`` rows with ``autocast_dtype="bfloat16"``
(the update's matmuls in bfloat16; the roofline stays the float32 one); ``+compiled`` rows with ``compile_graph=True``
(the networks of the update through ``torch.compile``; compiled during the warm-up updates, so not timed, and left
out of the default ``--agents``). The "encoder" column is one forward and backward of the row's state encoder
alone (train mode, so with its dropout masks): the part of the step that is neither head nor optimiser, which CO and
CCQL run twice with gradient. Each timed update is followed by one timing of its roofline, its heads and its
encoder; the table gives the medians of each and of the per-update ratios, so that a shared host whose speed drifts
during the run slows a step and its floors alike. Data are random ids (speed does not depend on them). The
roofline columns are for the SASRec encoder; one column per other backbone (``--encoders``) gives the same agent's
steps/s on it (``make_config(..., encoder=...)``), from its median update time.

    .venv/bin/python benchmarks/agents_speed.py            # table for 26,702 items, RSS for 26,702 and 70,852
    .venv/bin/python benchmarks/agents_speed.py --steps 5 --threads 2 --encoders gru,caser
    .venv/bin/python benchmarks/agents_speed.py --agents ccql+fused --encoders '' --threads 2 --profile 10
"""

from __future__ import annotations

import argparse
import itertools
import subprocess
import sys
import time
from collections.abc import Callable

import numpy as np
import torch
from d3rlpy.dataset import TransitionMiniBatch
from d3rlpy.dataset.components import Transition
from load_timing import peak_rss_gib

from agents import ENCODERS, make_config

RC15_ITEMS = 26_702
RETAILROCKET_ITEMS = 70_852
STATE_SIZE = 10
HIDDEN = 64

# agent -> (heads with forward + backward, rows of forward-only selector Q as multiples of B)
MATMULS = {
    "sasrec": (1, 0),
    "sqn": (1, 1),
    "snqn": (1, 2),
    "sa2c": (1, 2),
    "co": (1, 1),
    "ccql": (1, 1),
    "ccql+negTD": (1, 2),
    "discrete_cql": (1, 1),
    "sasrec+fused": (1, 0),
    "sqn+fused": (1, 1),
    "snqn+fused": (1, 2),
    "sa2c+fused": (1, 2),
    "co+fused": (1, 1),
    "ccql+fused": (1, 1),
    "sasrec+bf16": (1, 0),
    "ccql+bf16": (1, 1),
    "sasrec+compiled": (1, 0),
    "sasrec+fused+compiled": (1, 0),
    "ccql+compiled": (1, 1),
    "ccql+fused+compiled": (1, 1),
}
MODIFIERS = {
    "negTD": {"negative_td": True},
    "fused": {"fused_heads": True},
    "bf16": {"autocast_dtype": "bfloat16"},
    "compiled": {"compile_graph": True},
}
"""``agent+modifier`` rows: the agent with these config values."""


def random_batch(n_items: int, batch_size: int, rng: np.random.Generator) -> TransitionMiniBatch:
    """Right-padded random states of random length, random actions, rewards and terminals."""

    def state() -> np.ndarray:
        s = np.full(STATE_SIZE, n_items, dtype=np.int32)
        length = rng.integers(0, STATE_SIZE + 1)
        s[:length] = rng.integers(0, n_items, length)
        return s

    transitions = [
        Transition(
            observation=state(),
            action=np.array([rng.integers(n_items)]),
            reward=np.array([rng.choice([0.2, 1.0])], dtype=np.float32),
            next_observation=state(),
            next_action=np.array([0]),
            terminal=float(rng.random() < 0.15),
            interval=1,
            rewards_to_go=np.zeros((1, 1), dtype=np.float32),
        )
        for _ in range(batch_size)
    ]
    return TransitionMiniBatch.from_transitions(transitions)


def agent_config(name: str, n_items: int, batch_size: int, encoder: str = "sasrec"):
    """The config of row ``name`` (``agent+modifier...``) on the ``encoder`` backbone."""
    agent, *modifiers = name.split("+")
    overrides = {key: value for modifier in modifiers for key, value in MODIFIERS[modifier].items()}
    if encoder != "sasrec":
        overrides["encoder"] = encoder
    return make_config(agent, "rc15", n_items=n_items, batch_size=batch_size, **overrides)


def make_algo(name: str, n_items: int, batch_size: int, encoder: str = "sasrec"):
    algo = agent_config(name, n_items, batch_size, encoder).create(device="cpu")
    algo.create_impl((STATE_SIZE,), n_items)
    return algo


def encoder_rate(name: str, encoder: str, batches: list[TransitionMiniBatch], args: argparse.Namespace) -> float:
    """Steps/s of agent ``name`` on the ``encoder`` backbone: the inverse of its median update time."""
    algo = make_algo(name, args.n_items, args.batch_size, encoder)
    (step,), _ = interleaved(updates(algo, batches), [], args.steps)
    return 1 / step


def roofline_op(n_items: int, batch_size: int, full: int, forward_rows: int) -> Callable[[], None]:
    """``full`` (B×d)@(d×n) forward+backward products and forward products over ``forward_rows``·B rows, into
    preallocated outputs."""
    x, w, grad = torch.randn(batch_size, HIDDEN), torch.randn(n_items, HIDDEN), torch.randn(batch_size, n_items)
    logits, grad_x, grad_w = torch.empty(batch_size, n_items), torch.empty(batch_size, HIDDEN), torch.empty_like(w)
    x_selector = torch.randn(forward_rows * batch_size, HIDDEN)
    q_selector = torch.empty(forward_rows * batch_size, n_items)

    def once() -> None:
        for _ in range(full):
            torch.mm(x, w.T, out=logits)  # forward
            torch.mm(grad, w, out=grad_x)  # grad of the input
            torch.mm(grad.T, x, out=grad_w)  # grad of the weight
        if forward_rows:
            torch.mm(x_selector, w.T, out=q_selector)

    return once


def heads_op(n_items: int, batch_size: int, full: int, forward_rows: int) -> Callable[[], None]:
    """The heads as torch ops: ``full`` Linear + cross-entropy forward/backward, selector Linear + argmax."""
    head = torch.nn.Linear(HIDDEN, n_items)
    x = torch.randn(batch_size, HIDDEN, requires_grad=True)
    actions = torch.randint(n_items, (batch_size,))
    x_selector = torch.randn(forward_rows * batch_size, HIDDEN)

    def once() -> None:
        for _ in range(full):
            torch.nn.functional.cross_entropy(head(x), actions, reduction="none").mean().backward()
        if forward_rows:
            with torch.no_grad():
                head(x_selector).argmax(dim=-1)

    return once


def encoder_op(name: str, n_items: int, batch_size: int, batches: list[TransitionMiniBatch]) -> Callable[[], None]:
    """One forward and backward of the row's state encoder (a copy, in train mode: dropout on) on a batch's states,
    into its parameters' gradients: the part of a step that is neither a head nor the optimiser, once (SASRec runs
    it once with gradient; CO and CCQL twice, and their bootstrap twice more without)."""
    encoder = agent_config(name, n_items, batch_size).encoder_factory.create((STATE_SIZE,))
    cycle = itertools.cycle([torch.as_tensor(batch.observations) for batch in batches])

    def once() -> None:
        encoder.zero_grad(set_to_none=True)
        encoder(next(cycle)).sum().backward()

    return once


def updates(algo, batches: list[TransitionMiniBatch]) -> Callable[[], None]:
    """One ``algo.update`` per call, cycling through ``batches``."""
    cycle = itertools.cycle(batches)
    return lambda: algo.update(next(cycle))


def seconds(operation: Callable[[], None]) -> float:
    start = time.perf_counter()
    operation()
    return time.perf_counter() - start


def interleaved(update: Callable[[], None], floors: list[Callable[[], None]], rounds: int) -> tuple[np.ndarray, ...]:
    """(median seconds of an update and of each floor, median per-round ratios update / floor), timed in alternation.

    Each round times one update, then each floor once, so that a machine whose speed drifts (a shared host) slows
    the update and its floors alike: the ratios hold where the seconds do not.
    """
    for operation in (update, update, update, *floors):  # warm-up (and compilation, for compiled agents)
        operation()
    samples = np.array([[seconds(operation) for operation in (update, *floors)] for _ in range(rounds)])
    return np.median(samples, axis=0), np.median(samples[:, :1] / samples[:, 1:], axis=0)


def print_profile(update: Callable[[], None], steps: int) -> None:
    """torch.profiler's table of the ops with the most own CPU time over ``steps`` updates."""
    from torch.profiler import profile

    with profile() as profiler:
        for _ in range(steps):
            update()
    print(profiler.key_averages().table(sort_by="self_cpu_time_total", row_limit=15))


def peak_rss_child(n_items: int, batch_size: int, steps: int) -> None:
    """Run in a fresh process: train CCQL with the negative TD (the largest step) and print the peak RSS in MiB."""
    baseline = 1024 * peak_rss_gib()
    algo = make_algo("ccql+negTD", n_items, batch_size)
    batches = [random_batch(n_items, batch_size, np.random.default_rng(i)) for i in range(2)]
    for i in range(steps):
        algo.update(batches[i % 2])
    print(f"{baseline:.0f} {1024 * peak_rss_gib():.0f}")


def peak_rss(n_items: int, batch_size: int, threads: int) -> tuple[float, float]:
    """(RSS after imports, peak RSS in training) in MiB, measured in a child process."""
    command = [sys.executable, __file__, "--rss-child", str(n_items), "--batch-size", str(batch_size)]
    command += ["--threads", str(threads)]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout.split()
    return float(out[-2]), float(out[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--steps",
        type=int,
        default=10,
        help="timed updates per agent (after 3 warm-up updates), "
        "each followed by one timing of its roofline and of its heads",
    )
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--n-items", type=int, default=RC15_ITEMS)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1: stable timings)")
    default_agents = ",".join(name for name in MATMULS if "compiled" not in name)
    parser.add_argument("--agents", default=default_agents, help=f"comma-separated subset of {list(MATMULS)}")
    others = [name for name in ENCODERS if name != "sasrec"]
    parser.add_argument("--encoders", default=",".join(others), help=f"steps/s columns for these of {others} ('' none)")
    parser.add_argument(
        "--profile",
        type=int,
        default=0,
        help="after each row, print torch.profiler's busiest ops over this many more updates",
    )
    parser.add_argument("--rss-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    if args.rss_child:
        peak_rss_child(args.rss_child, args.batch_size, steps=3)
        return

    rng = np.random.default_rng(0)
    batches = [random_batch(args.n_items, args.batch_size, rng) for _ in range(4)]
    print(
        f"n_items={args.n_items} batch={args.batch_size} hidden={HIDDEN} state={STATE_SIZE} "
        f"threads={args.threads} torch={torch.__version__}"
    )
    encoders = [name for name in args.encoders.split(",") if name]
    print(
        f"{'agent':<22}{'steps/s':>9}{'ms/step':>9}{'roofline ms':>13}{'ratio':>7}{'heads ms':>10}{'ratio':>7}"
        f"{'encoder ms':>12}" + "".join(f"{name:>11}" for name in encoders)
    )
    for name in args.agents.split(","):
        algo = make_algo(name, args.n_items, args.batch_size)
        shape = (args.n_items, args.batch_size, *MATMULS[name])
        floors = [roofline_op(*shape), heads_op(*shape), encoder_op(name, args.n_items, args.batch_size, batches)]
        medians, ratios = interleaved(updates(algo, batches), floors, args.steps)
        (step, roof, heads, encoder_pass), (roof_ratio, heads_ratio, _) = medians, ratios
        print(
            f"{name:<22}{1 / step:>9.2f}{1000 * step:>9.1f}{1000 * roof:>13.1f}{roof_ratio:>7.2f}"
            f"{1000 * heads:>10.1f}{heads_ratio:>7.2f}{1000 * encoder_pass:>12.1f}"
            + "".join(f"{encoder_rate(name, encoder, batches, args):>11.2f}" for encoder in encoders)
        )
        if args.profile:
            print_profile(updates(algo, batches), args.profile)
        del algo
    for n_items in (RC15_ITEMS, RETAILROCKET_ITEMS):
        base, peak = peak_rss(n_items, args.batch_size, args.threads)
        print(f"peak RSS, CCQL+negTD training, {n_items:,} items: {peak:.0f} MiB (after imports: {base:.0f} MiB)")


if __name__ == "__main__":
    main()
