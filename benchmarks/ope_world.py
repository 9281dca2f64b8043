"""The validity leaderboard on logs with propensities: which offline number ranks policies as their online return does.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/ope_world.py --out docs/results/ope-world

In each world preset, an epsilon-greedy logger (:mod:`recgym.worlds.logged`: the noisy oracle, ``--epsilon``) writes
``--log-sessions`` sessions with slates of ``--slate-size`` and its exact per-position propensities. A population of
policies that see only the logged state (the last 10 clicks) — the world's next-click model on that state, the same
with a fixed per-item log-normal error of several sizes (two draws each), geometric blends of it with popularity,
popularity, and a fixed random ranking — is then scored two ways:

- **offline**, on the log only: replay metrics (HR@k and NDCG@k of the logged click, HR@k of the purchased clicks,
  Reward@k = the logged reward of the steps whose click is in the policy's top-k, per session) and off-policy
  estimates of the reward its slates would earn per step (:func:`recgym.ope.slate_ips`, independent and cascade;
  the direct method with a per-(item, position) reward model fitted on the log, shrunk to the log's mean with
  ``--prior`` pseudo-showings);
- **online**, the truth: its mean return per session on ``--truth-sessions`` live users of another stream
  (:func:`recgym.worlds.play`).

The leaderboard (:func:`recgym.benchmark.validity.leaderboard`) gives, per offline quantity, Kendall τ and Spearman ρ
against the truth over the policies, the regret of deploying the policy it ranks first, and whether that is the best,
each with a 95% bootstrap interval that resamples policies. Writes ``points.csv`` (every policy's offline numbers
with their intervals and its truth), ``leaderboard.csv``, ``results.md`` and ``figures/validity.png``.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from recgym import ope
from recgym.benchmark.validity import leaderboard
from recgym.data.slate_log import SlateLog
from recgym.envs.simulator import UserSimulator
from recgym.ranking import top_k_array
from recgym.worlds import log_sessions, logging_policy, make_world, play

Scorer = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""(click probabilities (B, n_items) of the logged state, popularity (n_items,)) -> scores (B, n_items)."""
ROWS = 4096  # log rows scored at a time
REPLAY = ["hr_click", "ndcg_click", "hr_purchase", "reward"]
ESTIMATORS = ["iips", "rips", "dm"]


def population(n_items: int) -> dict[str, Scorer]:
    """The policies compared: each a function of what a deployed recommender sees (module docstring)."""
    policies: dict[str, Scorer] = {"model": lambda clicks, popularity: clicks}
    for sigma in (0.5, 1.0, 2.0, 4.0):
        for draw in (0, 1):
            error = np.exp(sigma * np.random.default_rng([7, draw]).normal(size=n_items))
            policies[f"model σ={sigma:g} #{draw}"] = lambda clicks, popularity, error=error: clicks * error
    for alpha in (0.25, 0.5, 0.75):  # geometric blends: p^a pop^(1 - a), ranked by their logarithm
        policies[f"blend {alpha:g}"] = lambda clicks, popularity, a=alpha: (
            a * np.log(clicks + 1e-12) + (1 - a) * np.log(popularity + 1e-12)
        )
    policies["popularity"] = lambda clicks, popularity: np.broadcast_to(popularity, clicks.shape)
    noise = np.random.default_rng(11).random(n_items)
    policies["random ranking"] = lambda clicks, popularity: np.broadcast_to(noise, clicks.shape)
    return policies


