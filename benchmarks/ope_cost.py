"""What the off-policy estimates cost per policy on a recommender's log at RC15 scale.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/ope_cost.py [--n-items 26702 --log-sessions 16000 --policies ...]

Writes an epsilon-greedy log (:func:`recgym.worlds.log_sessions`, slates of 20) in the synthetic world of
``--n-items`` items (about 6.5 click steps per session: 16,000 sessions give about 100,000 events), loads it with most
sessions in the test split, and times per policy (``--policies``: popularity, session-kNN): :func:`recgym.evaluate`
on the test split (scoring, replay metrics and the ``ope/*`` estimates), the estimates alone from the policy's slates
(:func:`recgym.evaluation.offline.off_policy_estimates`), and their bootstrap intervals (:func:`recgym.ope.slate_ips`,
1,000 resamples of sessions, independent and cascade). Prints seconds.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np

from recgym import evaluate, load_dataset, ope
from recgym.evaluation import PopularityPolicy, recommend
from recgym.evaluation.knn import KNN_PRESETS, SessionKNNPolicy
from recgym.evaluation.offline import off_policy_estimates
from recgym.worlds import log_sessions, logging_policy, make_world


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-items", type=int, default=26_702)
    parser.add_argument("--generator-sessions", type=int, default=50_000)
    parser.add_argument("--log-sessions", type=int, default=16_000)
    parser.add_argument("--policies", nargs="+", choices=("popularity", "vsknn"), default=["popularity"],
                        help="vsknn scores a 26,702-item catalogue slowly (over 20 minutes here)")  # fmt: skip
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        world = make_world("myopic", n_items=args.n_items, n_sessions=args.generator_sessions, data_dir=folder)
        log = log_sessions(world, logging_policy("epsilon_greedy"), n_sessions=args.log_sessions, seed=1)
        logged = time.perf_counter()
    dataset = load_dataset(log, train_fraction=0.1, val_fraction=0.1)  # most sessions in test: the log is scored
    test = dataset.split("test")
    shown = ~np.isnan(test.propensities).any(axis=1)
    sessions = np.repeat(test.session_ids, np.diff(test.episode_starts))[shown]
    print(f"{dataset!r}: world and log {logged - started:.0f} s")
    print(f"test split: {test.n_transitions:,} events, {int(shown.sum()):,} click steps with a slate\n")
    print("| policy | evaluate (s) | its top-20 slates (s) | ope/iips + ope/rips from them (s) | their bootstrap (s) |")
    print("|---|---|---|---|---|")
    policies = {"popularity": lambda: PopularityPolicy(dataset),
                "vsknn": lambda: SessionKNNPolicy(dataset, **KNN_PRESETS["vsknn"])}  # fmt: skip
    for name in args.policies:
        policy = policies[name]()
        began = time.perf_counter()
        evaluate(policy, dataset, "test")
        evaluated = time.perf_counter()
        slates = recommend(policy, test.observations, 20)
        ranked = time.perf_counter()
        off_policy_estimates(slates, test)
        estimated = time.perf_counter()
        rewards = np.where(test.slates[shown] == test.actions[shown, None], test.rewards[shown, None], 0.0)
        target = (slates[shown] == test.slates[shown]).astype(np.float64)
        for interaction in ("independent", "cascade"):
            ope.slate_ips(rewards, target, test.propensities[shown], interaction=interaction, clusters=sessions)
        done = time.perf_counter()
        print(f"| {name} | {evaluated - began:.2f} | {ranked - evaluated:.2f} | {estimated - ranked:.3f} | "
              f"{done - estimated:.2f} |")  # fmt: skip


if __name__ == "__main__":
    main()
