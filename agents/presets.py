"""One visible preset per agent and dataset, and :func:`make_config` to build a config from it.

Values follow the reference scripts (reference-protocol §3-4) with the recgym fixes (docs/compat.md):

- every agent uses the same encoder (hidden 64, 1 block, 1 head, dropout 0.1; the reference SASRec baseline had 32),
- discount 0.5, batch 256, 10 uniform negatives,
- ``rc15``: Xin's RC15 learning rates (0.01), SA2C's switch at 15000 with lr_2 0.001, SASRec-AC/CO's 30000 with
  lr_2 = lr, and CCQL's RC15 arguments (lr 0.005, τ 0.5, α 0.01, r⁻ −1, NT-Xent τ_c 0.07, permutation,
  gradients clamped to ±1),
- ``retailrocket``: Xin's Kaggle learning rates (0.005) and the CCQL RetailRocket values that the reference script
  hard-codes after argparse (batch 512, lr = lr_2 = 0.01, switch 50000, r⁻ −3), written here in the open;
  SASRec-AC and CO have no RetailRocket values in the reference, so they keep the ``rc15`` ones,
- ``synthetic``: the ``rc15`` values (the synthetic generator mimics RC15's size and statistics),
- the phase 2 of ``ac``, ``co`` and ``ccql_ref`` weights CE by the batch mean of Q̂ (:data:`PHASE2_WEIGHT`, what the
  reference scripts compute, chosen by the actor-weight study); SQN, SNQN and SA2C keep Xin's per-sample weights.

Two names share a config where a schedule is the only difference: ``sqn`` (no switch) and ``ac`` (SASRec-AC, the
reference ``SASRec_ac.py`` switch); ``ccql`` (the paper's Eq. 4 for the whole run) and ``ccql_ref`` (the reference
``SASRec_ccql.py`` two-phase schedule: switch 15000 with lr_2 0.001 on RC15, 50000 with lr_2 0.01 on RetailRocket).

``cl4srec`` is SASRec with CL4SRec's contrastive term (λ 0.1, crop η 0.6, mask γ 0.3, reorder β 0.6, NT-Xent τ 0.07)
at the ``sasrec`` learning rate; ``fmlp`` is the supervised SASRec agent on the FMLP-Rec encoder with FMLP-Rec's
learning rate 0.001 (its code's default; the encoder keeps FMLP-Rec's values). ``gsasrec`` is the SASRec network
trained with gBCE on 256 uniform negatives per row and calibration t = 0.75, at the ``sasrec`` learning rate
(untuned: the values of gSASRec's public ML-1M configuration, not searched here). A preset's ``n_negatives`` is capped
at the catalogue's other items (``n_items - 1``) when ``n_items`` is given; an explicit value above it is refused.

Every agent runs on any backbone of :data:`agents.encoders.ENCODERS`: ``make_config(name, encoder="gru")`` (``sqn``
on GRU is GRU-SQN, ``snqn`` on Caser is Caser-SNQN); the backbone then has its own reference values and encoder
overrides (``hidden_size=...``) apply to it.

d3rlpy's own discrete algorithms are agents too, by their d3rlpy type name (``dqn``, ``double_dqn``, ``nfq``,
``discrete_cql``, ``discrete_bcq``, ``discrete_sac``, ``discrete_bc``): the SASRec encoder and one preset for every
dataset (:mod:`agents.d3rlpy_presets`); they need the number of items: ``make_config("dqn", n_items=...)``.

Given the run's length (``make_config(name, steps=...)``, as the benchmark does), the step counts of a preset are fitted
to it and explicit ones checked against it (:mod:`agents.budget`): a switch after the end of the run, or a target
network that never syncs, would silently be another algorithm.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from d3rlpy.base import LearnableConfig

from agents.budget import check_budget, fit_to_run
from agents.ccql import SASRecCCQLConfig
from agents.cl4srec import CL4SRecConfig
from agents.co import SASRecCOConfig
from agents.d3rlpy_presets import D3RLPY_ALGOS, for_recommendation
from agents.encoders import ENCODERS, ItemEncoderFactory, SASRecEncoderFactory, encoder_factory
from agents.gsasrec import GSASRecConfig
from agents.sa2c import SA2CConfig
from agents.sasrec import SASRecConfig
from agents.snqn import SNQNConfig
from agents.sqn import SQNConfig
from recgym.checks import check_number
from recgym.errors import InvalidOptionError

__all__ = ["AGENTS", "PRESETS", "PRESET_FILE_FORMAT", "PresetFile", "make_config", "read_preset_file"]

AGENTS: dict[str, type[LearnableConfig]] = {
    "sasrec": SASRecConfig,
    "sqn": SQNConfig,
    "ac": SQNConfig,
    "snqn": SNQNConfig,
    "sa2c": SA2CConfig,
    "co": SASRecCOConfig,
    "ccql": SASRecCCQLConfig,
    "ccql_ref": SASRecCCQLConfig,
    "cl4srec": CL4SRecConfig,
    "fmlp": SASRecConfig,
    "gsasrec": GSASRecConfig,
    **D3RLPY_ALGOS,
}

PHASE2_WEIGHT = "batch_mean"
"""The phase-2 weight rule of the two-phase AC, CO and CCQL (``ccql_ref``) presets: mean(Q̂)·mean(CE), chosen over
per-sample Q̂ and Q̂ clipped at 0 by docs/results/README.md#actor-weight (best Reward@20 for all three, both datasets)."""

