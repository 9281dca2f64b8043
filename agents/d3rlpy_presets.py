"""d3rlpy's own discrete algorithms on recommendation data: the SASRec encoder and one preset for all of them.

d3rlpy's defaults are Atari's (an MLP on pixels, batch 32, learning rate 6.25e-5, γ 0.99, a target copy every 8,000
steps); on item-id states an MLP reads ids as magnitudes, and the agents of :mod:`agents.presets` see other data per
step and another MDP. :func:`for_recommendation` puts a config on the agents' footing, changing only the fields the
config leaves at their default:

- for every config, d3rlpy's or a user's own: every encoder field (``encoder_factory``; DiscreteSAC's
  ``actor_encoder_factory`` and ``critic_encoder_factory``) gets the agents' ``SASRecEncoderFactory`` (hidden 64,
  1 block, 1 head, dropout 0.1), or the backbone named by ``encoder`` (:data:`agents.encoders.ENCODERS`), sized to the
  catalogue;
- for d3rlpy's own algorithms (:data:`D3RLPY_ALGOS`), the preset :data:`D3RLPY_PRESET`: ``batch_size`` 256 and
  ``gamma`` 0.5, the agents' values, so every algorithm sees the same transitions per step
  and optimises the same discounted return;
- every learning rate 1e-3 (Adam's usual default, and the rate the agents' CE head tolerates; 6.25e-5 is tuned for
  batch 32 on Atari and barely moves a 26,702-item head in a benchmark's budget); ``target_update_interval`` 2000,
  a copy every 2 % of a 100,000-step run rather than every 8,000 steps, and, given the run's length (``steps``, as
  the benchmark does), a copy every 2 % of that run (:func:`agents.budget.sync_interval`), so that the target syncs
  in a run of any length. A user's own algorithm keeps its values.

The values are fixed for every dataset and were not tuned on any result.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from d3rlpy import algos
from d3rlpy.base import LearnableConfig
from d3rlpy.models import DefaultEncoderFactory

from agents.budget import sync_interval
from agents.encoders import ItemEncoderFactory, encoder_factory, with_backbone

__all__ = ["D3RLPY_ALGOS", "D3RLPY_PRESET", "ENCODER_FIELDS", "for_recommendation"]

D3RLPY_ALGOS: dict[str, type[LearnableConfig]] = {
    "dqn": algos.DQNConfig,
    "double_dqn": algos.DoubleDQNConfig,
    "nfq": algos.NFQConfig,
    "discrete_cql": algos.DiscreteCQLConfig,
    "discrete_bcq": algos.DiscreteBCQConfig,
    "discrete_sac": algos.DiscreteSACConfig,
    "discrete_bc": algos.DiscreteBCConfig,
}
"""Agent names of d3rlpy's discrete algorithms (their d3rlpy type names)."""

D3RLPY_PRESET: dict[str, Any] = {
    "batch_size": 256,
    "gamma": 0.5,
    "learning_rate": 1e-3,
    "actor_learning_rate": 1e-3,
    "critic_learning_rate": 1e-3,
    "temp_learning_rate": 1e-3,
    "target_update_interval": 2000,
}
"""Values given to every field of this name that a d3rlpy config has and leaves at its default."""

ENCODER_FIELDS = ("encoder_factory", "actor_encoder_factory", "critic_encoder_factory")


def for_recommendation(
    config: LearnableConfig,
    n_items: int,
    encoder: str | None = None,
    *,
    steps: int | None = None,
    **encoder_options: Any,
) -> LearnableConfig:
    """A copy of ``config`` with item encoders (and, for d3rlpy's algorithms, the preset) on default fields.

    With ``steps`` (the run's length), the preset's ``target_update_interval`` follows it.

    Encoder fields at d3rlpy's default get the ``encoder`` backbone (default ``"sasrec"``) with its own defaults; with
    ``encoder`` given, item encoders the config already had switch to that backbone (keeping ``n_items`` and
    ``hidden_size``). ``encoder_options`` (``hidden_size``, ``dropout``, ...) then override the values of every item
    encoder field, and ``n_items`` fills the ones without it.
    """
    defaults = type(config)()
    preset = D3RLPY_PRESET if type(config) in D3RLPY_ALGOS.values() else {}
    if preset and steps is not None:
        preset = {**preset, "target_update_interval": sync_interval(steps)}
    changes: dict[str, Any] = {}
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        at_default = value == getattr(defaults, field.name)
        if field.name in ENCODER_FIELDS:
            if at_default and isinstance(value, DefaultEncoderFactory):
                value = encoder_factory(encoder or "sasrec", n_items=n_items)
            elif isinstance(value, ItemEncoderFactory) and encoder is not None:
                value = with_backbone(value, encoder)
            if isinstance(value, ItemEncoderFactory):
                changes[field.name] = dataclasses.replace(
                    value, **{"n_items": value.n_items or n_items, **encoder_options}
                )
        elif field.name in preset and at_default:
            changes[field.name] = preset[field.name]
    return dataclasses.replace(config, **changes)
