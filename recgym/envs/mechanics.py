"""What a recommendation does to the live user beyond the click it may get: the mechanics of a world, and its presets.

Each mechanic is a parameter of :class:`WorldMechanics`, off at 0. The ``myopic`` preset has them all off: the world
of the logs, whose best policy is next-click prediction (the choice model of :mod:`recgym.envs.simulator` alone), and
every run made before the mechanics existed replays in it bit for bit. The ``longterm`` preset turns them on, so
that a slate shown now changes what the rest of the session can earn:

- ``satiation`` (in [0, 1)): every earlier showing of an item in the session multiplies its slate weight by
  ``1 - satiation``; showing the same items again and again wears them out.
- ``leave_annoyance`` (in [0, 1]): after a step with a non-empty slate, the user also leaves with probability
  ``leave_annoyance * (1 - engagement)``, ``engagement`` being the probability that the slate got the click; an
  irrelevant slate costs the rest of the session.
- ``intent_gain`` (>= 0): each earlier click in an item's topic adds ``intent_gain`` to the purchase logit of a click
  on it; purchase intent builds up with engagement with a neighbourhood, so steering a session into a topic pays
  later, in purchases.
- ``drift`` (>= 0): an item's slate weight is multiplied by ``1 + drift * n / (1 + n)``, ``n`` the session's earlier
  slate clicks in its topic; a clicked recommendation moves the user's interest toward its topic, by at most
  ``1 + drift`` (a linear factor let slate clicks, which never end a session, run away to the click cap).

Mechanics act on the slate (its weights and the leave it causes) and on purchases; the organic clicks, which an
empty slate replays, follow the generator. So the logs (written with nothing shown) are the same in every preset.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from recgym.checks import check_number
from recgym.errors import InvalidOptionError

__all__ = ["MECHANIC_NAMES", "WORLD_PRESETS", "WorldMechanics", "world_mechanics"]

_RANGES: dict[str, dict[str, Any]] = {
    "satiation": {"at_least": 0, "below": 1},
    "leave_annoyance": {"at_least": 0, "at_most": 1},
    "intent_gain": {"at_least": 0},
    "drift": {"at_least": 0},
}


@dataclasses.dataclass(frozen=True)
class WorldMechanics:
    """The mechanics of a world (module docstring); all off: the ``myopic`` world."""

    satiation: float = 0.0
    leave_annoyance: float = 0.0
    intent_gain: float = 0.0
    drift: float = 0.0

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            check_number(field.name, getattr(self, field.name), **_RANGES[field.name])


WORLD_PRESETS: dict[str, WorldMechanics] = {
    "myopic": WorldMechanics(),
    "longterm": WorldMechanics(satiation=0.5, leave_annoyance=0.1, intent_gain=0.7, drift=1.0),
}
"""Named worlds. ``longterm``'s values are a first setting, not yet calibrated for headroom: in it the myopic oracle
is far from the best policy (an empty slate earns more), see ``benchmarks/world_headroom.py``."""

MECHANIC_NAMES = tuple(field.name for field in dataclasses.fields(WorldMechanics))


def world_mechanics(world: str | WorldMechanics | Mapping[str, float] = "myopic", **overrides: Any) -> WorldMechanics:
    """The mechanics of a preset name, a :class:`WorldMechanics` or a mapping of mechanic values (the others off),
    with some of them replaced; one-line errors."""
    if isinstance(world, Mapping):
        overrides = {**world, **overrides}
        world = WorldMechanics()
    if isinstance(world, str):
        if world not in WORLD_PRESETS:
            raise InvalidOptionError(f"unknown world {world!r}; expected one of {', '.join(WORLD_PRESETS)}")
        world = WORLD_PRESETS[world]
    unknown = sorted(set(overrides) - set(MECHANIC_NAMES))
    if unknown:
        raise InvalidOptionError(
            f"unknown mechanic(s) {', '.join(unknown)}; expected some of {', '.join(MECHANIC_NAMES)}"
        )
    return dataclasses.replace(world, **overrides)
