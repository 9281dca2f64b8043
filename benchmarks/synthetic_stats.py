"""Statistics of the synthetic dataset (the numbers quoted in datasets/synthetic.md).

.venv/bin/python benchmarks/synthetic_stats.py                       # default 200k-session generation
.venv/bin/python benchmarks/synthetic_stats.py --rc15-dir /tmp/rc15  # also time the full-scale raw RC15 files
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from recgym.data.schema import EventType
from recgym.data.synthetic import SyntheticConfig, SyntheticUserModel, generate_events, write_rc15_files

RAW_RC15 = SyntheticConfig(n_sessions=9_250_000, short_session_share=0.49)  # ~33M clicks, like yoochoose-clicks.dat


def next_item_hit_rates(sessions: np.ndarray, items: np.ndarray, test: np.ndarray, k: int = 10) -> dict[str, float]:
    """HR@k of predicting each event's item from the previous event: popularity vs first-order Markov counts.

    Both are estimated on the events of the non-test sessions and scored on the test sessions.
    """
    follows = np.flatnonzero(sessions[1:] == sessions[:-1]) + 1
    current, nxt = items[follows - 1], items[follows]
    train = ~test[follows]
    n_items = items.max() + 1
    popular = np.argsort(-np.bincount(items[~test[np.arange(len(items))]], minlength=n_items), kind="stable")[:k]
    pair = current[train] * n_items + nxt[train]
    pairs, counts = np.unique(pair, return_counts=True)
    order = np.lexsort((-counts, pairs // n_items))  # by current item, most frequent successor first
    pairs = pairs[order]
    rank = np.arange(len(pairs)) - np.searchsorted(pairs // n_items, pairs // n_items)
    top = pairs[rank < k]
    in_markov = np.isin(current[~train] * n_items + nxt[~train], top)
    seen_sources = np.isin(current[~train], top // n_items)
    in_popular = np.isin(nxt[~train], popular)
    # sources never seen in training fall back to popularity
    return {"popularity": in_popular.mean(), "markov": np.where(seen_sources, in_markov, in_popular).mean()}


def oracle_hit_rate(
    model: SyntheticUserModel, sessions: np.ndarray, items: np.ndarray, types: np.ndarray, n: int = 5000, k: int = 10
) -> float:
    """HR@k of the true next-click distribution on the first ``n`` click-to-click steps (the ceiling of any policy)."""
    clicks = types == EventType.CLICK
    sessions, items = sessions[clicks], items[clicks]
    hits = total = 0
    start = 0
    while total < n and start < len(sessions):
        end = start + np.searchsorted(sessions[start:], sessions[start], side="right")
        for t in range(1, end - start):
            top = np.argpartition(-model.click_probabilities(items[start : start + t]), k)[:k]
            hits += items[start + t] in top
            total += 1
        start = end
    return hits / total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rc15-dir", type=Path, help="also write full-scale raw RC15 files here and time it")
    args = parser.parse_args()

    config = SyntheticConfig(n_sessions=args.sessions)
    started = time.perf_counter()
    events = generate_events(config, seed=args.seed)
    elapsed = time.perf_counter() - started
    sessions, items = events["session_id"].to_numpy(), events["item_id"].to_numpy()
    types = events["event_type"].to_numpy()
    purchase = types == EventType.PURCHASE
    clicks = np.bincount(sessions[~purchase])
    counts = np.sort(np.bincount(items, minlength=config.n_items))[::-1]
    same = (sessions[1:] == sessions[:-1]) & ~purchase[1:] & ~purchase[:-1]
    test = np.random.default_rng(0).random(config.n_sessions)[sessions] < 0.2

    print(f"generate_events({config.n_sessions:,} sessions, seed={args.seed}): {elapsed:.2f} s")
    print(f"sessions {len(clicks):,} | items seen {np.count_nonzero(counts):,} of {config.n_items:,}")
    print(f"events {len(events):,} = clicks {(~purchase).sum():,} + purchases {purchase.sum():,}")
    print(f"mean session length {len(events) / len(clicks):.3f} events | purchase share {purchase.mean():.4f}")
    print(f"sessions with a purchase {np.unique(sessions[purchase]).size / len(clicks):.3f}")
    quantiles = np.quantile(clicks, [0.25, 0.5, 0.75, 0.9, 0.99]).tolist()
    print(f"clicks per session: min {clicks.min()} | quartiles/p90/p99 {quantiles} | max {clicks.max()}")
    print(f"share of sessions with 3 / 4 / 5 clicks: {[round(float(np.mean(clicks == n)), 3) for n in (3, 4, 5)]}")
    top1, top10 = (counts[: config.n_items // d].sum() / counts.sum() for d in (100, 10))
    top_items = counts[:10].sum() / counts.sum()
    print(f"item popularity: top 10 items {top_items:.4f} | top 1% {top1:.3f} | top 10% {top10:.3f}")
    print(f"consecutive repeat clicks {(items[1:] == items[:-1])[same].mean():.3f}")
    rates = next_item_hit_rates(sessions, items, test)
    print(
        f"next-event HR@10 on 20% held-out sessions: popularity {rates['popularity']:.4f} | "
        f"first-order Markov {rates['markov']:.4f}"
    )
    oracle = oracle_hit_rate(SyntheticUserModel(config, seed=args.seed), sessions, items, types)
    print(f"next-click HR@10 of the true user model (ceiling, 5,000 steps): {oracle:.4f}")

    if args.rc15_dir is not None:
        started = time.perf_counter()
        clicks_path, buys_path = write_rc15_files(args.rc15_dir, RAW_RC15, seed=args.seed)
        elapsed = time.perf_counter() - started
        n_clicks, n_buys = (sum(1 for _ in path.open("rb")) for path in (clicks_path, buys_path))
        print(
            f"write_rc15_files({RAW_RC15.n_sessions:,} sessions, short_session_share={RAW_RC15.short_session_share}):"
            f" {elapsed:.1f} s, {n_clicks:,} clicks, {n_buys:,} buys"
        )


if __name__ == "__main__":
    main()