ENCODER: dict[str, Any] = {"hidden_size": 64, "n_blocks": 1, "n_heads": 1, "dropout": 0.1}

CCQL_RC15: dict[str, Any] = {
    **ENCODER,
    "batch_size": 256,
    "gamma": 0.5,
    "learning_rate": 0.005,
    "switch_step": None,
    "td_weight": 1.0,
    "n_negatives": 10,
    "cql_alpha": 0.01,
    "cql_temperature": 0.5,
    "contrastive_weight": 1.0,
    "contrastive_temperature": 0.07,
    "augmentation": "permutation",
    "negative_td": False,
    "reward_negative": -1.0,
    "clip_grad_value": 1.0,
}
CCQL_RETAILROCKET: dict[str, Any] = {**CCQL_RC15, "batch_size": 512, "learning_rate": 0.01, "reward_negative": -3.0}

RC15: dict[str, dict[str, Any]] = {
    "sasrec": {**ENCODER, "batch_size": 256, "learning_rate": 0.01},
    "sqn": {**ENCODER, "batch_size": 256, "gamma": 0.5, "learning_rate": 0.01, "td_weight": 1.0},
    "ac": {
        **ENCODER,
        "batch_size": 256,
        "gamma": 0.5,
        "learning_rate": 0.01,
        "learning_rate_2": 0.01,
        "switch_step": 30000,
        "td_weight": 1.0,
        "actor_weight": PHASE2_WEIGHT,
    },
    "snqn": {
        **ENCODER,
        "batch_size": 256,
        "gamma": 0.5,
        "learning_rate": 0.01,
        "td_weight": 1.0,
        "n_negatives": 10,
        "reward_negative": 0.0,
    },
    "sa2c": {
        **ENCODER,
        "batch_size": 256,
        "gamma": 0.5,
        "learning_rate": 0.01,
        "learning_rate_2": 0.001,
        "switch_step": 15000,
        "td_weight": 1.0,
        "n_negatives": 10,
        "reward_negative": 0.0,
        "advantage_clip_min": 0.0,
        "advantage_clip_max": 10.0,
        "propensity_smooth": 0.0,
    },
    "co": {
        **ENCODER,
        "batch_size": 256,
        "gamma": 0.5,
        "learning_rate": 0.01,
        "learning_rate_2": 0.01,
        "switch_step": 30000,
        "td_weight": 1.0,
        "contrastive_weight": 1.0,
        "contrastive_temperature": 0.07,
        "augmentation": "permutation",
        "actor_weight": PHASE2_WEIGHT,
    },
    "ccql": CCQL_RC15,
    "ccql_ref": {**CCQL_RC15, "switch_step": 15000, "learning_rate_2": 0.001, "actor_weight": PHASE2_WEIGHT},
    "cl4srec": {
        **ENCODER,
        "batch_size": 256,
        "learning_rate": 0.01,
        "contrastive_weight": 0.1,
        "contrastive_temperature": 0.07,
        "crop_ratio": 0.6,
        "mask_prob": 0.3,
        "reorder_ratio": 0.6,
    },
    "fmlp": {"encoder": "fmlp", "batch_size": 256, "learning_rate": 0.001},
    "gsasrec": {**ENCODER, "batch_size": 256, "learning_rate": 0.01, "n_negatives": 256, "calibration": 0.75},
}

