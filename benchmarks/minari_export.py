"""Minari export time and size per storage format for the RC15-scale synthetic train split.

    nice -n 19 env OMP_NUM_THREADS=1 .venv/bin/python benchmarks/minari_export.py [--n-sessions 200000]

Builds ``load_dataset("synthetic", n_sessions=N)`` (default: the RC15 scale, 200,000 sessions, ≈920k train steps) in
a temporary folder, exports its train split with ``recgym.to_minari`` in each format and prints the seconds,
the bytes on disk and the number of files. ``--formats`` picks the formats (a slow one can be skipped). A last row
times the floor of Minari's hdf5 layout in the same run: one group per episode holding its five arrays, written with
h5py's low-level API and nothing else (no Minari, no metadata).
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
        from recgym import load_dataset, to_minari

        dataset = load_dataset("synthetic", data_dir=folder, n_sessions=args.n_sessions)
        train = dataset.split("train")
        print(
            f"synthetic n_sessions={args.n_sessions}: train {train.n_sessions:,} episodes, {train.n_transitions:,} steps"
        )
        print("| format | seconds | MB on disk | files |\n|---|---|---|---|")
        for data_format in args.formats.split(","):
            started = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                to_minari(dataset, f"recgym/export-{data_format}-v0", "train", data_format=data_format, author="bench")
            seconds = time.perf_counter() - started
            files = [
                p for p in (Path(folder) / "minari" / "recgym" / f"export-{data_format}-v0").rglob("*") if p.is_file()
            ]
            size = sum(p.stat().st_size for p in files) / 1e6
            print(f"| {data_format} | {seconds:.1f} | {size:.1f} | {len(files):,} |", flush=True)
        floor = Path(folder) / "floor.hdf5"
        started = time.perf_counter()
        write_episode_groups(floor, train)
        seconds, size = time.perf_counter() - started, floor.stat().st_size / 1e6
        print(f"| hdf5 floor (h5py only) | {seconds:.1f} | {size:.1f} | 1 |")


def write_episode_groups(path: Path, split) -> None:
    """One HDF5 group per episode with observations (N+1 rows), actions, rewards, terminations and truncations."""
    import h5py
    import numpy as np

    def write(group, name: str, values) -> None:
        values = np.ascontiguousarray(values)
        space = h5py.h5s.create_simple(values.shape)
        dataset = h5py.h5d.create(group, name.encode(), h5py.h5t.py_create(values.dtype), space)
        dataset.write(h5py.h5s.ALL, h5py.h5s.ALL, values)

    with h5py.File(path, "w") as file:
        for episode, (start, stop) in enumerate(zip(split.episode_starts[:-1], split.episode_starts[1:])):
            group = h5py.h5g.create(file.id, f"episode_{episode}".encode())
            final = split.next_observations[stop - 1 : stop]
            write(group, "observations", np.concatenate([split.observations[start:stop], final]))
            write(group, "actions", split.actions[start:stop])
            write(group, "rewards", split.rewards[start:stop].astype(np.float64))
            write(group, "terminations", split.terminals[start:stop])
            write(group, "truncations", np.zeros(stop - start, dtype=bool))


if __name__ == "__main__":
    main()
