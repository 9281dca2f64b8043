"""The ranges of a config's numbers, for recgym's agents, d3rlpy's algorithms and a user's own, before any training.

A value out of range often fails only at training time (``n_negatives=0``) or never (``hidden_size=0`` trains a
model of empty embeddings; ``gamma=2`` diverges): :func:`check_config` refuses it up front with one line. Fields are
checked by name wherever a config (or one of its item encoder factories) has them; with the catalogue size, the
sizes drawn from it are checked against it too (more negatives than items grows memory without bound).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from agents.encoders import ItemEncoderFactory
from recgym.checks import check_number

__all__ = ["check_config"]

_RANGES: dict[str, dict[str, Any]] = {
    "batch_size": {"at_least": 1, "integer": True},
    "gamma": {"at_least": 0, "at_most": 1},
    "learning_rate": {"above": 0},
    "learning_rate_2": {"above": 0},
    "actor_learning_rate": {"above": 0},
    "critic_learning_rate": {"above": 0},
    "temp_learning_rate": {"at_least": 0},
    "target_update_interval": {"at_least": 1, "integer": True},
    "n_critics": {"at_least": 1, "integer": True},
    "switch_step": {"at_least": 0, "integer": True},
    "log_every": {"at_least": 1, "integer": True},
    "td_weight": {"at_least": 0},
    "n_negatives": {"at_least": 1, "integer": True},
    "sampled_softmax": {"at_least": 1, "integer": True},
    "sampled_q_targets": {"at_least": 1, "integer": True},
    "cql_alpha": {"at_least": 0},
    "cql_temperature": {"above": 0},
    "contrastive_weight": {"at_least": 0},
    "contrastive_temperature": {"above": 0},
    "crop_ratio": {"above": 0, "at_most": 1},
    "mask_prob": {"at_least": 0, "at_most": 1},
    "reorder_ratio": {"above": 0, "at_most": 1},
    "clip_grad_norm": {"above": 0},
    "clip_grad_value": {"above": 0},
    "propensity_smooth": {"at_least": 0},
    "calibration": {"at_least": 0, "at_most": 1},
    # item encoders
    "hidden_size": {"at_least": 1, "integer": True},
    "n_blocks": {"at_least": 1, "integer": True},
    "n_heads": {"at_least": 1, "integer": True},
    "n_filters": {"at_least": 1, "integer": True},
    "n_vertical": {"at_least": 1, "integer": True},
    "kernel_size": {"at_least": 1, "integer": True},
    "dropout": {"at_least": 0, "below": 1},
}
"""Field name -> bounds of :func:`recgym.checks.check_number`; None (where a field allows it) is not checked."""

_AT_MOST_ITEMS = {"n_negatives": 1, "sampled_softmax": 0, "sampled_q_targets": 0}
"""Sizes drawn from the catalogue: field -> how many items the draw leaves out (a negative is never the logged item)."""


def check_config(config: Any, n_items: int | None = None) -> None:
    """Refuse (:class:`~recgym.errors.InvalidOptionError`, one line) a number of ``config`` out of its range."""
    for owner in (config, *_item_encoders(config)):
        for field in dataclasses.fields(owner):
            value = getattr(owner, field.name)
            if field.name in _RANGES and value is not None:
                check_number(field.name, value, **_RANGES[field.name])
    if n_items is None:
        return
    for name, left_out in _AT_MOST_ITEMS.items():
        value = getattr(config, name, None)
        if value is not None and value > n_items - left_out:
            check_number(f"{name} (catalogue of {n_items} items)", value, at_most=n_items - left_out, integer=True)


def _item_encoders(config: Any) -> list[ItemEncoderFactory]:
    return [
        getattr(config, field.name)
        for field in dataclasses.fields(config)
        if isinstance(getattr(config, field.name), ItemEncoderFactory)
    ]