RETAILROCKET: dict[str, dict[str, Any]] = {
    **RC15,
    "sqn": {**RC15["sqn"], "learning_rate": 0.005},
    "snqn": {**RC15["snqn"], "learning_rate": 0.005},
    "sa2c": {**RC15["sa2c"], "learning_rate": 0.005},
    "ccql": CCQL_RETAILROCKET,
    "ccql_ref": {**CCQL_RETAILROCKET, "switch_step": 50000, "learning_rate_2": 0.01, "actor_weight": PHASE2_WEIGHT},
}

PRESETS: dict[str, dict[str, dict[str, Any]]] = {"rc15": RC15, "retailrocket": RETAILROCKET, "synthetic": RC15}

_ENCODER_FIELDS = frozenset(field.name for factory in ENCODERS.values() for field in dataclasses.fields(factory))


PRESET_FILE_FORMAT = "recgym-preset/1"


@dataclasses.dataclass(frozen=True)
class PresetFile:
    """A preset file (JSON, e.g. the ``preset.json`` of ``recgym tune``): a base preset of :data:`PRESETS` and, per
    agent name, the settings that replace the base's (any key :func:`make_config` takes as an override; a kNN
    baseline's settings for ``sknn`` / ``vsknn``). ``sha256`` is the file's content hash, which a results folder
    records."""

    path: Path
    base: str
    agents: dict[str, dict[str, Any]]
    sha256: str

    def describe(self) -> dict[str, str]:
        """What a results folder records of it: the file's name and content hash (not where it lies)."""
        return {"file": self.path.name, "sha256": self.sha256}


