"""Agent specs -> labelled, validated configs: names, module specs, baselines and ``-a`` options.

An agent spec is one of

- a registered name: a recgym agent (``agents.AGENTS``, from the dataset's preset) or one of d3rlpy's discrete
  algorithms by its type name (``dqn``, ``double_dqn``, ``nfq``, ``discrete_cql``, ``discrete_bcq``,
  ``discrete_sac``, ``discrete_bc``), put on the agents' footing by :func:`agents.d3rlpy_presets.for_recommendation`;
- a baseline, ``popularity`` (train-split popularity), ``random``, ``sknn`` / ``vsknn`` (session-based kNN on the
  train split, :data:`recgym.evaluation.knn.KNN_PRESETS`), or ``oracle`` (the synthetic world's own next-click
  probabilities, :class:`recgym.evaluation.online.OraclePolicy`; needs online evaluation): no training, evaluated once at step 0;
- ``"module:ConfigClass"`` or a d3rlpy ``LearnableConfig``: every encoder field left at its default gets the SASRec
  encoder (d3rlpy's own classes also get the preset); a config instance passed from Python keeps its other values.

Options (``-a KEY=VALUE``): ``LABEL.FIELD`` sets one agent's field; a plain ``FIELD`` sets it on every trained agent
that has it. A grid (``--grid KEY=V1,V2,...``, keys as options, several grids crossed) replaces each agent it
applies to by one row per grid point, labelled ``LABEL-FIELD=VALUE`` (``ccql-n_negatives=30``), after the options. A
field is a config field or an encoder field (``hidden_size``, ``n_blocks``, ``n_heads``, ``dropout``) of an agent
with an item encoder; ``encoder=NAME`` (``-a encoder=caser``, ``-a sqn.encoder=gru``) first swaps every item encoder
of a config for that backbone of ``agents.encoders.ENCODERS``, keeping ``n_items`` and ``hidden_size``, and the
other encoder options of the same agent then apply to the new backbone.

Step counts follow the run's length (:mod:`agents.budget`): a preset's switch after the end of the run is moved into
it, the d3rlpy preset's target sync follows the run, and an explicit value that does not fit the run is refused.

Everything is checked before a run starts, so a rejected call writes nothing: an unknown label or field, a value of
the wrong type or out of its range (:func:`agents.validation.check_config`, with the catalogue's size), a step count
that does not fit the run, a ``log_every`` that does not divide ``eval_every``, a baseline given options, a spec that
is not a discrete d3rlpy algorithm, a config whose networks cannot be built, or one whose update fails on a toy batch
(one update of a copy on a few random states of the run's shape) is a :class:`BenchmarkError`.
"""

from __future__ import annotations

import dataclasses
import importlib
import re
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np
from d3rlpy.algos import DiscreteRandomPolicyConfig
from d3rlpy.base import LearnableConfig
from d3rlpy.constants import ActionSpace
from d3rlpy.dataset import MDPDataset, TransitionMiniBatch

from agents import AGENTS, PresetFile, make_config
from agents.budget import check_budget
from agents.d3rlpy_presets import ENCODER_FIELDS, for_recommendation
from agents.encoders import ENCODERS, ItemEncoderFactory, with_backbone
from agents.step_switches import recorded_params
from agents.validation import check_config
from recgym.errors import InvalidOptionError, RecgymError
from recgym.evaluation.knn import KNN_PRESETS, KNN_SETTINGS, check_knn_settings

__all__ = [
    "BASELINES",
    "AgentSpec",
    "BenchmarkError",
    "ResolvedAgent",
    "describe_agent",
    "parse_agents",
    "resolve_agents",
]

AgentSpec: TypeAlias = str | LearnableConfig
"""A registered name, a baseline name, ``"module:ConfigClass"`` or a d3rlpy config."""

BASELINES = ("popularity", "random", "oracle", "sknn", "vsknn")
_LABEL = re.compile(r"^[A-Za-z0-9_-]+$")
_GRID_LABEL = re.compile(r"^[A-Za-z0-9_.=-]+$")


class BenchmarkError(RecgymError, ValueError):
    """A benchmark argument, agent spec or results folder that the user must fix; the message says how."""


@dataclass(frozen=True)
class ResolvedAgent:
    """One row of the benchmark: a trained config, or a baseline (``config`` None)."""

    label: str
    spec: str | None
    config: LearnableConfig | None
    baseline: str | None = None
    options: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    """A kNN baseline's settings over its preset (:data:`~recgym.evaluation.knn.KNN_SETTINGS`)."""


