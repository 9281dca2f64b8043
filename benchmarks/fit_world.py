"""Fitting a world to a real log, and calibrating it: wall time and peak memory.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/fit_world.py [--data ../shared/data/rc15-clicks-100k]
        [--click-model sasrec] [--click-steps 2000]

Loads the RC15 clicks sample (cached after the first load, which is timed apart), fits the world of
:func:`recgym.worlds.fit_world` to its train split and runs :func:`recgym.worlds.calibrate` against its test split;
prints the seconds of each part and the process's peak resident memory.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

from recgym import load_dataset
from recgym.worlds import CLICK_MODELS, calibrate, fit_world

COLUMNS = {"session_id": "SessionId", "item_id": "ItemId", "timestamp": "Time"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/rc15-clicks-100k"
    )
    parser.add_argument("--click-model", choices=CLICK_MODELS, default="markov")
    parser.add_argument("--click-steps", type=int, default=2000, help="updates of the sasrec click model")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        dataset = load_dataset(args.data / "yoochoose-clicks-100k_train_full.txt", columns=COLUMNS,
                               timestamp_unit="s", data_dir=folder)  # fmt: skip
        loaded = time.perf_counter()
        world = fit_world(dataset, click_model=args.click_model, click_steps=args.click_steps)
        fitted = time.perf_counter()
        calibrate(dataset, world)
        done = time.perf_counter()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{dataset!r}")
    print(f"load (first, protocol + cache) {loaded - started:7.2f} s")
    print(f"fit_world ({args.click_model:6})            {fitted - loaded:7.2f} s")
    print(f"calibrate                      {done - fitted:7.2f} s")
    print(f"peak resident memory           {peak:7.0f} MiB (the whole process, torch and pandas included)")


if __name__ == "__main__":
    main()
