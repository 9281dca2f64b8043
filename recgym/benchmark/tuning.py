"""``recgym tune``: hyperparameter search with Optuna, selected on val only, at an equal trial budget per agent.

For each agent, an Optuna study (TPE sampler, median pruning on the val curve) in SQLite storage inside the results
folder (``DIR/tune.db``, one study per agent): each trial samples the agent's search space, trains the agent from its
preset with those settings for ``steps`` gradient steps with the tuning seed, and reports the val metric
``select_by`` at every evaluation; its value is the best val value of its curve (the checkpoint the benchmark would
select). Baselines without training (``sknn``, ``vsknn``) are evaluated once per trial. Nothing is evaluated on test.

**Search spaces.** :data:`SEARCH_SPACES` holds one per agent; a JSON file (``space=``) replaces an agent's space or
adds one, as ``{AGENT: {KEY: DIMENSION}}``, where a key is anything ``-a`` takes for that agent (a config field, an
encoder field) and a dimension is ``{"float": [LOW, HIGH]}`` (``"log": true`` for a log scale), ``{"int": [LOW,
HIGH]}`` (``"step"``, ``"log"``), ``{"choices": [...]}``, or ``{"fraction_of_steps": [LOW, HIGH]}`` (an integer step
count, e.g. ``switch_step``, at that fraction of the run).

**Equal budgets.** Every agent of one call gets ``trials`` finished trials (complete or pruned).

**Resume and determinism.** Rerunning the same call goes on: finished trials are kept, a trial left running by an
interrupted process is marked failed and asked again. Pruning stops a trained agent's trial at an evaluation before
its last one (a trial at its last evaluation, or a baseline's single evaluation, has nothing left to save). The sampler of the k-th finished trial is seeded from
(``trial_seed``, k), and training is seeded with ``trial_seed``, so a resumed tune asks and scores the same trials as an
uninterrupted one (bit for bit on CPU) and ends on the same best trial.

**Output** (``out``): ``config.json`` (the call, keyed by its hash as a benchmark folder is), ``tune.db``,
``trials.csv`` (every trial: agent, number, state, value, settings), ``preset.json`` (the best settings per agent
over the base preset: ``recgym benchmark --preset DIR/preset.json`` and ``agents.make_config(name,
preset=...)`` use it), ``tune.md`` and ``figures/tune.png`` (best val value so far against trials, per agent).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure
from tqdm.auto import tqdm

from agents import PRESETS
from agents.presets import PRESET_FILE_FORMAT
from recgym.benchmark.harness import check_device, load_for_benchmark
from recgym.benchmark.report import val_metrics
from recgym.benchmark.runner import RunSettings, val_curve
from recgym.benchmark.specs import BASELINES, BenchmarkError, ResolvedAgent, parse_agents, resolve_agents
from recgym.benchmark.store import claim_folder, folder_lock, write_json
from recgym.checks import check_number
from recgym.evaluation.knn import KNN_PRESETS

__all__ = ["SEARCH_SPACES", "TuneResult", "fit_to_catalogue", "read_search_space", "tune"]

Space = dict[str, dict[str, Any]]
"""A search space: key -> dimension (module doc)."""

_LEARNING_RATE: dict[str, Any] = {"float": [1e-4, 1e-2], "log": True}
_ENCODER: Space = {"hidden_size": {"int": [32, 128], "step": 32}, "dropout": {"float": [0.0, 0.5]}}
_SUPERVISED: Space = {"learning_rate": _LEARNING_RATE, **_ENCODER}
_DOUBLE_Q: Space = {**_SUPERVISED, "n_negatives": {"int": [5, 100], "log": True}, "td_weight": {"float": [0.1, 2.0]}}
_SECOND_PHASE: Space = {"switch_step": {"fraction_of_steps": [0.2, 0.8]}, "learning_rate_2": _LEARNING_RATE}
_KNN: Space = {
    "k": {"int": [20, 500], "log": True},
    "sample_size": {"int": [100, 5000], "log": True},
    "similarity": {"choices": ["cosine", "jaccard"]},
}
_D3RLPY: Space = {"learning_rate": _LEARNING_RATE, **_ENCODER}

SEARCH_SPACES: dict[str, Space] = {
    "sasrec": _SUPERVISED,
    "fmlp": _SUPERVISED,
    "gsasrec": {**_SUPERVISED, "n_negatives": {"int": [16, 512], "log": True}, "calibration": {"float": [0.0, 1.0]}},
    "cl4srec": {**_SUPERVISED, "contrastive_weight": {"float": [0.01, 1.0], "log": True}},
    "sqn": _DOUBLE_Q,
    "snqn": {**_DOUBLE_Q, "reward_negative": {"float": [-2.0, 0.0]}},
    "ac": {**_DOUBLE_Q, **_SECOND_PHASE},
    "sa2c": {**_DOUBLE_Q, **_SECOND_PHASE},
    "co": {**_DOUBLE_Q, **_SECOND_PHASE, "contrastive_weight": {"float": [0.01, 1.0], "log": True}},
    "ccql": {
        **_DOUBLE_Q,
        "cql_alpha": {"float": [0.001, 1.0], "log": True},
        "contrastive_weight": {"float": [0.01, 1.0], "log": True},
    },
    "ccql_ref": {
        **_DOUBLE_Q,
        **_SECOND_PHASE,
        "cql_alpha": {"float": [0.001, 1.0], "log": True},
        "contrastive_weight": {"float": [0.01, 1.0], "log": True},
    },
    "sknn": _KNN,
    "vsknn": {**_KNN, "weighting": {"choices": ["same", "linear", "quadratic", "log"]}},
    "dqn": _D3RLPY,
    "double_dqn": _D3RLPY,
    "nfq": _D3RLPY,
    "discrete_bc": _D3RLPY,
    "discrete_bcq": _D3RLPY,
    "discrete_cql": {**_D3RLPY, "alpha": {"float": [0.01, 10.0], "log": True}},
    "discrete_sac": {"actor_learning_rate": _LEARNING_RATE, "critic_learning_rate": _LEARNING_RATE, **_ENCODER},
}
"""The default search space of every agent: learning rates (log-uniform over 1e-4..1e-2), the encoder's hidden size
and dropout, the number of negatives and the TD weight of the double-Q agents, the switch step and second learning
rate of two-phase schedules, each objective's own weights; neighbour counts, sample sizes and similarities of the kNN
baselines. On a small catalogue, ``n_negatives`` is capped at the other items (:func:`fit_to_catalogue`). Ranges span the values the papers and their public configurations use, not values chosen on any test
split."""

_DIMENSION_KINDS = ("float", "int", "choices", "fraction_of_steps")


@dataclass(frozen=True)
class TuneResult:
    """What a finished tune wrote: the folder, every trial, and the best settings and val value per agent."""

    out_dir: Path
    trials: pd.DataFrame
    best: dict[str, dict[str, Any]]
    """Agent label -> {"trial": number, "value": best val value, "settings": {key: value}}."""
    preset_file: Path


def read_search_space(path: str | os.PathLike[str]) -> dict[str, Space]:
    """A search-space file: JSON ``{AGENT: {KEY: DIMENSION}}`` (module doc); checked by :func:`_check_space`."""
    path = Path(path).expanduser()
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise BenchmarkError(f"search space {path}: {error.strerror or error}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BenchmarkError(f"search space {path}: not JSON ({error})") from None
    if not isinstance(content, dict) or not all(isinstance(space, dict) for space in content.values()):
        raise BenchmarkError(f"search space {path}: expected {{AGENT: {{KEY: DIMENSION}}}}")
    return content


def _check_dimension(agent: str, key: str, dimension: Any) -> None:
    """One line naming the agent and key when a dimension cannot be sampled."""
    where = f"search space of {agent}: {key}"
    if not isinstance(dimension, dict) or sum(kind in dimension for kind in _DIMENSION_KINDS) != 1:
        raise BenchmarkError(f"{where}: expected one of {', '.join(_DIMENSION_KINDS)}, got {dimension!r}")
    if "choices" in dimension:
        if not isinstance(dimension["choices"], list) or not dimension["choices"]:
            raise BenchmarkError(f"{where}: choices must be a non-empty list")
        return
    kind = next(kind for kind in _DIMENSION_KINDS if kind in dimension)
    bounds = dimension[kind]
    integer = kind == "int"
    if not (isinstance(bounds, list) and len(bounds) == 2):
        raise BenchmarkError(f"{where}: {kind} takes [LOW, HIGH], got {bounds!r}")
    for bound in bounds:
        check_number(f"{where} bound", bound, integer=integer, error=BenchmarkError)
    low, high = bounds
    if low > high:
        raise BenchmarkError(f"{where}: LOW {low} is above HIGH {high}")
    if dimension.get("log") and low <= 0:
        raise BenchmarkError(f"{where}: a log scale needs LOW > 0, got {low}")
    if kind == "fraction_of_steps" and not 0 < low <= high < 1:
        raise BenchmarkError(f"{where}: fractions of the run must lie in (0, 1), got {bounds}")
    unknown = set(dimension) - {kind, "log", "step"}
    if unknown:
        raise BenchmarkError(f"{where}: unknown key(s) {sorted(unknown)}")


def _sample(trial: Any, dimensions: Mapping[str, Mapping[str, Any]], steps: int, eval_every: int) -> dict[str, Any]:
    """The trial's settings; a ``fraction_of_steps`` is rounded to a multiple of ``eval_every`` inside the run."""
    settings = {}
    for key, dimension in dimensions.items():
        if "choices" in dimension:
            settings[key] = trial.suggest_categorical(key, dimension["choices"])
        elif "int" in dimension:
            low, high = dimension["int"]
            settings[key] = trial.suggest_int(
                key, low, high, step=dimension.get("step", 1), log=dimension.get("log", False)
            )
        elif "float" in dimension:
            low, high = dimension["float"]
            settings[key] = trial.suggest_float(key, low, high, log=dimension.get("log", False))
        else:
            settings[key] = _steps_at(trial.suggest_float(key, *dimension["fraction_of_steps"]), steps, eval_every)
    return settings