def parse_agents(text: str) -> dict[str, str]:
    """``"sasrec,bcq=d3rlpy.algos:DiscreteBCQConfig"`` -> {label: spec}; an unlabelled spec is its own label."""
    agents: dict[str, str] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        label, _, spec = item.rpartition("=") if "=" in item else ("", "", item)
        label = label or default_label(spec)
        if label in agents:
            raise BenchmarkError(f"two agents are labelled {label!r}: label one of them, e.g. {label}2={spec}")
        agents[label] = spec
    return agents


def default_label(spec: AgentSpec) -> str:
    """A name labels itself; ``module:Config`` and configs by their d3rlpy type (``discrete_bcq``)."""
    if isinstance(spec, str) and ":" not in spec:
        return spec
    return _import_config(spec).get_type() if isinstance(spec, str) else spec.get_type()


def resolve_agents(
    agents: Sequence[AgentSpec] | Mapping[str, AgentSpec],
    *,
    preset: str | PresetFile,
    n_items: int,
    state_size: int,
    steps: int,
    eval_every: int,
    agent_options: Mapping[str, Any] | None = None,
    grid: Mapping[str, Sequence[Any]] | None = None,
) -> dict[str, ResolvedAgent]:
    """Label -> :class:`ResolvedAgent` with the options and grid applied, for a run of ``steps`` evaluated every
    ``eval_every``; every problem is a :class:`BenchmarkError`. ``preset``: a name of ``agents.PRESETS`` or a preset
    file (``agents.read_preset_file``, e.g. ``recgym tune``'s ``preset.json``)."""
    items = agents.items() if isinstance(agents, Mapping) else [(default_label(spec), spec) for spec in agents]
    resolved: dict[str, ResolvedAgent] = {}
    for label, spec in items:
        if not _LABEL.match(label):
            raise BenchmarkError(f"agent label {label!r} must match {_LABEL.pattern} (it names a folder)")
        if label in resolved:
            raise BenchmarkError(f"two agents are labelled {label!r}: pass a mapping {{label: spec}} instead")
        resolved[label] = _resolve(label, spec, preset=preset, n_items=n_items, steps=steps)
    if not resolved:
        raise BenchmarkError("no agents given")
    resolved = _apply_options(resolved, agent_options or {})
    resolved = _expand_grid(resolved, grid or {})
    for agent in resolved.values():
        if agent.config is not None:
            _check_trainable(agent, n_items, state_size, steps, eval_every)
    return resolved


def _resolve(label: str, spec: AgentSpec, *, preset: str | PresetFile, n_items: int, steps: int) -> ResolvedAgent:
    """The agent of ``spec`` from ``preset``; a preset file's settings for a named agent or baseline are applied
    over its base preset as ``-a`` options are (the same checks)."""
    if isinstance(preset, PresetFile):
        agent = _resolve(label, spec, preset=preset.base, n_items=n_items, steps=steps)
        settings = preset.agents.get(spec, {}) if isinstance(spec, str) else {}
        return _with(agent, label, settings) if settings else agent
    if isinstance(spec, str) and spec in BASELINES:
        return ResolvedAgent(label, spec, None, baseline=spec)
    if isinstance(spec, LearnableConfig):
        return ResolvedAgent(label, None, _checked(label, for_recommendation(spec, n_items, steps=steps)))
    if not isinstance(spec, str):
        raise BenchmarkError(f"an agent spec is a name, a d3rlpy LearnableConfig or 'module:ConfigClass', got {spec!r}")
    if ":" in spec:
        config = for_recommendation(_import_config(spec), n_items, steps=steps)
        return ResolvedAgent(label, spec, _checked(label, config))
    if spec not in AGENTS:
        known = sorted({*AGENTS, *BASELINES})
        raise BenchmarkError(f"unknown agent {spec!r}; expected one of {known} or module:ConfigClass")
    return ResolvedAgent(label, spec, make_config(spec, dataset=preset, n_items=n_items, steps=steps))


def _import_config(spec: str) -> LearnableConfig:
    module, _, attr = spec.partition(":")
    try:
        obj = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError, ValueError) as error:
        raise BenchmarkError(f"cannot import agent spec {spec!r}: {error} (is its folder on PYTHONPATH?)") from error
    config = obj() if isinstance(obj, type) and issubclass(obj, LearnableConfig) else obj
    if not isinstance(config, LearnableConfig):
        raise BenchmarkError(f"{spec} is not a d3rlpy LearnableConfig (class or instance)")
    return config


