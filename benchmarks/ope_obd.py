"""The real-data check of :mod:`recgym.ope`: the uniform-random policy's click rate, estimated from the Bernoulli
Thompson Sampling policy's logs of the Open Bandit Dataset sample, against its own on-policy mean.

    .venv/bin/python benchmarks/ope_obd.py [--data ../shared/data/obd-small]

Both policies served the same traffic (ZOZOTOWN, campaign "all", 10,000 impressions each, 80 items, 3 positions) and
logged their true propensities, so the uniform policy's own log gives the truth the estimators aim at. Each
impression is one bandit round whose context is its position; the target probability of every logged item is 1/80.
The reward model of DM and DR is the click rate of (item, position) in the BTS log, shrunk toward the log's overall
rate with ``--prior`` pseudo-impressions, fitted on the log it is used on (no cross-fitting). Prints a Markdown table:
each estimate with its 95% bootstrap interval (10,000 resamples of impressions), its error relative to the truth,
and the importance weights' effective sample size.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from recgym import ope

COLUMNS = ["item_id", "position", "click", "propensity_score"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/obd-small")
    parser.add_argument("--prior", type=float, default=20.0, help="pseudo-impressions of the reward model")
    args = parser.parse_args()
    uniform = pd.read_csv(args.data / "random" / "all.csv", usecols=COLUMNS)
    bts = pd.read_csv(args.data / "bts" / "all.csv", usecols=COLUMNS)
    interval = ope.Bootstrap(n_resamples=10_000)
    n_items, n_positions = int(uniform.item_id.max()) + 1, int(uniform.position.max())

    truth = ope.ips(uniform.click, uniform.propensity_score, uniform.propensity_score, interval=interval)
    clicks, logged = bts.click.to_numpy(dtype=np.float64), bts.propensity_score.to_numpy()
    target = np.full(len(bts), 1.0 / n_items)
    item, position = bts.item_id.to_numpy(), bts.position.to_numpy() - 1
    impressions = np.zeros((n_positions, n_items))
    clicked = np.zeros((n_positions, n_items))
    np.add.at(impressions, (position, item), 1.0)
    np.add.at(clicked, (position, item), clicks)
    model = (clicked + args.prior * clicks.mean()) / (impressions + args.prior)  # q̂(position, item)
    q_logged = model[position, item]
    values = model.mean(axis=1)[position]  # v̂: the uniform policy's expected click at the row's position
    weights = target / logged
    estimates = {
        "IPS": ope.ips(clicks, target, logged, interval=interval),
        "SNIPS": ope.snips(clicks, target, logged, interval=interval),
        "DM": ope.dm(values, interval=interval),
        "DR": ope.dr(clicks, target, logged, q_logged, values, interval=interval),
        "SNDR": ope.sndr(clicks, target, logged, q_logged, values, interval=interval),
    }
    print(f"truth: the uniform policy's own click rate {truth} ({int(uniform.click.sum())} clicks in {len(uniform):,})")
    print(f"BTS log: {int(clicks.sum())} clicks in {len(bts):,}; importance weights 1/80 ÷ propensity: min "
          f"{weights.min():.3g}, max {weights.max():.3g}, effective sample size "
          f"{weights.sum() ** 2 / (weights**2).sum():,.0f}\n")  # fmt: skip
    print("| estimator | estimate [95%] | relative error |\n|---|---|---|")
    for name, estimate in estimates.items():
        print(f"| {name} | {estimate} | {estimate.value / truth.value - 1:+.1%} |")


if __name__ == "__main__":
    main()
