"""The one home of the step switches: config fields that change how an update runs, not the objective it optimises.

A step switch is declared with :func:`step_switch` (its default and whether it keeps the numbers), and the rule of
what a results folder records follows from the declaration, not from a list kept elsewhere
(:func:`recorded_params`):

- a switch that keeps the numbers bit for bit is never recorded (``log_every``: when the logged values are read);
- any other switch is recorded whenever its value differs from ``before``, the value every run had before the
  switch existed (by default its default): an older results folder, which does not record the switch, keeps its
  config hash, and a run on another path never shares a folder with it. :func:`config_from_record` reads a record
  back the same way (an absent switch is at ``before``).

The switches of recgym's agents: ``log_every``, ``fused_heads`` (block-wise CE and greedy selector, equal to float
rounding; on by default, recorded as ``True`` since runs before that default had it off), ``sampled_softmax`` and ``sampled_proposal`` (a sampled CE head), ``sampled_q_targets`` (the greedy item
of s' among sampled candidates) and ``autocast_dtype`` (bfloat16 matmuls). d3rlpy's own ``compile_graph`` is one too,
but it is d3rlpy's field and recorded as every other d3rlpy field.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

__all__ = ["config_from_record", "is_step_switch", "recorded_params", "step_switch"]

_KEY = "recgym_step_switch"  # dataclass field metadata: {"same_numbers": bool, "before": value}
_UNSET = object()


def step_switch(default: Any, *, same_numbers: bool = False, before: Any = _UNSET) -> Any:
    """A dataclass field with ``default`` declared as a step switch.

    ``same_numbers``: the results are bit-identical whatever its value. ``before``: the value runs had before the
    switch existed (default: ``default``).
    """
    recorded_against = default if before is _UNSET else before
    return dataclasses.field(
        default=default, metadata={_KEY: {"same_numbers": same_numbers, "before": recorded_against}}
    )


def is_step_switch(field: dataclasses.Field[Any]) -> bool:
    return _KEY in field.metadata


def recorded_params(config: Any) -> dict[str, Any]:
    """The d3rlpy config's serialized fields, less the step switches the module's rule leaves out."""
    params = json.loads(config.serialize())
    for field in dataclasses.fields(config):
        switch = field.metadata.get(_KEY)
        if switch and (switch["same_numbers"] or getattr(config, field.name) == switch["before"]):
            params.pop(field.name, None)
    return params


def config_from_record(config_class: Any, params: dict[str, Any]) -> Any:
    """The d3rlpy config of class ``config_class`` that :func:`recorded_params` recorded as ``params``."""
    absent = {
        field.name: field.metadata[_KEY]["before"]
        for field in dataclasses.fields(config_class)
        if _KEY in field.metadata and field.name not in params
    }
    return config_class.deserialize(json.dumps({**params, **absent}))
