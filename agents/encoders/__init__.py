"""Item-sequence state encoders as registered d3rlpy encoder factories, and backbone names for the agents.

Every encoder maps (B, L) right-padded item ids (float or long; pad id = ``n_items``) to (B, d) states, ignores the
pads and handles an all-pad state. :data:`ENCODERS` names the backbones for ``make_config(..., encoder=...)`` and the
benchmark's ``-a encoder=...``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from agents.encoders.base import ItemEncoderFactory, in_update
from agents.encoders.caser import CaserEncoder, CaserEncoderFactory
from agents.encoders.fmlp import FMLPEncoder, FMLPEncoderFactory
from agents.encoders.gru4rec import GRU4RecEncoder, GRU4RecEncoderFactory
from agents.encoders.nextitnet import NextItNetEncoder, NextItNetEncoderFactory
from agents.encoders.sasrec import SASRecEncoder, SASRecEncoderFactory

__all__ = [
    "ENCODERS",
    "CaserEncoder",
    "CaserEncoderFactory",
    "FMLPEncoder",
    "FMLPEncoderFactory",
    "GRU4RecEncoder",
    "GRU4RecEncoderFactory",
    "ItemEncoderFactory",
    "NextItNetEncoder",
    "NextItNetEncoderFactory",
    "SASRecEncoder",
    "SASRecEncoderFactory",
    "encoder_factory",
    "in_update",
    "with_backbone",
]

ENCODERS: dict[str, type[ItemEncoderFactory]] = {
    "sasrec": SASRecEncoderFactory,
    "gru": GRU4RecEncoderFactory,
    "caser": CaserEncoderFactory,
    "nextitnet": NextItNetEncoderFactory,
    "fmlp": FMLPEncoderFactory,
}
"""Backbone name -> its factory class."""

_SHARED_FIELDS = tuple(field.name for field in dataclasses.fields(ItemEncoderFactory))


def encoder_factory(name: str, **fields: Any) -> ItemEncoderFactory:
    """The factory of backbone ``name`` with ``fields`` set, the others at that backbone's defaults."""
    if name not in ENCODERS:
        raise ValueError(f"unknown encoder {name!r}; expected one of {sorted(ENCODERS)}")
    return ENCODERS[name](**fields)


def with_backbone(factory: ItemEncoderFactory, name: str) -> ItemEncoderFactory:
    """The ``name`` backbone's factory keeping ``factory``'s shared fields (``n_items``, ``hidden_size``), its other
    values at that backbone's defaults; ``factory`` itself when it already is that backbone."""
    if type(factory) is ENCODERS.get(name):
        return factory
    return encoder_factory(name, **{key: getattr(factory, key) for key in _SHARED_FIELDS})
