"""Step counts of a config against the run's length: a schedule that never fires silently changes the algorithm.

A config has two kinds of step-count field (:data:`STEP_FIELDS`): ``switch_step`` (the step at which the two-phase
agents switch to their Q-weighted actor loss and fresh optimisers) and ``target_update_interval`` (how often d3rlpy's
algorithms copy their target network). A preset's value was meant for a run of the reference length; in a shorter
run a switch at 15,000 never happens (SA2C trains as SNQN) and a target synced every 2,000 steps stays frozen after
its first update (DQN bootstraps from a random network). So, when :func:`agents.make_config` is given the run's
``steps``:

- a preset's ``switch_step`` that is ``>= steps`` keeps its place in the run: it becomes
  ``round(switch_step * steps / REFERENCE_RUN_STEPS[preset])`` (at least 1), the same fraction of the run as in the
  reference scripts' runs (reference-protocol §4: 60 epochs of ≈3.6k steps on RC15, ≈1.9k at batch 512 on
  RetailRocket); a switch inside the run is kept as it is;
- the d3rlpy preset's ``target_update_interval`` follows the run: one copy every ``steps / TARGET_SYNCS_PER_RUN``
  steps (at least 1);
- a value set explicitly (an override, ``-a``, a grid) is kept, and :func:`check_budget` refuses it when it does not
  fit the run: a ``switch_step >= steps`` (use None for one phase) or a ``target_update_interval >= steps`` (a
  target that never syncs).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from recgym.errors import InvalidOptionError

__all__ = ["REFERENCE_RUN_STEPS", "STEP_FIELDS", "TARGET_SYNCS_PER_RUN", "check_budget", "fit_to_run", "sync_interval"]

STEP_FIELDS = ("switch_step", "target_update_interval")
"""Config fields that count gradient steps."""

REFERENCE_RUN_STEPS: dict[str, int] = {"rc15": 216_000, "retailrocket": 116_000, "synthetic": 216_000}
"""Gradient steps of the reference scripts' runs each preset's step counts come from (the synthetic preset is the
RC15 one)."""

TARGET_SYNCS_PER_RUN = 50
"""Target copies in a run of d3rlpy's algorithms at their preset: one every 2% of the run."""


def sync_interval(steps: int) -> int:
    """The d3rlpy preset's ``target_update_interval`` for a run of ``steps``."""
    return max(1, steps // TARGET_SYNCS_PER_RUN)


def fit_to_run(values: Mapping[str, Any], preset: str, steps: int) -> dict[str, Any]:
    """``values`` (a preset's) with a ``switch_step`` that does not fall inside a run of ``steps`` moved into it."""
    switch = values.get("switch_step")
    if switch is None or switch < steps:
        return dict(values)
    return {**values, "switch_step": max(1, round(switch * steps / REFERENCE_RUN_STEPS[preset]))}


def check_budget(config: Any, steps: int) -> None:
    """Refuse, with one line, a step-count field of ``config`` that does not fall inside a run of ``steps``."""
    switch = getattr(config, "switch_step", None)
    if switch is not None and switch >= steps:
        raise InvalidOptionError(
            f"switch_step={switch} is not inside a run of {steps} steps: the second phase would never run "
            "(set switch_step below the run length, or None for one phase)"
        )
    interval = getattr(config, "target_update_interval", None)
    if interval is not None and interval >= steps:
        raise InvalidOptionError(
            f"target_update_interval={interval} is not below the run length {steps}: the target network would stay "
            f"as it was after the first update (set it below {steps}; the preset copies every "
            f"{sync_interval(steps)} steps)"
        )
