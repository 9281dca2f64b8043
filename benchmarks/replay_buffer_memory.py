"""Memory per transition: a split's events, its state windows, and d3rlpy's replay buffer built on them.

Loads a synthetic dataset, then measures the RSS each stage adds to the train split, in one fresh process:
the split as loaded (events only), its two state windows once touched, and ``SessionDataset.to_d3rlpy("train")``
(d3rlpy's ``MDPDataset``: episodes that view the windows, and a Python ``(episode, index)`` tuple per transition in
its ``InfiniteBuffer``). Figures are bytes per train transition, so they scale to any log.

    .venv/bin/python benchmarks/replay_buffer_memory.py                     # 400,000 sessions (about 5M transitions)
    .venv/bin/python benchmarks/replay_buffer_memory.py --sessions 100000
"""

from __future__ import annotations

import argparse
import gc
import tempfile

from recgym import load_dataset


def rss_bytes() -> int:
    """Resident set size of this process (``VmRSS``)."""
    with open("/proc/self/status") as status:
        return int(next(line for line in status if line.startswith("VmRSS:")).split()[1]) * 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=400_000, help="synthetic sessions (80%% of them train)")
    parser.add_argument("--items", type=int, default=26_702)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="recgym-buffer-") as folder:
        dataset = load_dataset("synthetic", data_dir=folder, n_sessions=args.sessions, n_items=args.items)
    train = dataset.split("train")
    n = train.n_transitions
    gc.collect()
    stages = [("loaded", rss_bytes())]
    windows = train.observations.nbytes + train.next_observations.nbytes  # built on first use
    stages.append(("its two state windows", rss_bytes()))
    mdp = dataset.to_d3rlpy("train")
    gc.collect()
    stages.append(("d3rlpy MDPDataset of the split", rss_bytes()))
    print(f"train split: {n:,} transitions in {train.n_sessions:,} sessions, state size {dataset.state_size}")
    for (label, after), (_, before) in zip(stages[1:], stages[:-1]):
        print(f"{label:<34} {(after - before) / n:8.1f} bytes per transition")
    print(f"(the windows' own arrays: {windows / n:.1f} bytes per transition)")
    assert mdp.transition_count == n


if __name__ == "__main__":
    main()
