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
- ``clickbait`` (>= 0): every item has a hidden quality ``q`` (standard normal, fixed by the world's generator seed);
  its slate weight is multiplied by ``exp(-clickbait * q - clickbait**2 / 2)`` (1 on average over items): the worst
  items are the most tempting on a slate, so the slate a click predictor picks is the worst for the user.
- ``retention`` (>= 0): the user's satisfaction is the summed quality of the recommendations she clicked divided by
  one plus their number (0 before any; a shrunk mean, so it cannot run away); her odds of leaving after an organic
  click are multiplied by ``exp(-retention * satisfaction)``: good recommendations keep her, bad ones drive her away. Together with ``clickbait`` this is the conflict between a click now and the
  rest of the session that the myopic oracle cannot see.

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
    "clickbait": {"at_least": 0},
    "retention": {"at_least": 0},
}


@dataclasses.dataclass(frozen=True)
class WorldMechanics:
    """The mechanics of a world (module docstring); all off: the ``myopic`` world."""

    satiation: float = 0.0
    leave_annoyance: float = 0.0
    intent_gain: float = 0.0
    drift: float = 0.0
    clickbait: float = 0.0
    retention: float = 0.0

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            check_number(field.name, getattr(self, field.name), **_RANGES[field.name])


WORLD_PRESETS: dict[str, WorldMechanics] = {
    "myopic": WorldMechanics(),
    "longterm": WorldMechanics(
        satiation=0.5, leave_annoyance=0.005, intent_gain=0.05, drift=1.0, clickbait=0.5, retention=2.0
    ),
    "longterm-v0": WorldMechanics(satiation=0.5, leave_annoyance=0.1, intent_gain=0.7, drift=1.0),
}
"""Named worlds. ``longterm`` is calibrated for headroom (the planner well above the myopic oracle at 2,000 and
26,702 items, ``benchmarks/world_headroom.py``); ``longterm-v0`` is its first, uncalibrated setting (an empty slate
earned most in it), kept so that the studies run in it rerun."""

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
