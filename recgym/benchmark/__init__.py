"""Multi-seed benchmark harness: the paper's protocol end to end, for any d3rlpy discrete-action algorithm.

For each seed and agent: seed everything, train with d3rlpy's ``fitter`` (one d3rlpy epoch = ``eval_every`` steps),
evaluate on val at every epoch end, keep the best ``top_n_checkpoints`` checkpoints on disk, then evaluate those on
test once each. Baselines (``popularity``, ``random``) are not trained: they are evaluated once, at step 0. The
seeds' test numbers are aggregated into the table (mean and 95% Student-t interval over seeds,
:mod:`recgym.benchmark.stats`) for two selections made on val only (reference-protocol §7 item 22):

- ``best``: the test metrics of the single best val checkpoint;
- ``top<n>``: the mean of the test metrics of the ``n`` best val checkpoints (the paper's §4.1 "top-5" rule).

Every agent is also compared with a reference agent (``baseline``, default ``sasrec``): difference of means, Welch
interval and p-value.

**Selection rule.** Checkpoints are ranked by one val metric, ``select_by`` (default ``reward@20``, the paper's
cumulative reward: the quantity the RL agents optimise, summed over every val event so less noisy than the
purchase-only metrics). Ties go to the earlier step. Fewer than ``n`` eval points: all of them are used.

**Results folder** (``out``)::

    config.json              {"config_hash": ..., "config": ...}: dataset and options, agents with their full
                             d3rlpy config dicts, seeds, steps, eval_every, ks, selection, versions
    curves.csv               one row per agent / seed / eval step: val metrics, "train/<name>" epoch-mean training logs
    runs/<agent>/seed<k>/    result.json (written last, atomically: the run is finished), d3rlpy/ (d3rlpy's CSV logs;
                             d3rlpy-from-step<N>/ for a run resumed at step N),
                             checkpoints/step<N>.pt: safe model files (:func:`recgym.load_model`); during training
                             the ``top_n_checkpoints`` best so far, after the test evaluation only the best one;
                             training_state.pt while the run is unfinished (see Resume), test_sessions.npz
                             (the best checkpoint's per-session test sums, for the session bootstrap)
    results.csv, results.md  the test metrics of the val-selected checkpoints over seeds: mean, std, 95% CI; results.md
                             also has the comparison with the baseline and the training dynamics on val
    comparison.csv           every agent against the baseline: difference, 95% CI, p-value, per selection and metric
    sessions.csv,            the best selection with 95% intervals over seeds and test sessions (hierarchical
    sessions_comparison.csv  bootstrap, paired over sessions) and every agent against the baseline by it
    dynamics.csv             peak, final and final − peak of the val curves (seed mean; per seed with 95% CI)
    ablation.csv             an ablation folder's rows against the rows they change (``recgym ablate``)
    figures/                 val and training curves (mean, 95% CI band, switch markers, baselines as flat lines) and
                             the test metrics with their intervals, each as PNG and PDF

**One folder, one config.** The folder is keyed by the hash of ``config.json``'s config: what defines the
experiment, not where it runs (``device``, ``progress`` and the data and cache directories are left out; each run
records its device and torch thread count in ``result.json``). A folder whose config hash differs is refused with
an error naming both hashes and the changed keys: use a new ``out``. Adding seeds or agents changes the hash too.
Every argument is checked before the folder is claimed, so a rejected call writes nothing.

**Resume.** Rerunning the same call skips every run whose ``result.json`` exists. A training run saves its training
state every ``state_every`` evaluations, default every one (``training_state.pt``: weights, optimisers, gradient step
and every random generator, :mod:`recgym.benchmark.training_state`); a run killed part-way goes on from its last
saved state, and ends with the curve, checkpoints and test numbers of an uninterrupted run, bit for bit on CPU
(``result.json`` lists the steps it was resumed at). With a large catalogue the state (a few checkpoints' size) can
cost more than the time it saves: save it less often, or never (``state_every=0``). A run folder without a usable
state (none yet, another config's, damaged) is wiped and the run retrained from scratch. Every run is seeded on its
own, so a resumed benchmark gives the same table as an uninterrupted one. :func:`write_report` (``recgym report DIR``)
writes the tables and figures of the runs finished so far, while a long benchmark runs or after it stopped.
"""

from recgym.benchmark.harness import DEFAULT_BASELINE, BenchmarkResult, run_benchmark, write_report
from recgym.benchmark.plotting import plot_results
from recgym.benchmark.report import (
    aggregate,
    compare,
    select_steps,
    summarize_run,
    table_metrics,
    training_dynamics,
    val_metrics,
)
from recgym.benchmark.results import BenchmarkRuns, read_runs
from recgym.benchmark.specs import BASELINES, AgentSpec, BenchmarkError, ResolvedAgent, parse_agents, resolve_agents
from recgym.benchmark.stats import iqm_interval, mean_interval, welch_difference
from recgym.benchmark.store import config_hash, load_result

__all__ = [
    "BASELINES",
    "BenchmarkRuns",
    "DEFAULT_BASELINE",
    "AgentSpec",
    "BenchmarkError",
    "BenchmarkResult",
    "ResolvedAgent",
    "aggregate",
    "compare",
    "config_hash",
    "iqm_interval",
    "load_result",
    "mean_interval",
    "plot_results",
    "read_runs",
    "parse_agents",
    "resolve_agents",
    "run_benchmark",
    "select_steps",
    "summarize_run",
    "table_metrics",
    "training_dynamics",
    "val_metrics",
    "welch_difference",
    "write_report",
]
