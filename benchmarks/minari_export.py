"""Minari export time and size per storage format for the RC15-scale synthetic train split.

    nice -n 19 env OMP_NUM_THREADS=1 .venv/bin/python benchmarks/minari_export.py [--n-sessions 200000]

Builds ``load_dataset("synthetic", n_sessions=N)`` (default: the RC15 scale, 200,000 sessions, ≈920k train steps) in
a temporary folder, exports its train split with ``SessionDataset.to_minari`` in each format and prints the seconds,
the bytes on disk and the number of files. ``--formats`` picks the formats (a slow one can be skipped).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import warnings
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-sessions", type=int, default=200_000)
    parser.add_argument("--formats", default="hdf5,arrow")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        os.environ["MINARI_DATASETS_PATH"] = str(Path(folder) / "minari")
        from recgym import load_dataset

        dataset = load_dataset("synthetic", data_dir=folder, n_sessions=args.n_sessions)
        train = dataset.split("train")
        print(f"synthetic n_sessions={args.n_sessions}: train {train.n_sessions:,} episodes, {train.n_transitions:,} steps")
        print("| format | seconds | MB on disk | files |\n|---|---|---|---|")
        for data_format in args.formats.split(","):
            started = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                dataset.to_minari(f"recgym/export-{data_format}-v0", "train", data_format=data_format, author="bench")
            seconds = time.perf_counter() - started
            files = [p for p in (Path(folder) / "minari" / "recgym" / f"export-{data_format}-v0").rglob("*") if p.is_file()]
            size = sum(p.stat().st_size for p in files) / 1e6
            print(f"| {data_format} | {seconds:.1f} | {size:.1f} | {len(files):,} |", flush=True)


if __name__ == "__main__":
    main()
