"""Headroom of each world preset: the planner, the myopic oracle, popularity and an empty slate on the same sessions.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/world_headroom.py --n-items 2000 26702

Prints one Markdown table per catalogue size: each policy's mean return per session with its 95% interval over
sessions, and (planner − myopic) / myopic with its paired interval (:func:`recgym.worlds.headroom`), plus the wall
time. The target of a world with consequences: headroom ≥ 10% in ``longterm``, 0 within noise in ``myopic``.
"""

from __future__ import annotations

import argparse
import tempfile
import time

from recgym.envs.mechanics import WORLD_PRESETS
from recgym.worlds import headroom, make_world


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-items", type=int, nargs="+", default=[2000])
    parser.add_argument("--log-sessions", type=int, default=20_000)
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--slate-size", type=int, default=20)
    parser.add_argument("--candidates", type=int, default=8)
    parser.add_argument("--rollouts", type=int, default=8)
    parser.add_argument("--horizon", type=int, default=4)
    parser.add_argument("--margin", type=float, default=1.0)
    parser.add_argument("--worlds", nargs="+", default=list(WORLD_PRESETS), help="presets (default: all)")
    parser.add_argument("--set", nargs="+", default=[], metavar="MECHANIC=VALUE", help="override the presets")
    args = parser.parse_args()
    overrides = {name: float(value) for name, value in (item.split("=", 1) for item in args.set)}
    planner = {"candidates": args.candidates, "rollouts": args.rollouts, "horizon": args.horizon, "margin": args.margin}
    with tempfile.TemporaryDirectory() as folder:
        for n_items in args.n_items:
            print(f"\n{n_items:,} items, {args.sessions:,} sessions, slate {args.slate_size}, planner {planner}\n")
            print(
                "| world | planner | myopic | popularity | empty | headroom | seconds |\n|---|---|---|---|---|---|---|"
            )
            for preset in args.worlds:
                world = make_world(preset, n_sessions=args.log_sessions, n_items=n_items, data_dir=folder, **overrides)
                started = time.perf_counter()
                report = headroom(world, n_sessions=args.sessions, slate_size=args.slate_size, planner=planner)
                cells = [f"{report[name]:.3f} [{report[name + '_ci'][0]:.3f}, {report[name + '_ci'][1]:.3f}]"
                         for name in ("planner", "myopic", "popularity", "empty")]  # fmt: skip
                low, high = report["headroom_ci"]
                share = f"{report['headroom']:+.1%} [{low:+.1%}, {high:+.1%}]"
                print(
                    f"| {preset} {' '.join(args.set)} | {' | '.join(cells)} | {share} | {time.perf_counter() - started:.0f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
