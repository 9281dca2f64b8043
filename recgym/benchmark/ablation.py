"""One-factor ablations: the rows of an agent's component ablation, each one change away from the row it is read against.

The component chain starts from the agent's own config with every loss component switched off (cross-entropy
only, on the agent's optimiser and schedule) and switches them on one at a time in the order of
:data:`COMPONENTS`; its last row is the agent itself. Components the agent does not have (no such field) or has off
are skipped. Then each schedule or optimiser setting of :data:`SETTINGS` in which the agent differs from the
``reference`` agent (SASRec by default) gives one more row: the agent with that one setting at the reference's value
(or off where the reference has no such field: no phase switch, no gradient clamping), read against the agent.

Every row is the same agent under options (``LABEL.FIELD=VALUE``), so every row goes through the benchmark's
checks, and the other settings (preset, ``-a`` options, encoder) are equal by construction.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from recgym.benchmark.specs import AgentSpec, BenchmarkError, ResolvedAgent

__all__ = ["COMPONENTS", "SETTINGS", "AblationRow", "ablation_rows"]

COMPONENTS: tuple[tuple[str, str, Any], ...] = (
    ("td", "td_weight", 0.0),
    ("negative_td", "negative_td", False),
    ("contrastive", "contrastive_weight", 0.0),
    ("cql", "cql_alpha", 0.0),
)
"""The loss components in the order the chain adds them: (row label, config field, its value when off). SNQN's and
SA2C's negative-action TD is part of their TD (weighted by ``td_weight``)."""

SETTINGS: tuple[str, ...] = ("switch_step", "learning_rate", "clip_grad_value")
"""Schedule and optimiser fields, each a row of its own where the agent differs from the reference."""

CE_LABEL = "ce"

AblationRow = tuple[str, str | None, dict[str, Any]]
"""(label, the label it is read against or None for the first row, the options that make it from the agent)."""


def ablation_rows(
    agent: str, reference: str, resolve: Callable[[Mapping[str, AgentSpec]], Mapping[str, ResolvedAgent]]
) -> list[AblationRow]:
    """The rows of ``agent``'s ablation against ``reference``; ``resolve`` turns ``{label: spec}`` into resolved
    agents under the run's preset and ``-a`` options (:func:`recgym.benchmark.specs.resolve_agents`)."""
    resolved = resolve({agent: agent} if agent == reference else {agent: agent, reference: reference})
    full = resolved[agent].config
    components = [
        (label, field, off)
        for label, field, off in COMPONENTS
        if full is not None and hasattr(full, field) and getattr(full, field) != off
    ]
    if not components:
        fields = ", ".join(field for _, field, _ in COMPONENTS)
        raise BenchmarkError(f"{agent} has no loss component to ablate (none of {fields} is on)")
    if agent == reference:
        raise BenchmarkError(f"the ablation of {agent!r} needs another reference agent (--reference)")
    other = resolved[reference].config
    if other is None:
        raise BenchmarkError(f"the reference of an ablation is a trained agent, not the baseline {reference!r}")
    rows: list[AblationRow] = [(CE_LABEL, None, {field: off for _, field, off in components})]
    for index, (label, _, _) in enumerate(components):
        rows.append((label, rows[-1][0], {field: off for _, field, off in components[index + 1 :]}))
    full_label = rows[-1][0]
    for field in SETTINGS:
        value = getattr(other, field, None)
        if hasattr(full, field) and getattr(full, field) != value:
            rows.append((f"{reference}-{field}", full_label, {field: value}))
    return rows
