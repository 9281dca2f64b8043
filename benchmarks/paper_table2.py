"""The Table-2 layout of docs/studies.md from benchmark folders: each backbone with and without AC, then the other agents.

    .venv/bin/python benchmarks/paper_table2.py docs/results/table2-synthetic docs/results/table2-rc15-clicks

One row per agent label (``--rows``, in order), one column group per folder: the mean over seeds of each metric
(``best`` selection, test split); then, per backbone, the Welch difference AC − plain of ``--delta`` with its 95%
interval and p. A log without purchases (RC15 clicks) gets its click columns only.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from recgym.benchmark import read_runs, welch_difference

ROWS = "caser,caser_ac,gru4rec,gru_ac,nextitnet,nextitnet_ac,sasrec,sasrec_ac,snqn,sa2c,cl4srec,fmlp,co,ccql"
PAIRS = {"Caser": ("caser", "caser_ac"), "GRU4Rec": ("gru4rec", "gru_ac"),
         "NextItNet": ("nextitnet", "nextitnet_ac"), "SASRec": ("sasrec", "sasrec_ac")}  # fmt: skip
METRICS = {"reward@20": "Reward@20", "purchase/hr@20": "P-HR@20", "purchase/ndcg@20": "P-NDCG@20",
           "click/hr@20": "C-HR@20", "click/ndcg@20": "C-NDCG@20"}  # fmt: skip


def best_runs(folder: Path) -> pd.DataFrame:
    runs = read_runs(folder).runs()
    return runs[runs["selection"] == "best"]


def metrics_of(runs: pd.DataFrame) -> list[str]:
    """The metrics this log can measure (no purchase columns on a log without purchases)."""
    has_purchases = runs["n_purchase_events"].max() > 0
    return [m for m in METRICS if has_purchases or not (m.startswith("purchase") or m.startswith("reward"))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", type=Path, nargs="+")
    parser.add_argument("--rows", default=ROWS)
    parser.add_argument("--delta", default="reward@20,click/hr@20", help="metrics of the AC − plain differences")
    args = parser.parse_args()
    logs = {folder.name: best_runs(folder) for folder in args.folders}
    header = ["agent", "seeds"] + [f"{name} {METRICS[m]}" for name, runs in logs.items() for m in metrics_of(runs)]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for label in args.rows.split(","):
        cells, seeds = [], set()
        for runs in logs.values():
            rows = runs[runs["agent"] == label]
            seeds.add(len(rows))
            cells += [
                f"{rows[m].mean():.1f}" if m == "reward@20" else f"{rows[m].mean():.3f}" for m in metrics_of(runs)
            ]
        print(f"| {label} | {'/'.join(str(n) for n in sorted(seeds))} | " + " | ".join(cells) + " |")
    print()
    for name, runs in logs.items():
        for metric in args.delta.split(","):
            if metric not in metrics_of(runs):
                continue
            print(f"{name}, {METRICS[metric]}, AC − plain (mean [95% Welch CI], p):")
            for backbone, (plain, ac) in PAIRS.items():
                d = welch_difference(
                    runs.loc[runs["agent"] == ac, metric].to_numpy(),
                    runs.loc[runs["agent"] == plain, metric].to_numpy(),
                )
                f = ".1f" if metric == "reward@20" else ".3f"
                print(f"  {backbone}: {d.estimate:+{f}} [{d.low:+{f}}, {d.high:+{f}}] p={d.p_value:.2g}")


if __name__ == "__main__":
    main()
