"""Tests of recgym/benchmark/executors.py and grids in the harness: every executor writes the same tables, a grid
point is a resumable row, failures are reported, q_bias is logged."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from recgym.benchmark import BenchmarkError, run_benchmark

SETTINGS = dict(seeds=2, steps=4, eval_every=2, top_n_checkpoints=1, progress=False)
AGENTS = ["sasrec", "sqn"]
OPTIONS = {"hidden_size": 8, "batch_size": 16}
GRID = {"sqn.gamma": [0.0, 0.5]}


def bench(dataset, out, **overrides):
    settings = {**SETTINGS, "agent_options": OPTIONS, "grid": GRID, **overrides}
    return run_benchmark(dataset, AGENTS, out=out, **settings)


@pytest.fixture(scope="module")
def sequential(one_thread, tiny_dataset, tmp_path_factory):
    return bench(tiny_dataset, tmp_path_factory.mktemp("local") / "out")


def test_grid_points_are_rows_with_q_bias_logged(sequential):
    assert list(sequential.table["agent"].unique()) == ["sasrec", "sqn-gamma=0.0", "sqn-gamma=0.5"]
    curves = sequential.curves
    q = curves[curves.agent.str.startswith("sqn")]
    assert q[["q_mean", "return_mean", "q_bias"]].notna().all().all()
    assert (q["q_bias"] - (q["q_mean"] - q["return_mean"])).abs().max() < 1e-9
    assert curves.loc[curves.agent == "sasrec", "q_bias"].isna().all()  # no Q function, no Q bias
    # gamma 0: the return is the reward itself; gamma 0.5 discounts the rest of the session in
    returns = q.groupby("agent")["return_mean"].first()
    assert returns["sqn-gamma=0.0"] < returns["sqn-gamma=0.5"]


def test_local_processes_give_the_same_tables(sequential, tiny_dataset, tmp_path):
    parallel = bench(tiny_dataset, tmp_path / "out", jobs=2)
    assert parallel.config_hash == sequential.config_hash  # the executor is not part of the experiment
    pd.testing.assert_frame_equal(parallel.table, sequential.table)
    pd.testing.assert_frame_equal(parallel.curves, sequential.curves)


def test_local_processes_keep_d3rlpy_quiet_when_the_caller_is(tiny_dataset, tmp_path, capfd):
    import structlog

    from recgym.logs import d3rlpy_logs_silenced, silence_d3rlpy_logs

    saved = structlog.get_config()
    assert not d3rlpy_logs_silenced()
    silence_d3rlpy_logs()
    try:
        assert d3rlpy_logs_silenced()
        run_benchmark(
            tiny_dataset, ["sasrec"], out=tmp_path / "out", **{**SETTINGS, "agent_options": OPTIONS, "jobs": 2}
        )
    finally:
        structlog.configure(**saved)
    captured = capfd.readouterr()
    assert "epoch=" not in captured.out + captured.err  # the workers' per-epoch lines are silenced too
    assert (tmp_path / "out" / "runs" / "sasrec" / "seed1" / "result.json").exists()


def test_ray_gives_the_same_tables(sequential, tiny_dataset, tmp_path):
    pytest.importorskip("ray")
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        on_ray = bench(tiny_dataset, tmp_path / "out", executor="ray")
    finally:
        ray.shutdown()
    pd.testing.assert_frame_equal(on_ray.table, sequential.table)
    pd.testing.assert_frame_equal(on_ray.curves, sequential.curves)


def test_a_grid_point_resumes_like_a_run(sequential, tiny_dataset, tmp_path, monkeypatch):
    import recgym.benchmark.executors as executors

    out = tmp_path / "resumed"
    shutil.copytree(sequential.out_dir, out)
    (out / "runs" / "sqn-gamma=0.5" / "seed1" / "result.json").unlink()
    ran = []
    original = executors.run_one

    def counting(agent, seed, *args, **kwargs):
        ran.append((agent.label, seed))
        return original(agent, seed, *args, **kwargs)

    monkeypatch.setattr(executors, "run_one", counting)
    resumed = bench(tiny_dataset, out)
    assert ran == [("sqn-gamma=0.5", 1)]
    pd.testing.assert_frame_equal(resumed.table, sequential.table)


def test_a_failing_run_is_reported_after_the_others_finish(tiny_dataset, tmp_path, monkeypatch):
    import recgym.benchmark.executors as executors

    original = executors.run_one

    def failing(agent, seed, *args, **kwargs):
        if agent.label == "sasrec" and seed == 0:
            raise FloatingPointError("non-finite loss at step 3")
        return original(agent, seed, *args, **kwargs)

    monkeypatch.setattr(executors, "run_one", failing)
    with pytest.raises(BenchmarkError, match=r"1 run\(s\) failed \(sasrec seed 0: non-finite loss at step 3\)"):
        bench(tiny_dataset, tmp_path / "out", grid=None)
    finished = sorted(
        p.parent.parent.name + "/" + p.parent.name for p in (tmp_path / "out").glob("runs/*/*/result.json")
    )
    assert finished == ["sasrec/seed1", "sqn/seed0", "sqn/seed1"]


def test_a_ray_task_error_is_reported_by_its_cause_not_its_coloured_task_name():
    from types import SimpleNamespace

    from recgym.benchmark.executors import _report

    class TaskError(Exception):  # the shape of ray.exceptions.RayTaskError: a task header, then the cause
        def __init__(self, cause: BaseException) -> None:
            super().__init__("\x1b[36mray::_run_ray_unit()\x1b[39m (pid=4242, ip=10.0.0.1)\n  File ...")
            self.cause = cause

    unit = SimpleNamespace(agent=SimpleNamespace(label="sqn"), seed=1)
    with pytest.raises(BenchmarkError, match=r"\(sqn seed 1: gamma must be a finite number < 1, got 2\)"):
        _report([(unit, TaskError(ValueError("gamma must be a finite number < 1, got 2\nmore")))])
    coloured = Exception("\x1b[31mworker died\x1b[0m")  # no cause: the error's own first line, uncoloured
    with pytest.raises(BenchmarkError, match=r"\(sqn seed 1: worker died\)"):
        _report([(unit, coloured)])


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"executor": "dask"}, "unknown executor 'dask'"),
        ({"jobs": 0}, "jobs must be a finite integer >= 1"),
        ({"executor": "ray", "jobs": 2}, "--jobs is for the local executor"),
        ({"ray_address": "auto"}, "--ray-address needs --executor ray"),
    ],
)
def test_bad_executor_arguments_write_nothing(tiny_dataset, tmp_path, overrides, message):
    with pytest.raises(BenchmarkError, match=message):
        bench(tiny_dataset, tmp_path / "out", **overrides)
    assert not (tmp_path / "out").exists()


PARENT = """
import multiprocessing, os, time
from concurrent.futures import ProcessPoolExecutor
from recgym.benchmark.executors import _init_worker

if __name__ == "__main__":
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=context, initializer=_init_worker, initargs=(1, None, True)) as pool:
        print(pool.submit(os.getpid).result(), flush=True)
        pool.submit(time.sleep, 120).result()
"""


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for a reaper counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads process states from /proc (Linux)")
def test_a_worker_exits_when_its_parent_is_killed(tmp_path):
    """``--jobs`` workers watch their parent: killed with SIGKILL (no cleanup runs), its worker exits within seconds
    instead of training on, orphaned."""
    script = tmp_path / "parent.py"
    script.write_text(PARENT)
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        worker = int(parent.stdout.readline())
        assert _alive(worker)
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 30
        while _alive(worker) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _alive(worker)
    finally:
        parent.kill()