def _checked(label: str, config: LearnableConfig) -> LearnableConfig:
    """Refuse what cannot be a row: a random policy (use the baseline) or a continuous-action algorithm."""
    if isinstance(config, DiscreteRandomPolicyConfig):
        raise BenchmarkError(f"agent {label}: DiscreteRandomPolicy does not learn; use the baseline agent 'random'")
    action_type = config.create(device="cpu:0").get_action_type()
    if action_type not in (ActionSpace.DISCRETE, ActionSpace.BOTH):
        raise BenchmarkError(
            f"agent {label}: {type(config).__name__} is a continuous-action algorithm; items need a discrete one"
        )
    return config


def _accepts(config: LearnableConfig, key: str) -> bool:
    if key in {f.name for f in dataclasses.fields(config)}:
        return True
    factories = [getattr(config, name) for name in _item_encoder_fields(config)]
    if key == "encoder":
        return bool(factories)
    return key != "n_items" and any(key in {f.name for f in dataclasses.fields(factory)} for factory in factories)


def _item_encoder_fields(config: LearnableConfig) -> list[str]:
    return [name for name in ENCODER_FIELDS if isinstance(getattr(config, name, None), ItemEncoderFactory)]


def _takers(agents: Mapping[str, ResolvedAgent], key: str, kind: str) -> tuple[list[str], str]:
    """The labels an option or grid key applies to, and its field; an error when it applies to none."""
    label, _, field = key.rpartition(".")
    if label:
        if label not in agents:
            raise BenchmarkError(f"{kind} {key}: no agent is labelled {label!r} in this run ({', '.join(agents)})")
        config = agents[label].config
        if config is None:
            if agents[label].baseline in KNN_PRESETS and field in KNN_SETTINGS:
                return [label], field
            raise BenchmarkError(
                f"{kind} {key}: {label} is a baseline and takes no training options (the kNN baselines take "
                f"{', '.join(KNN_SETTINGS)})"
            )
        if not _accepts(config, field):
            raise BenchmarkError(f"{kind} {key}: {type(config).__name__} has no field {field!r}")
        return [label], field
    takers = [name for name, agent in agents.items() if agent.config is not None and _accepts(agent.config, field)]
    if not takers:
        raise BenchmarkError(f"{kind} {key}: no trained agent of this run has a field {field!r}")
    return takers, field


def _apply_options(agents: dict[str, ResolvedAgent], options: Mapping[str, Any]) -> dict[str, ResolvedAgent]:
    backbones = {key: value for key, value in options.items() if key.rpartition(".")[2] == "encoder"}
    if backbones and len(backbones) < len(options):  # backbones first: the other options meet the new encoders
        agents = _apply_options(agents, backbones)
        options = {key: value for key, value in options.items() if key not in backbones}
    per_agent: dict[str, dict[str, Any]] = {label: {} for label in agents}
    qualified = sorted(options, key=lambda key: "." not in key)  # an agent's own value wins over a shared one
    for key in qualified:
        labels, field = _takers(agents, key, "option")
        for name in labels:
            per_agent[name].setdefault(field, options[key])
    return {
        label: _with(agent, label, per_agent[label]) if per_agent[label] else agent for label, agent in agents.items()
    }


def _with(agent: ResolvedAgent, label: str, options: Mapping[str, Any]) -> ResolvedAgent:
    """``agent`` (labelled ``label``) with ``options``: fields of its config, or a kNN baseline's settings."""
    if agent.config is not None:
        return dataclasses.replace(agent, label=label, config=_with_options(label, agent.config, options))
    settings = {**agent.options, **options}
    try:
        check_knn_settings(**settings)
    except InvalidOptionError as error:
        raise BenchmarkError(f"agent {label}: {error}") from None
    return dataclasses.replace(agent, label=label, options=settings)


def _expand_grid(agents: dict[str, ResolvedAgent], grid: Mapping[str, Sequence[Any]]) -> dict[str, ResolvedAgent]:
    """Each agent a grid key applies to becomes one row per point of the crossed grid, labelled by its values."""
    points: dict[str, list[dict[str, Any]]] = {label: [{}] for label in agents}
    for key, values in grid.items():
        if not values:
            raise BenchmarkError(f"grid {key}: no values")
        labels, field = _takers(agents, key, "grid")
        for name in labels:
            points[name] = [{**point, field: value} for point in points[name] for value in values]
    expanded: dict[str, ResolvedAgent] = {}
    for label, agent in agents.items():
        for point in points[label]:
            name = "-".join([label, *(f"{field}={value}" for field, value in point.items())])
            if not _GRID_LABEL.match(name):
                raise BenchmarkError(f"grid label {name!r} must match {_GRID_LABEL.pattern} (it names a folder)")
            if name in expanded:
                raise BenchmarkError(f"grid gives two rows labelled {name!r}: a value is repeated")
            expanded[name] = _with(agent, name, point) if point else dataclasses.replace(agent, label=name)
    return expanded


