"""Worlds with consequences, their best policies, and how much looking ahead is worth in each.

:func:`make_world` builds the live synthetic world of a preset (:data:`~recgym.envs.mechanics.WORLD_PRESETS`:
``myopic``, the world of the logs; ``longterm``, whose mechanics make a slate shown now change what the rest of the
session can earn; ``longterm-v0``, its first setting). Two policies read the world's true state (the whole session,
what was shown, the mechanics' counters), which no learned policy sees:

- :class:`MyopicOraclePolicy`: the best slate for this step alone, the top-k of
  :meth:`~recgym.envs.simulator.UserSimulator.slate_values` (slate weight × expected reward if clicked);
- :class:`PlannerPolicy`: the rollout algorithm (one step of policy improvement over a base policy by Monte-Carlo).
  Its base is the myopic oracle or, in a world with ``retention``, the best of a family of *tilted* oracles (the
  top-k of the myopic values times ``exp(tilt * retention * quality)``, tilt 0 or one of ``tilts``), picked once per
  slate size by their mean return over ``search_sessions`` sessions of a stream of its own. At each step it scores
  ``candidates`` slates — the base's, the empty slate, and perturbations of the base's (its values times Gumbel
  noise) — by ``rollouts`` simulated continuations of ``horizon`` steps each (the candidate now, then the base), with
  common random numbers across candidates, and shows the candidate with the largest mean gain over the base slate
  among those whose gain exceeds ``margin`` standard errors (else the base slate), so rollout noise does not make it
  worse than its base. It is a lower bound on the optimum, not the optimum; ``benchmarks/world_headroom.py`` shows
  how its return moves with its budget.

:func:`headroom` plays the same simulated sessions (same seed, so the same users) under the planner, the myopic
oracle, popularity and an empty slate, and reports each mean return with its 95% interval over sessions and
``headroom`` = (planner − myopic) / myopic with a paired interval.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from recgym.checks import check_number
from recgym.envs.mechanics import MECHANIC_NAMES, WorldMechanics, world_mechanics
from recgym.envs.registration import SYNTHETIC_SESSIONS
from recgym.envs.simulator import Sessions, UserSimulator, mix_keys, uniform_draws
from recgym.errors import InvalidOptionError
from recgym.ranking import top_k_array

__all__ = ["MyopicOraclePolicy", "PlannerPolicy", "headroom", "make_world", "play"]

Z_95 = 1.959963984540054
_PLANNER_SALT = np.uint64(0x5DEECE66D1B2C3A5)  # the planner's own random streams, apart from the user's
_SEARCH_SALT = np.uint64(0x3C6EF372FE94F82B)  # the stream of sessions on which the planner picks its base policy
PLANNER_CHUNK_CELLS = 2**24  # sessions x candidates x rollouts x items simulated at once: bounds the planner's memory


def make_world(world: str | WorldMechanics = "myopic", **options: Any) -> UserSimulator:
    """The live world of ``load_dataset("synthetic", **options)`` with the mechanics of ``world``.

    ``options``: mechanic values overriding the preset's (``satiation=0.2``...), and everything
    :class:`~recgym.envs.simulator.UserSimulator` takes (generator options, ``n_sessions``, ``generator_seed``,
    ``data_dir``, rewards, choice model).
    """
    mechanics = world_mechanics(world, **{name: options.pop(name) for name in MECHANIC_NAMES if name in options})
    options.setdefault("n_sessions", SYNTHETIC_SESSIONS)
    return UserSimulator(world=mechanics, **options)


SlatePolicy = Callable[[Sessions, int], np.ndarray]
"""``(sessions, k) -> slates`` (B, k) dataset ids, from the world's true state."""


@dataclasses.dataclass
class MyopicOraclePolicy:
    """The best slate for the current step alone, from the world's true state (module docstring); with ``tilt`` > 0
    (worlds with retention only) the top-k of its values times ``exp(tilt * retention effect)`` of each item instead,
    an oracle that trades clicks now for users who stay."""

    world: UserSimulator
    tilt: float = 0.0

    def __post_init__(self) -> None:
        check_number("tilt", self.tilt, at_least=0)
        self.effects = _retention_effects(self.world) if self.tilt else None
        if self.tilt and self.effects is None:
            raise InvalidOptionError(f"tilt={self.tilt} weighs items by their retention effect: this world has none")

    def __call__(self, sessions: Sessions, k: int) -> np.ndarray:
        return self.slates(self.world.slate_values(sessions), k)

    def slates(self, values: np.ndarray, k: int) -> np.ndarray:
        """Its slates from the world's slate values (B, n_items)."""
        if self.effects is None:
            return top_k_array(values, k)
        return top_k_array(values * np.exp(self.tilt * self.effects)[None, :], k)


