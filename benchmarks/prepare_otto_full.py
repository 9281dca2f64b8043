"""OTTO-scale preparation: a synthetic OTTO JSON-lines file -> cached transitions, then a cache reload.

Writes ``train.jsonl`` in the OTTO format with the synthetic generator (defaults: OTTO's 12.9M sessions and 1.8M
items, 16.7 events per session, so about 216M events; ``--scale`` shrinks the sessions), then times
``load_dataset(path)`` from the file and again from the cache, each in a fresh child process so its peak RSS is its
own. ``--sample-sessions N`` applies the protocol's uniform session sample.

    .venv/bin/python benchmarks/prepare_otto_full.py                       # full scale: ~11 GB of JSON lines
    .venv/bin/python benchmarks/prepare_otto_full.py --scale 0.1 --sample-sessions 200000
    .venv/bin/python benchmarks/prepare_otto_full.py --file train.jsonl --sample-sessions 1000000   # an existing file

Targets on a 2-core machine (full scale): build < 10 min with peak RSS < 12 GB.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from load_timing import print_build_and_reload, report_load, run_child

OTTO_SESSIONS = 12_899_779
OTTO_ITEMS = 1_855_603
OTTO_EVENTS_PER_SESSION = 16.8


def measure_load(path: str, cache_dir: str, sample: int | None) -> None:
    """Child process: load the dataset once and report it (:func:`load_timing.report_load`)."""
    from recgym import load_dataset

    options = {} if sample is None else {"n_sample_sessions": sample}
    report_load(lambda: load_dataset(path, cache_dir=cache_dir, **options))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="share of OTTO's 12.9M sessions to generate")
    parser.add_argument("--sample-sessions", type=int, help="the protocol's uniform sample of sessions (default all)")
    parser.add_argument("--keep", type=Path, help="write the file and cache here instead of a temporary folder")
    parser.add_argument("--file", type=Path, help="time this OTTO file (e.g. one kept before) instead of writing one")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        path, cache_dir, sample = args.child
        measure_load(path, cache_dir, int(sample) or None)
        return

    from recgym.data.synthetic import SyntheticConfig, write_otto_file

    with tempfile.TemporaryDirectory(prefix="recgym-otto-") as temporary:
        folder = args.keep or Path(temporary)
        if args.file:
            path = args.file
            print(f"file: {path}, {path.stat().st_size / 2**30:.2f} GiB")
        else:
            config = SyntheticConfig(
                n_sessions=max(1, round(OTTO_SESSIONS * args.scale)), n_items=OTTO_ITEMS,
                mean_session_length=OTTO_EVENTS_PER_SESSION, max_session_clicks=500,
            )  # fmt: skip
            started = time.perf_counter()
            path = write_otto_file(folder / "train.jsonl", config, seed=0, progress=False)
            print(
                f"file: {config.n_sessions:,} sessions, {config.n_items:,} items, "
                f"{path.stat().st_size / 2**30:.2f} GiB; written in {time.perf_counter() - started:.1f} s"
            )
        sample = str(args.sample_sessions or 0)
        command = [sys.executable, __file__, "--child", str(path), str(folder / "cache"), sample]
        build, reload = run_child(command), run_child(command)
        stats = build["stats"]
        print(
            f"protocol: {stats['raw_events']:,} raw events in {stats['raw_sessions']:,} sessions -> "
            f"{stats['sessions']:,} sessions, {stats['events']:,} events, {stats['n_items']:,} items"
        )
        print_build_and_reload(build, reload, "file")


if __name__ == "__main__":
    main()