def _with_options(label: str, config: LearnableConfig, options: Mapping[str, Any]) -> LearnableConfig:
    fields = {f.name for f in dataclasses.fields(config)}
    own = {key: value for key, value in options.items() if key in fields}
    encoder = {key: value for key, value in options.items() if key not in fields}
    _check_types(label, type(config), own)
    backbone = encoder.pop("encoder", None)
    if backbone is not None and (not isinstance(backbone, str) or backbone not in ENCODERS):
        raise BenchmarkError(f"agent {label}: unknown encoder {backbone!r}; expected one of {sorted(ENCODERS)}")
    for name in _item_encoder_fields(config) if encoder or backbone else ():
        factory = with_backbone(getattr(config, name), backbone) if backbone else getattr(config, name)
        _check_types(label, type(factory), encoder)
        unknown = set(encoder) - {f.name for f in dataclasses.fields(factory)}
        if unknown:
            raise BenchmarkError(f"agent {label}: {type(factory).__name__} has no field(s) {sorted(unknown)}")
        own[name] = dataclasses.replace(factory, **encoder)
    try:
        return dataclasses.replace(config, **own)
    except (TypeError, ValueError) as error:
        raise BenchmarkError(f"agent {label}: {error}") from error


def _check_types(label: str, cls: type, values: Mapping[str, Any]) -> None:
    """Values of simple-typed fields (bool, int, float, str, optional or not) must have that type."""
    hints = typing.get_type_hints(cls)
    for key, value in values.items():
        allowed = _simple_types(hints.get(key))
        if allowed is None:
            continue
        ok = isinstance(value, allowed) and not (isinstance(value, bool) and bool not in allowed)
        if not ok:
            names = " or ".join("None" if t is type(None) else t.__name__ for t in allowed)
            raise BenchmarkError(f"agent {label}: {key} must be {names}, got {value!r}")


def _simple_types(hint: Any) -> tuple[type, ...] | None:
    args = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
    if not all(arg in (bool, int, float, str, type(None)) for arg in args):
        return None
    allowed = set(args) | ({int} if float in args else set())  # an int is a valid float
    return tuple(allowed)


def _check_trainable(agent: ResolvedAgent, n_items: int, state_size: int, steps: int, eval_every: int) -> None:
    """Everything that would otherwise fail (or silently mislead) only once training runs, checked up front."""
    config = agent.config
    assert config is not None
    try:
        check_config(config, n_items)
        check_budget(config, steps)
    except RecgymError as error:
        raise BenchmarkError(f"agent {agent.label}: {error}") from error
    log_every = getattr(config, "log_every", 1)
    if eval_every % log_every:
        raise BenchmarkError(
            f"agent {agent.label}: log_every={log_every} must divide eval_every={eval_every} (each evaluation's "
            "logged means cover exactly its steps)"
        )
    try:
        algo = config.create(device="cpu:0")
        algo.create_impl((state_size,), n_items)
        algo.update(_toy_batch(n_items, state_size))
    except Exception as error:  # any failure to build or update is the option's fault; the message says which
        first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
        name = type(config).__name__
        raise BenchmarkError(
            f"agent {agent.label}: {name} fails to build or update on a toy batch: {first_line}"
        ) from error


def _toy_batch(n_items: int, state_size: int, size: int = 4) -> TransitionMiniBatch:
    """``size`` transitions of random states (pads included) and items of a run's shape, from a fixed generator."""
    rng = np.random.default_rng(0)
    observations = rng.integers(0, n_items + 1, size=(size + 1, state_size)).astype(np.int32)
    actions = rng.integers(0, n_items, size=(size + 1, 1))
    terminals = np.zeros(size + 1)
    terminals[-1] = 1.0
    toy = MDPDataset(observations, actions, np.ones((size + 1, 1), np.float32), terminals, action_size=n_items)
    episode = toy.episodes[0]
    return TransitionMiniBatch.from_transitions([toy.transition_picker(episode, index) for index in range(size)])


def describe_agent(agent: ResolvedAgent) -> dict[str, Any]:
    """The exact, JSON-able description of a row: a baseline's name, or a config's d3rlpy type, class and fields."""
    if agent.config is None:  # a kNN baseline's settings only when given, so earlier folders keep their hash
        return {
            "spec": agent.spec,
            "baseline": agent.baseline,
            **({"options": dict(agent.options)} if agent.options else {}),
        }
    cls = type(agent.config)
    params = recorded_params(agent.config)  # the step switches by their rule (agents.step_switches)
    return {
        "spec": agent.spec,
        "type": agent.config.get_type(),
        "class": f"{cls.__module__}:{cls.__qualname__}",
        "params": params,
    }