@dataclasses.dataclass
class PlannerPolicy:
    """Monte-Carlo rollout planner over the myopic or the best tilted oracle (module docstring); ``seed`` fixes its
    own draws."""

    world: UserSimulator
    candidates: int = 8
    rollouts: int = 8
    horizon: int = 4
    noise: float = 1.0
    margin: float = 1.0
    seed: int = 0
    tilts: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0, 8.0)
    search_sessions: int = 500

    def __post_init__(self) -> None:
        for name in ("candidates", "rollouts", "horizon", "search_sessions"):
            check_number(name, getattr(self, name), at_least=1, integer=True)
        check_number("noise", self.noise, at_least=0)
        check_number("margin", self.margin, at_least=0)
        for tilt in self.tilts:
            check_number("tilts", tilt, above=0)
        self.myopic = MyopicOraclePolicy(self.world)
        self._bases: dict[int, MyopicOraclePolicy] = {}

    def base(self, k: int) -> MyopicOraclePolicy:
        """The base policy for slates of ``k``: the myopic oracle, or in a world with retention the oracle of the
        tilt (0 or one of ``tilts``) that earns most over ``search_sessions`` sessions of a stream of its own."""
        if k not in self._bases:
            self._bases[k] = self.myopic
            if _retention_effects(self.world) is not None:
                family = [self.myopic] + [MyopicOraclePolicy(self.world, tilt) for tilt in self.tilts]
                stream = int(mix_keys(np.array([self.seed], dtype=np.uint64) ^ _SEARCH_SALT)[0] >> np.uint64(1))
                earned = [
                    play(self.world, policy, n_sessions=self.search_sessions, seed=stream, slate_size=k).mean()
                    for policy in family
                ]
                self._bases[k] = family[int(np.argmax(earned))]
        return self._bases[k]

    def __call__(self, sessions: Sessions, k: int) -> np.ndarray:
        chunk = max(1, PLANNER_CHUNK_CELLS // (self.candidates * self.rollouts * self.world.n_items))
        if len(sessions) <= chunk:
            return self._plan(sessions, k)
        starts = range(0, len(sessions), chunk)
        return np.concatenate([self._plan(sessions.select(np.arange(i, min(i + chunk, len(sessions)))), k)
                               for i in starts])  # fmt: skip

    def _plan(self, sessions: Sessions, k: int) -> np.ndarray:
        """The planner's slates for a batch of sessions (each row's choice depends on its own draws only)."""
        n, m, r = len(sessions), self.candidates, self.rollouts
        step = sessions.history.shape[1]
        base = self.base(k)
        values = self.world.slate_values(sessions)
        salt = sessions.keys ^ mix_keys(np.array([self.seed], dtype=np.uint64) ^ _PLANNER_SALT)
        if base.effects is not None:
            values = values * np.exp(base.tilt * base.effects)[None, :]
        options = [top_k_array(values, k), np.full((n, k), self.world.pad_id, dtype=np.int64)][:m]  # the base, empty
        for candidate in range(len(options), m):  # the base's values times Gumbel-distributed noise, one per item
            item_keys = salt[:, None] ^ mix_keys(np.arange(values.shape[1], dtype=np.uint64))[None, :]
            uniform = uniform_draws(item_keys.ravel(), step, candidate).reshape(values.shape)
            gumbel = -np.log(-np.log(np.clip(uniform, 1e-300, 1 - 1e-16)))
            options.append(top_k_array(values * np.exp(self.noise * gumbel), k))
        slates = np.stack(options)  # (m, n, k)
        # rows ordered (candidate, rollout, session); rollout r of every candidate shares the user's draws
        rows = np.tile(np.arange(n), m * r)
        rollout_of = np.repeat(np.tile(np.arange(r), m), n)
        played = dataclasses.replace(
            sessions.select(rows),
            keys=mix_keys(sessions.keys[rows] ^ mix_keys(rollout_of.astype(np.uint64) + salt[rows])),
        )
        returns = self._rollout(played, slates.repeat(r, axis=0).reshape(m * r * n, k), base, k).reshape(m, r, n)
        gain = returns - returns[:1]  # paired with the base slate's rollouts (common random numbers)
        mean = gain.mean(axis=1)
        spread = gain.std(axis=1, ddof=1) / math.sqrt(r) if r > 1 else np.zeros_like(mean)
        significant = np.where(mean - self.margin * spread > 0, mean, 0.0)  # the base slate unless clearly beaten
        best = significant.argmax(axis=0)
        return slates[best, np.arange(n)]

    def _rollout(self, sessions: Sessions, first: np.ndarray, base: SlatePolicy, k: int) -> np.ndarray:
        """Return of ``first`` slates now, then the base policy, over ``horizon`` steps (or until the user leaves)."""
        total = np.zeros(len(sessions))
        live = np.arange(len(sessions))
        slates = first
        for depth in range(self.horizon):
            outcome, after = self.world.step(sessions, slates)
            total[live] += outcome.reward
            keep = ~outcome.done
            live, sessions = live[keep], after.select(keep)
            if not len(live) or depth + 1 == self.horizon:
                break
            slates = base(sessions, k)
        return total


def _retention_effects(world: Any) -> np.ndarray | None:
    """The world's retention effect per item (:meth:`~recgym.envs.simulator.UserSimulator.retention_effects`), None
    where it has none (a fitted world)."""
    effects = getattr(world, "retention_effects", None)
    return None if effects is None else effects()


def play(
    world: UserSimulator, policy: SlatePolicy | None, *, n_sessions: int, seed: int, slate_size: int
) -> np.ndarray:
    """The return of each of ``n_sessions`` simulated sessions of stream ``seed`` under ``policy`` (None: an empty
    slate), (n_sessions,) float64; session ``i`` is the same user whatever the policy."""
    check_number("n_sessions", n_sessions, at_least=1, integer=True)
    check_number(f"slate_size (catalogue of {world.n_items} items)", slate_size, at_least=1, at_most=world.n_items,
                 integer=True)  # fmt: skip
    returns = np.zeros(n_sessions)
    sessions = world.start(seed, np.arange(n_sessions))
    while len(sessions):
        if policy is None:
            slates = np.full((len(sessions), slate_size), world.pad_id, dtype=np.int64)
        else:
            slates = policy(sessions, slate_size)
        outcome, after = world.step(sessions, slates)
        returns[sessions.index] += outcome.reward
        sessions = after.select(~outcome.done)
    return returns


def headroom(
    world: UserSimulator,
    *,
    n_sessions: int = 1000,
    seed: int = 0,
    slate_size: int = 20,
    planner: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Mean return of ``"planner"``, ``"myopic"``, ``"popularity"`` and ``"empty"`` on the same sessions, each with
    ``"<name>_ci"`` (95%, normal approximation over sessions), and ``"headroom"`` = (planner − myopic) / myopic with
    ``"headroom_ci"`` (the paired difference's interval over sessions, divided by the myopic mean).

    ``planner``: options of :class:`PlannerPolicy`.
    """
    popular = np.argsort(-world.item_popularity, kind="stable")[:slate_size]
    policies: dict[str, SlatePolicy | None] = {
        "planner": PlannerPolicy(world, **(planner or {})),
        "myopic": MyopicOraclePolicy(world),
        "popularity": lambda sessions, k: np.broadcast_to(popular[:k], (len(sessions), k)),
        "empty": None,
    }
    returns = {
        name: play(world, policy, n_sessions=n_sessions, seed=seed, slate_size=slate_size)
        for name, policy in policies.items()
    }
    result: dict[str, Any] = {}
    for name, values in returns.items():
        result[name] = float(values.mean())
        result[f"{name}_ci"] = _interval(values)
    myopic = result["myopic"]
    difference = returns["planner"] - returns["myopic"]
    result["headroom"] = float(difference.mean() / myopic)
    result["headroom_ci"] = tuple(bound / myopic for bound in _interval(difference))
    result["n_sessions"] = int(n_sessions)
    return result


def _interval(values: np.ndarray) -> tuple[float, float]:
    mean, half = values.mean(), Z_95 * values.std(ddof=1) / math.sqrt(len(values)) if len(values) > 1 else math.inf
    return float(mean - half), float(mean + half)
