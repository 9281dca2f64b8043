"""Where the units of a benchmark run: one after another, in local processes, or as Ray tasks.

A unit is one (agent or grid point, seed); every executor calls :func:`recgym.benchmark.runner.run_one`, which writes
the unit's run folder the same way, so resume, tables and figures do not depend on the executor. Results come back
as units finish. A unit that fails is reported, never dropped: the others finish, then a :class:`BenchmarkError`
names every failed unit (rerunning the command retries just those). Ray retries a task whose worker died twice first.

Threads: a unit's numbers are bit-identical for the same torch thread count. Local processes and Ray tasks get
``cpus // jobs`` threads each (Ray: one per task, its ``num_cpus``) and ``OMP_WAIT_POLICY=PASSIVE``, so parallel
units never oversubscribe the machine with spinning OpenMP threads; the sequential executor uses the caller's.
"""

from __future__ import annotations

import multiprocessing
import os
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import torch

from recgym.benchmark.runner import RunSettings, run_one
from recgym.benchmark.specs import BenchmarkError, ResolvedAgent
from recgym.checks import check_number
from recgym.logs import d3rlpy_logs_silenced, silence_d3rlpy_logs

__all__ = ["EXECUTORS", "Unit", "make_executor"]

EXECUTORS = ("local", "ray")


@dataclass(frozen=True)
class Unit:
    """One run of the benchmark: an agent (or grid point) with a seed, and the folder it writes."""

    agent: ResolvedAgent
    seed: int
    folder: Path


Executor = Callable[[Sequence[Unit], Any, RunSettings, str], Iterator[dict]]


def make_executor(name: str, *, jobs: int = 1, ray_address: str | None = None) -> Executor:
    """The executor ``name`` ("local" with ``jobs`` processes, or "ray"), checked before anything runs."""
    if name not in EXECUTORS:
        raise BenchmarkError(f"unknown executor {name!r}; expected one of {', '.join(EXECUTORS)}")
    check_number("jobs", jobs, at_least=1, integer=True, error=BenchmarkError)
    if name == "ray":
        if jobs != 1:
            raise BenchmarkError("--jobs is for the local executor; Ray runs as many tasks as the cluster has CPUs")
        try:
            import ray  # noqa: F401
        except ImportError as error:
            raise BenchmarkError("the ray executor needs Ray: pip install 'recgym[ray]'") from error
        return partial(_run_ray, address=ray_address)
    if ray_address is not None:
        raise BenchmarkError("--ray-address needs --executor ray")
    return _run_sequential if jobs == 1 else partial(_run_processes, jobs=jobs)


def _run_sequential(units: Sequence[Unit], dataset: Any, settings: RunSettings, digest: str) -> Iterator[dict]:
    failures = []
    for unit in units:
        try:
            yield run_one(unit.agent, unit.seed, dataset, unit.folder, settings, digest)
        except (FloatingPointError, RuntimeError, ValueError) as error:
            failures.append((unit, error))
    _report(failures)


def _report(failures: Sequence[tuple[Unit, BaseException]]) -> None:
    if failures:
        detail = "; ".join(f"{u.agent.label} seed {u.seed}: {_cause_line(e)}" for u, e in failures)
        raise BenchmarkError(f"{len(failures)} run(s) failed ({detail}); rerun the command to retry them")


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _cause_line(error: BaseException) -> str:
    """The first line of what went wrong: a Ray task error's own cause (its message starts with the coloured task
    name), else the error's."""
    cause = getattr(error, "cause", None)
    text = _ANSI.sub("", str(cause if isinstance(cause, BaseException) else error)).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _threads_per_job(jobs: int) -> int:
    return max(1, len(os.sched_getaffinity(0)) // jobs)


_WORKER_DATASET: Any = None


PARENT_POLL_SECONDS = 1.0  # how often a worker checks that its parent is alive


def _exit_with_parent(parent: int) -> None:
    """Exit the worker at once when its parent has died (it is then reparented): no orphan goes on training."""
    while os.getppid() == parent:
        time.sleep(PARENT_POLL_SECONDS)
    os._exit(1)


def _init_worker(threads: int, dataset: Any, quiet: bool) -> None:
    global _WORKER_DATASET
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True, name="recgym-parent-watch").start()
    torch.set_num_threads(threads)
    if quiet:
        silence_d3rlpy_logs()
    _WORKER_DATASET = dataset


def _run_in_worker(unit: Unit, settings: RunSettings, digest: str) -> dict:
    return run_one(unit.agent, unit.seed, _WORKER_DATASET, unit.folder, settings, digest)


def _run_processes(
    units: Sequence[Unit], dataset: Any, settings: RunSettings, digest: str, *, jobs: int
) -> Iterator[dict]:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # inherited by the workers before their OpenMP starts
    context = multiprocessing.get_context("spawn")  # fork after torch's thread pools start can deadlock
    threads = _threads_per_job(jobs)
    failures = []
    initargs = (threads, dataset, d3rlpy_logs_silenced())  # the workers log as the caller does
    with ProcessPoolExecutor(jobs, mp_context=context, initializer=_init_worker, initargs=initargs) as pool:
        pending = {pool.submit(_run_in_worker, unit, settings, digest): unit for unit in units}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                unit = pending.pop(future)
                try:
                    yield future.result()
                except Exception as error:  # a worker's failure is reported with its unit, not lost
                    failures.append((unit, error))
    _report(failures)


def _run_ray_unit(unit: Unit, dataset: Any, settings: RunSettings, digest: str) -> dict:
    torch.set_num_threads(1)
    return run_one(unit.agent, unit.seed, dataset, unit.folder, settings, digest)


def _run_ray(
    units: Sequence[Unit], dataset: Any, settings: RunSettings, digest: str, *, address: str | None
) -> Iterator[dict]:
    import ray

    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    try:
        task = ray.remote(num_cpus=1, max_retries=2)(_run_ray_unit)
        dataset_ref = ray.put(dataset)
        pending = {task.remote(unit, dataset_ref, settings, digest): unit for unit in units}
        failures = []
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            unit = pending.pop(done[0])
            try:
                yield ray.get(done[0])
            except (ray.exceptions.RayTaskError, ray.exceptions.WorkerCrashedError) as error:
                failures.append((unit, error))
        _report(failures)
    finally:
        if started_here:
            ray.shutdown()