def offline(world: UserSimulator, log: SlateLog, policies: dict[str, Scorer], k: int, prior: float) -> pd.DataFrame:
    """Each policy's replay metrics and off-policy estimates on the log, with 95% intervals over sessions."""
    popularity = world.dataset.item_popularity
    n = len(log)
    slates = {name: np.empty((n, k), dtype=np.int64) for name in policies}
    for first in range(0, n, ROWS):
        rows = slice(first, min(first + ROWS, n))
        clicks = world.click_probabilities(log.observations[rows])
        for name, score in policies.items():
            slates[name][rows] = top_k_array(np.asarray(score(clicks, popularity), dtype=np.float64), k)

    rewards, shown = log.position_rewards(), log.slates.shape[1]
    positions = np.broadcast_to(np.arange(shown), log.slates.shape)
    cells = log.slates * shown + positions  # (item, position) of every showing
    size = (world.n_items + 1) * shown
    showings = np.bincount(cells.ravel(), minlength=size)
    earned = np.bincount(cells.ravel(), weights=rewards.ravel(), minlength=size)
    mean = earned.sum() / showings.sum()
    model = ((earned + prior * mean) / (showings + prior)).reshape(world.n_items + 1, shown)  # q̂(item, position)

    sessions = log.session
    n_sessions = len(np.unique(sessions))
    interval = ope.Bootstrap(n_resamples=1000)
    table = []
    for name, slate in slates.items():
        rank = np.where(slate == log.clicked[:, None], np.arange(1, k + 1), 0).max(axis=1)
        hit = rank > 0
        per_step = {
            "hr_click": hit.astype(float),
            "ndcg_click": np.where(hit, 1.0 / np.log2(np.maximum(rank, 1) + 1.0), 0.0),
            "reward": np.where(hit, log.reward, 0.0) * len(log) / n_sessions,
        }
        row: dict[str, float | str] = {"policy": name}
        for quantity, values in per_step.items():
            estimate = ope.dm(values, clusters=sessions, interval=interval)
            row.update({quantity: estimate.value, f"{quantity}_low": estimate.low, f"{quantity}_high": estimate.high})
        bought = log.purchased
        row["hr_purchase"] = float(hit[bought].mean()) if bought.any() else float("nan")
        target = (slate[:, :shown] == log.slates).astype(float)
        estimates = {
            "iips": ope.slate_ips(rewards, target, log.propensities, clusters=sessions, interval=interval),
            "rips": ope.slate_ips(
                rewards, target, log.propensities, interaction="cascade", clusters=sessions, interval=interval
            ),  # fmt: skip
            "dm": ope.dm(model[slate[:, :shown], np.arange(shown)].sum(axis=1), clusters=sessions, interval=interval),
        }
        for quantity, estimate in estimates.items():
            row.update({quantity: estimate.value, f"{quantity}_low": estimate.low, f"{quantity}_high": estimate.high})
        table.append(row)
    return pd.DataFrame(table)


def online(world: UserSimulator, policies: dict[str, Scorer], k: int, n_sessions: int, seed: int) -> pd.DataFrame:
    """Each policy's mean return per session on live users, with its 95% interval over sessions."""
    popularity = world.dataset.item_popularity
    table = []
    for name, score in policies.items():

        def slates(live, size, score=score):
            clicks = world.click_probabilities(world.observations(live))
            return top_k_array(np.asarray(score(clicks, popularity), dtype=np.float64), size)

        returns = play(world, slates, n_sessions=n_sessions, seed=seed, slate_size=k)
        half = 1.959963984540054 * returns.std(ddof=1) / np.sqrt(len(returns))
        table.append({"policy": name, "online": returns.mean(), "online_low": returns.mean() - half,
                      "online_high": returns.mean() + half})  # fmt: skip
    return pd.DataFrame(table)


def markdown(board: pd.DataFrame) -> list[str]:
    lines = ["| offline quantity | Kendall τ | Spearman ρ | relative regret of its first | its first is the best |",
             "|---|---|---|---|---|"]  # fmt: skip
    for row in board.sort_values("kendall_tau", ascending=False).itertuples():
        lines.append(
            f"| {row.quantity} | {row.kendall_tau:+.2f} [{row.kendall_tau_low:+.2f}, {row.kendall_tau_high:+.2f}] | "
            f"{row.spearman_rho:+.2f} [{row.spearman_rho_low:+.2f}, {row.spearman_rho_high:+.2f}] | "
            f"{row.relative_regret:.1%} [{row.relative_regret_low:.1%}, {row.relative_regret_high:.1%}] | "
            f"{'yes' if row.top1 else 'no'} (in {row.top1_share:.0%} of resamples) |"
        )
    return lines


