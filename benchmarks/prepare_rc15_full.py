"""Full-scale RC15 preparation: raw YooChoose-format files -> cached transitions, then a cache reload.

Writes synthetic ``yoochoose-clicks.dat`` / ``yoochoose-buys.dat`` of the official size (about 33M clicks and 1.2M
buys with the defaults) into a temporary folder, then times ``load_dataset("rc15", data_dir=...)`` from the raw files
and again from the cache, each in a fresh child process so its peak RSS is its own.

    .venv/bin/python benchmarks/prepare_rc15_full.py [--sessions 9250000] [--short-share 0.45] [--keep DIR]

Targets on a 2-core machine: build < 2 min with peak RSS < 6 GB; reload < 2 s.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def measure_load(data_dir: str) -> None:
    """Child process: load the dataset once, print wall time and own peak RSS as JSON."""
    from recgym import load_dataset

    started = time.perf_counter()
    dataset = load_dataset("rc15", data_dir=data_dir)
    seconds = time.perf_counter() - started
    with open("/proc/self/status") as status:  # VmHWM: unlike ru_maxrss, not inherited from the parent across exec
        peak_gib = int(next(line for line in status if line.startswith("VmHWM:")).split()[1]) / 2**20
    print(json.dumps({"seconds": seconds, "peak_rss_gib": peak_gib, "stats": dataset.stats()}))


def run_child(data_dir: Path) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, "--child", str(data_dir)], check=True, capture_output=True, text=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=9_250_000, help="raw sessions to generate")
    parser.add_argument("--short-share", type=float, default=0.45, help="share of 1-2 click sessions (dropped by the protocol)")
    parser.add_argument("--keep", type=Path, help="write the raw files and cache here instead of a temporary folder")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        measure_load(args.child)
        return

    from recgym.data.synthetic import SyntheticConfig, write_rc15_files

    with tempfile.TemporaryDirectory(prefix="recgym-rc15-") as temporary:
        data_dir = args.keep or Path(temporary)
        started = time.perf_counter()
        config = SyntheticConfig(n_sessions=args.sessions, short_session_share=args.short_share)
        clicks, buys = write_rc15_files(data_dir / "rc15", config, seed=0, progress=False)
        with clicks.open("rb") as handle:
            n_clicks = sum(block.count(b"\n") for block in iter(lambda: handle.read(1 << 24), b""))
        n_buys = buys.read_bytes().count(b"\n")
        print(f"raw files: {n_clicks:,} clicks ({clicks.stat().st_size / 2**30:.2f} GiB), {n_buys:,} buys; "
              f"written in {time.perf_counter() - started:.1f} s")

        build = run_child(data_dir)
        reload = run_child(data_dir)
        stats = build["stats"]
        print(f"protocol: {stats['raw_sessions']:,} raw sessions -> {stats['sessions']:,} sampled, "
              f"{stats['events']:,} events, {stats['n_items']:,} items")
        print(f"build  (raw files -> cached transitions): {build['seconds']:6.1f} s   peak RSS {build['peak_rss_gib']:.2f} GiB")
        print(f"reload (cache -> SessionDataset):          {reload['seconds']:6.2f} s   peak RSS {reload['peak_rss_gib']:.2f} GiB")


if __name__ == "__main__":
    main()
