"""Full-scale RC15 preparation: raw YooChoose-format files -> cached transitions, then a cache reload.

Writes synthetic ``yoochoose-clicks.dat`` / ``yoochoose-buys.dat`` of the official size (about 33M clicks and 1.2M
buys with the defaults) into a temporary folder, then times ``load_dataset("rc15", data_dir=...)`` from the raw files
and again from the cache, each in a fresh child process so its peak RSS is its own.

    .venv/bin/python benchmarks/prepare_rc15_full.py [--sessions 9250000] [--short-share 0.45] [--keep DIR]

Targets on a 2-core machine: build < 2 min with peak RSS < 6 GB; reload < 2 s.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from load_timing import print_build_and_reload, report_load, run_child


def measure_load(data_dir: str) -> None:
    """Child process: load the dataset once and report it (:func:`load_timing.report_load`)."""
    from recgym import load_dataset

    report_load(lambda: load_dataset("rc15", data_dir=data_dir))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=9_250_000, help="raw sessions to generate")
    parser.add_argument(
        "--short-share", type=float, default=0.45, help="share of 1-2 click sessions (dropped by the protocol)"
    )
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
        print(
            f"raw files: {n_clicks:,} clicks ({clicks.stat().st_size / 2**30:.2f} GiB), {n_buys:,} buys; "
            f"written in {time.perf_counter() - started:.1f} s"
        )

        command = [sys.executable, __file__, "--child", str(data_dir)]
        build, reload = run_child(command), run_child(command)
        stats = build["stats"]
        print(
            f"protocol: {stats['raw_sessions']:,} raw sessions -> {stats['sessions']:,} sampled, "
            f"{stats['events']:,} events, {stats['n_items']:,} items"
        )
        print_build_and_reload(build, reload, "raw files")


if __name__ == "__main__":
    main()