def figure(points: pd.DataFrame, path: Path) -> None:
    quantities = [*REPLAY, *ESTIMATORS]
    worlds = list(points["world"].unique())
    fig, axes = plt.subplots(len(worlds), len(quantities), figsize=(2.6 * len(quantities), 2.6 * len(worlds)),
                             squeeze=False)  # fmt: skip
    for row, world in enumerate(worlds):
        part = points[points["world"] == world]
        for column, quantity in enumerate(quantities):
            axis = axes[row, column]
            axis.scatter(part[quantity], part["online"], s=14)
            axis.set_xlabel(quantity, fontsize=8)
            axis.tick_params(labelsize=7)
            if column == 0:
                axis.set_ylabel(f"{world}: online return", fontsize=8)
    fig.suptitle("Offline quantity (x) against the online return (y), one point per policy", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worlds", nargs="+", default=["myopic", "longterm"])
    parser.add_argument("--n-items", type=int, default=2000)
    parser.add_argument("--generator-sessions", type=int, default=10_000, help="the world's own logs (item index)")
    parser.add_argument("--log-sessions", type=int, default=5000)
    parser.add_argument("--truth-sessions", type=int, default=2000)
    parser.add_argument("--slate-size", type=int, default=20)
    parser.add_argument("--epsilon", type=float, default=0.1)
    parser.add_argument("--prior", type=float, default=20.0, help="pseudo-showings of the direct method's model")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    logger = logging_policy("epsilon_greedy", epsilon=args.epsilon)
    all_points, sections = [], []
    with tempfile.TemporaryDirectory() as folder:
        for preset in args.worlds:
            started = time.perf_counter()
            world = make_world(preset, n_items=args.n_items, n_sessions=args.generator_sessions, data_dir=folder)
            policies = population(world.n_items)
            log = log_sessions(world, logger, n_sessions=args.log_sessions, seed=1, slate_size=args.slate_size)
            points = offline(world, log, policies, args.slate_size, args.prior).merge(
                online(world, policies, args.slate_size, args.truth_sessions, seed=2), on="policy"
            )
            points.insert(0, "world", preset)
            all_points.append(points)
            board = leaderboard(points, [*REPLAY, *ESTIMATORS], "online")
            board.insert(0, "world", preset)
            sections.append((preset, board, len(log), time.perf_counter() - started))
    points = pd.concat(all_points, ignore_index=True)
    boards = pd.concat([board for _, board, _, _ in sections], ignore_index=True)
    args.out.mkdir(parents=True, exist_ok=True)
    points.to_csv(args.out / "points.csv", index=False, float_format="%.6g")
    boards.to_csv(args.out / "leaderboard.csv", index=False, float_format="%.6g")
    figure(points, args.out / "figures" / "validity.png")
    command = "OMP_NUM_THREADS=1 .venv/bin/python benchmarks/ope_world.py " + shlex.join(sys.argv[1:])
    lines = [f"# Validity leaderboard on logs with propensities\n\nCommand: `{command}`\n",
             f"Settings: `{json.dumps({k: str(v) for k, v in vars(args).items()})}`\n"]  # fmt: skip
    for preset, board, n_steps, seconds in sections:
        lines += [f"## World `{preset}`\n", f"{n_steps:,} logged steps; {int((points.world == preset).sum())} "
                  f"policies; {seconds:.0f} s.\n", *markdown(board), ""]  # fmt: skip
    lines += ["![validity](figures/validity.png)", ""]
    (args.out / "results.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
