"""``benchmarks/gpu_check.py`` stays ready for the day an accelerator is lent: its CPU dry run prints every row."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def test_the_gpu_check_dry_run_prints_each_path_and_the_projection() -> None:
    command = [sys.executable, "gpu_check.py", "--device", "cpu", "--items", "300", "--agents", "sasrec,ccql",
               "--steps", "1", "--warmup", "1", "--val-events", "64"]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, cwd=BENCHMARKS, capture_output=True, text=True, env=env, timeout=300, check=True)
    rows = [line.split(" | ") for line in done.stdout.splitlines() if line.startswith("| 300 |")]
    assert [(agent, path) for _, agent, path, *_ in rows] == [
        (agent, path) for agent in ("sasrec", "ccql") for path in ("default", "unfused", "compiled", "bf16", "sampled")
    ]
    assert all(float(cells[3]) > 0 for cells in rows), done.stdout  # a time, not a failure
    assert "- 300 items: " in done.stdout
    assert "- sasrec at 300 items: " in done.stdout and "- ccql at 300 items: " in done.stdout
