"""Helpers of the preparation benchmarks: time ``load_dataset`` in fresh child processes, each with its own peak RSS."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from typing import Any


def peak_rss_gib() -> float:
    """Peak RSS of this process in GiB: ``VmHWM``, which unlike ``ru_maxrss`` is not inherited across exec."""
    with open("/proc/self/status") as status:
        return int(next(line for line in status if line.startswith("VmHWM:")).split()[1]) / 2**20


def report_load(load: Callable[[], Any]) -> None:
    """In the child: run ``load`` once and print its wall time, peak RSS and the dataset's stats as one JSON line."""
    started = time.perf_counter()
    dataset = load()
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "peak_rss_gib": peak_rss_gib(), "stats": dataset.stats()}))


def run_child(command: list[str]) -> dict:
    """Run a child that ends with :func:`report_load` and return what it printed."""
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def print_build_and_reload(build: dict, reload: dict, source: str) -> None:
    """The two timing lines: ``source`` -> cached transitions, then the cache reload."""
    labels = (f"build  ({source} -> cached transitions):", "reload (cache -> SessionDataset):")
    width = max(len(label) for label in labels)
    for label, result in zip(labels, (build, reload)):
        print(f"{label:<{width}} {result['seconds']:7.2f} s   peak RSS {result['peak_rss_gib']:.2f} GiB")