def _steps_at(fraction: float, steps: int, eval_every: int) -> int:
    """The step count at ``fraction`` of a run of ``steps``: a multiple of ``eval_every`` strictly inside the run."""
    return min(max(eval_every, round(fraction * steps / eval_every) * eval_every), steps - eval_every)


def _sampler_seed(seed: int, index: int) -> int:
    """The seed of the sampler that asks the ``index``-th finished trial: a hash of both, below 2**32."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{index}".encode()).digest()[:4], "little")


def _optuna() -> Any:
    try:
        import optuna
    except ImportError:
        raise BenchmarkError("recgym tune needs Optuna: pip install 'recgym[tune]'") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def tune(
    dataset: Any,
    agents: str | Sequence[str],
    *,
    trials: int,
    steps: int,
    eval_every: int,
    out: str | os.PathLike[str],
    trial_seed: int = 0,
    space: str | os.PathLike[str] | Mapping[str, Mapping[str, Any]] | None = None,
    preset: str | None = None,
    select_by: str | None = None,
    ks: Sequence[int] = (5, 10, 20),
    prune: bool = True,
    device: str = "cpu",
    progress: bool = True,
    **dataset_options: Any,
) -> TuneResult:
    """Tune every agent of ``agents`` (names, comma-separated or a list) on ``dataset`` with ``trials`` finished
    trials each (module doc). ``space``: a search-space file or mapping over :data:`SEARCH_SPACES`; ``preset``: the
    base preset (default: the dataset's name when it is a preset, else "synthetic"); ``select_by`` (default
    ``reward@<max k>``): the val metric maximised; ``prune``: median pruning on the val curve (from the sixth trial
    on, after each trial's first evaluation); ``trial_seed``: the training seed of every trial and the samplers' seed (``seed``, a
    dataset option, seeds the split as everywhere).
    Every argument is checked before anything is written."""
    optuna = _optuna()
    names = list(parse_agents(agents).values()) if isinstance(agents, str) else list(agents)
    check_number("trials", trials, at_least=1, integer=True, error=BenchmarkError)
    check_number("steps", steps, at_least=1, integer=True, error=BenchmarkError)
    check_number("eval_every", eval_every, at_least=1, integer=True, error=BenchmarkError)
    check_number("trial_seed", trial_seed, at_least=0, integer=True, error=BenchmarkError)
    if steps % eval_every:
        raise BenchmarkError(f"steps ({steps}) must be a positive multiple of eval_every ({eval_every})")
    ks = tuple(sorted(int(k) for k in ks))
    select_by = select_by or f"reward@{ks[-1]}"
    if select_by not in val_metrics(ks):
        raise BenchmarkError(f"select_by must be one of {val_metrics(ks)}, got {select_by!r}")
    check_device(device)
    given = read_search_space(space) if isinstance(space, (str, os.PathLike)) else dict(space or {})
    spaces = {**SEARCH_SPACES, **given}
    if not names or len(set(names)) != len(names):
        raise BenchmarkError(f"agents must be distinct names, got {names!r}")
    for name in names:
        if name not in spaces:
            raise BenchmarkError(f"no search space for {name!r}: give one in a space file ({{{name!r}: {{KEY: ...}}}})")
        if name in BASELINES and name not in KNN_PRESETS:
            raise BenchmarkError(f"{name} has nothing to tune")
        for key, dimension in spaces[name].items():
            _check_dimension(name, key, dimension)
    unused = sorted(set(given) - set(names))
    if unused:
        raise BenchmarkError(f"the search space names agents not tuned here: {', '.join(unused)}")

    data, description = load_for_benchmark(dataset, dataset_options, progress)
    data.require_nonempty("val")
    spaces = {
        name: given[name] if name in given else fit_to_catalogue(SEARCH_SPACES[name], int(data.n_items))
        for name in names
    }
    preset = preset or (data.name if data.name in PRESETS else "synthetic")
    if preset not in PRESETS:
        raise BenchmarkError(f"preset must be one of {sorted(PRESETS)}, got {preset!r}")
    for name in names:  # every key, both ends of every range and every choice build and update (nothing written)
        for settings in _probes(spaces[name], steps, eval_every):
            _agent(name, preset, settings, data, steps, eval_every)
    config = {
        "dataset": description,
        "agents": names,
        "space": {name: spaces[name] for name in names},
        "agent_preset": preset,
        "trials": trials,
        "steps": steps,
        "eval_every": eval_every,
        "ks": list(ks),
        "select_by": select_by,
        "trial_seed": trial_seed,
        "prune": prune,
    }
    out_dir = Path(out)
    settings_of_run = RunSettings(steps, eval_every, ks, 1, select_by, device, False, loggers=())  # no training logs
    with folder_lock(out_dir):
        claim_folder(out_dir, config, data.inputs)
        storage = f"sqlite:///{(out_dir / 'tune.db').resolve()}"
        with tqdm(total=trials * len(names), desc="tune trials", unit="trial", disable=not progress) as bar:
            for name in names:
                study = optuna.create_study(study_name=name, storage=storage, direction="maximize", load_if_exists=True)
                _run_study(optuna, study, name, spaces[name], trials, preset, data, settings_of_run, out_dir,
                           trial_seed, prune, bar)  # fmt: skip
        return _write_outputs(optuna, out_dir, storage, names, preset, config)


def fit_to_catalogue(space: Space, n_items: int) -> Space:
    """A default space on a catalogue of ``n_items``: ``n_negatives`` capped at the other items (``n_items - 1``), as
    the presets cap theirs."""
    fitted = dict(space)
    if "n_negatives" in fitted:
        low, high = fitted["n_negatives"]["int"]
        cap = max(1, n_items - 1)
        fitted["n_negatives"] = {**fitted["n_negatives"], "int": [min(low, cap), min(high, cap)]}
    return fitted


def _probes(space: Mapping[str, Mapping[str, Any]], steps: int, eval_every: int) -> list[dict[str, Any]]:
    """Settings that together try every key at both ends of its range and every one of its choices."""
    corners = [{key: _corner(dimension, corner, steps, eval_every) for key, dimension in space.items()}
               for corner in (0, -1)]  # fmt: skip
    choices = [
        {**corners[0], key: choice} for key, dimension in space.items() for choice in dimension.get("choices", [])
    ]
    return corners + choices


def _corner(dimension: Mapping[str, Any], corner: int, steps: int, eval_every: int) -> Any:
    """The low (``corner`` 0) or high (-1) end of a dimension, as a trial would get it."""
    if "choices" in dimension:
        return dimension["choices"][corner]
    kind = next(kind for kind in ("int", "float", "fraction_of_steps") if kind in dimension)
    return _as_setting(dimension, dimension[kind][corner], steps, eval_every)


def _agent(
    name: str, preset: str, settings: Mapping[str, Any], data: Any, steps: int, eval_every: int
) -> ResolvedAgent:
    """Agent ``name`` from ``preset`` with ``settings`` applied as ``-a`` options are (the same checks)."""
    return resolve_agents(
        {name: name}, preset=preset, n_items=int(data.n_items), state_size=int(data.state_size), steps=steps,
        eval_every=eval_every, agent_options={f"{name}.{key}": value for key, value in settings.items()},
    )[name]  # fmt: skip


def _run_study(
    optuna: Any, study: Any, name: str, dimensions: Mapping[str, Any], trials: int, preset: str, data: Any,
    settings: RunSettings, out_dir: Path, seed: int, prune: bool, bar: Any,
) -> None:  # fmt: skip
    """Ask and score trials of ``name`` until ``trials`` are finished; a trial left running is marked failed."""
    states = optuna.trial.TrialState
    for stale in study.get_trials(deepcopy=False, states=(states.RUNNING,)):
        study.tell(stale.number, state=states.FAIL)
    finished = len(study.get_trials(deepcopy=False, states=(states.COMPLETE, states.PRUNED)))
    bar.update(min(finished, trials))
    pruner = optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=0) if prune else optuna.pruners.NopPruner()
    study.pruner = pruner
    while finished < trials:
        study.sampler = optuna.samplers.TPESampler(seed=_sampler_seed(seed, finished))
        trial = study.ask()
        chosen = _sample(trial, dimensions, settings.steps, settings.eval_every)
        agent = _agent(name, preset, chosen, data, settings.steps, settings.eval_every)
        folder = out_dir / "trials" / name / f"trial{trial.number}"

        def report(row: dict[str, Any], trial: Any = trial, trained: bool = agent.config is not None) -> None:
            step = int(row["step"])
            trial.report(float(row[settings.select_by]), step)
            if trained and step < settings.steps and trial.should_prune():  # the last evaluation has nothing to save
                raise optuna.TrialPruned()

        try:
            curve = val_curve(agent, seed, data, folder, settings, on_evaluation=report)
        except optuna.TrialPruned:
            study.tell(trial, state=states.PRUNED)
        else:
            values = [float(row[settings.select_by]) for row in curve]
            study.tell(trial, max(values) if all(math.isfinite(v) for v in values) else float("-inf"))
        finished += 1
        bar.update()


def _write_outputs(
    optuna: Any, out_dir: Path, storage: str, names: Sequence[str], preset: str, config: Mapping[str, Any]
) -> TuneResult:
    rows, best = [], {}
    for name in names:
        study = optuna.load_study(study_name=name, storage=storage)
        finished = [t for t in study.trials if t.state.is_finished() and t.state.name in ("COMPLETE", "PRUNED")]
        for trial in finished:
            rows.append({"agent": name, "trial": trial.number, "state": trial.state.name.lower(),
                         "value": trial.value, **{f"param/{k}": v for k, v in trial.params.items()}})  # fmt: skip
        complete = [t for t in finished if t.state.name == "COMPLETE"]
        if not complete:
            raise BenchmarkError(f"{name}: no trial completed (every one was pruned or failed); see {out_dir}")
        top = max(complete, key=lambda t: (t.value, -t.number))  # ties: the earlier trial
        dimensions = config["space"][name]
        chosen = {
            key: _as_setting(dimensions[key], value, config["steps"], config["eval_every"])
            for key, value in top.params.items()
        }
        best[name] = {"trial": top.number, "value": float(top.value), "settings": chosen}
    trials = pd.DataFrame(rows)
    trials.to_csv(out_dir / "trials.csv", index=False)
    preset_file = out_dir / "preset.json"
    write_json(preset_file, {
        "format": PRESET_FILE_FORMAT,
        "base": preset,
        "agents": {name: entry["settings"] for name, entry in best.items()},
        "tuned": {key: config[key] for key in ("trials", "steps", "eval_every", "select_by", "trial_seed", "prune")}
        | {"best": {name: {"trial": e["trial"], "val": e["value"]} for name, e in best.items()}},
    })  # fmt: skip
    _write_report(out_dir, trials, best, config)
    return TuneResult(out_dir, trials, best, preset_file)


def _as_setting(dimension: Mapping[str, Any], value: Any, steps: int, eval_every: int) -> Any:
    """A sampled parameter as the agent takes it (a fraction of the run becomes its step count)."""
    return _steps_at(value, steps, eval_every) if "fraction_of_steps" in dimension else value


def _write_report(out_dir: Path, trials: pd.DataFrame, best: Mapping[str, Any], config: Mapping[str, Any]) -> None:
    metric = config["select_by"]
    lines = [
        f"# Tuning: {len(best)} agent(s), {config['trials']} trials each, {config['steps']} steps, val {metric}",
        "",
        "Selected on val only (the best val evaluation of each trial's curve); nothing here was evaluated on test.",
        "",
        f"| agent | best trial | val {metric} | pruned | settings |",
        "|---|---:|---:|---:|---|",
    ]
    for name, entry in best.items():
        pruned = int((trials[trials["agent"] == name]["state"] == "pruned").sum())
        settings = ", ".join(f"{k}={_short(v)}" for k, v in entry["settings"].items())
        lines.append(f"| {name} | {entry['trial']} | {entry['value']:.4f} | {pruned} | {settings} |")
    lines += ["", "![best val value so far](figures/tune.png)", ""]
    (out_dir / "tune.md").write_text("\n".join(lines))
    figure = Figure(figsize=(6, 3.5))
    axes = figure.subplots()
    for name in best:
        rows = trials[(trials["agent"] == name) & (trials["state"] == "complete")].sort_values("trial")
        axes.step(rows["trial"], rows["value"].cummax(), where="post", label=name)
    axes.set_xlabel("trial")
    axes.set_ylabel(f"best val {metric} so far")
    axes.legend(fontsize="small")
    figure.tight_layout()
    (out_dir / "figures").mkdir(exist_ok=True)
    figure.savefig(out_dir / "figures" / "tune.png", dpi=120)


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
