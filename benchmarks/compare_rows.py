"""Welch differences between rows of one benchmark folder, pair by pair (the harness compares every row with one).

    .venv/bin/python benchmarks/compare_rows.py DIR --metric reward@20 --against per_sample

Rows whose label ends with ``=VALUE`` of a grid (``ac-actor_weight=batch_mean``) are compared with the row of the
same prefix ending in ``=AGAINST``: mean difference over seeds, its 95% Welch interval and p (selection ``best``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from recgym.benchmark import read_runs, welch_difference


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", type=Path)
    parser.add_argument("--metric", default="reward@20")
    parser.add_argument("--against", required=True, help="the grid value every other value is compared with")
    parser.add_argument("--selection", default="best")
    args = parser.parse_args()
    runs = read_runs(args.dir).runs()
    runs = runs[runs["selection"] == args.selection]
    print(f"{args.dir}: {args.metric}, row − row ending in ={args.against} (mean [95% Welch CI], p)")
    for label, rows in runs.groupby("agent", sort=False):
        prefix, _, value = label.rpartition("=")
        reference = runs[runs["agent"] == f"{prefix}={args.against}"]
        if not prefix or value == args.against or reference.empty:
            continue
        d = welch_difference(rows[args.metric].to_numpy(), reference[args.metric].to_numpy())
        print(f"  {label}: {d.estimate:+.3f} [{d.low:+.3f}, {d.high:+.3f}] p={d.p_value:.2g}")


if __name__ == "__main__":
    main()