def read_preset_file(path: str | os.PathLike[str]) -> PresetFile:
    """Read and check a preset file: ``{"format": "recgym-preset/1", "base": NAME, "agents": {AGENT: {KEY: VALUE}}}``
    (other top-level keys, such as the tuner's record of how it chose the values, are kept in the file and ignored).
    A file that is missing, not JSON or of another shape is one line of :class:`~recgym.errors.InvalidOptionError`;
    agent fields are checked when a config is made from it."""
    path = Path(path).expanduser()
    try:
        raw = path.read_bytes()
        content = json.loads(raw)
    except OSError as error:
        raise InvalidOptionError(f"preset file {path}: {error.strerror or error}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InvalidOptionError(f"preset file {path}: not JSON ({error})") from None
    if not isinstance(content, dict) or content.get("format") != PRESET_FILE_FORMAT:
        raise InvalidOptionError(f'preset file {path}: expected a JSON object with "format": "{PRESET_FILE_FORMAT}"')
    base, agents = content.get("base"), content.get("agents")
    if base not in PRESETS:
        raise InvalidOptionError(f"preset file {path}: base must be one of {sorted(PRESETS)}, got {base!r}")
    if not isinstance(agents, dict) or not all(isinstance(v, dict) for v in agents.values()):
        raise InvalidOptionError(f"preset file {path}: agents must map agent names to objects of settings")
    return PresetFile(path, base, agents, hashlib.sha256(raw).hexdigest())


def make_config(
    name: str,
    dataset: str = "synthetic",
    *,
    preset: str | os.PathLike[str] | PresetFile | None = None,
    steps: int | None = None,
    **overrides: Any,
) -> LearnableConfig:
    """The config of agent ``name`` from the ``dataset`` preset, with ``overrides`` applied.

    Override keys are config fields, ``encoder`` (a backbone name of :data:`agents.encoders.ENCODERS`) or encoder
    fields (``hidden_size``, ``dropout``, ``n_items``, ...), which go into the config's ``encoder_factory``. An
    ``encoder`` or ``encoder_factory`` override replaces the preset's encoder values (the backbone's own defaults
    apply). d3rlpy's algorithms take the same preset on every dataset. ``steps``, the run's length, fits the preset's
    step counts to the run and refuses overrides that do not fit (:mod:`agents.budget`). ``preset``: a preset file
    (:func:`read_preset_file`, e.g. written by ``recgym tune``): its base replaces ``dataset`` and its settings for
    ``name`` come before ``overrides``.
    """
    if preset is not None:
        chosen = preset if isinstance(preset, PresetFile) else read_preset_file(preset)
        dataset, overrides = chosen.base, {**chosen.agents.get(name, {}), **overrides}
    if name not in AGENTS:
        raise InvalidOptionError(f"unknown agent {name!r}; expected one of {sorted(AGENTS)}")
    if dataset not in PRESETS:
        raise InvalidOptionError(f"unknown preset {dataset!r}; expected one of {sorted(PRESETS)}")
    if "encoder" in overrides and "encoder_factory" in overrides:
        raise InvalidOptionError("give encoder (a backbone name) or encoder_factory, not both")
    if steps is not None:
        check_number("steps", steps, at_least=1, integer=True)
    if name in D3RLPY_ALGOS:
        config = _d3rlpy_config(name, overrides, steps)
    else:
        config = _agent_config(name, dataset, steps, overrides)
    if steps is not None:
        check_budget(config, steps)
    return config


def _agent_config(name: str, dataset: str, steps: int | None, overrides: dict[str, Any]) -> LearnableConfig:
    config_cls = AGENTS[name]
    preset = PRESETS[dataset][name] if steps is None else fit_to_run(PRESETS[dataset][name], dataset, steps)
    if "encoder_factory" in overrides or "encoder" in overrides:  # a given backbone replaces the preset's encoder
        preset = {key: value for key, value in preset.items() if key not in _ENCODER_FIELDS | {"encoder"}}
    values = {**preset, **overrides}
    encoder = {key: values.pop(key) for key in list(values) if key in _ENCODER_FIELDS}
    n_items = encoder.get("n_items")
    if "n_negatives" in preset and "n_negatives" not in overrides and isinstance(n_items, int) and n_items > 1:
        values["n_negatives"] = min(preset["n_negatives"], n_items - 1)  # a preset's draw fits a small catalogue
    unknown = set(values) - {field.name for field in dataclasses.fields(config_cls)} - {"encoder"}
    if unknown:
        raise InvalidOptionError(f"{config_cls.__name__} has no field(s) {sorted(unknown)}")
    if "encoder" in values:
        base = _named_encoder(values.pop("encoder"))
    else:
        base = values.get("encoder_factory", SASRecEncoderFactory())
    values["encoder_factory"] = _with_encoder_options(base, encoder)
    return config_cls(**values)


def _named_encoder(name: Any) -> ItemEncoderFactory:
    if name not in ENCODERS:
        raise InvalidOptionError(f"unknown encoder {name!r}; expected one of {sorted(ENCODERS)}")
    return encoder_factory(name)


def _with_encoder_options(factory: Any, options: dict[str, Any]) -> Any:
    """``factory`` with encoder ``options`` set; each must be one of its fields."""
    if not options:
        return factory
    if not isinstance(factory, ItemEncoderFactory):
        raise InvalidOptionError(f"encoder options {sorted(options)} need an item encoder factory, got {factory!r}")
    unknown = set(options) - {field.name for field in dataclasses.fields(factory)}
    if unknown:
        raise InvalidOptionError(f"{type(factory).__name__} has no field(s) {sorted(unknown)}")
    return dataclasses.replace(factory, **options)


def _d3rlpy_config(name: str, overrides: dict[str, Any], steps: int | None) -> LearnableConfig:
    """d3rlpy's algorithm ``name`` on recommendation data, then ``overrides`` (config, encoder or encoder fields);
    with ``steps``, the preset's target sync follows the run's length."""
    encoder = {key: overrides[key] for key in overrides if key in _ENCODER_FIELDS}
    values = {key: value for key, value in overrides.items() if key not in _ENCODER_FIELDS | {"encoder"}}
    n_items = encoder.pop("n_items", None)
    if n_items is None:
        raise InvalidOptionError(f"{name} needs the number of items: make_config({name!r}, n_items=...)")
    backbone = overrides.get("encoder", "sasrec")
    _with_encoder_options(_named_encoder(backbone), encoder)  # a clear error for an unknown name or option
    config = for_recommendation(D3RLPY_ALGOS[name](), n_items, backbone, steps=steps, **encoder)
    unknown = set(values) - {field.name for field in dataclasses.fields(config)}
    if unknown:
        raise InvalidOptionError(f"{type(config).__name__} has no field(s) {sorted(unknown)}")
    return dataclasses.replace(config, **values)
