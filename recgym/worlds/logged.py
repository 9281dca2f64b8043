"""Logs written by a recommender: a logging policy shows slates to the live users of a world, and the log keeps what
it showed, with what probability, and what the users did.

The generator's logs are the users' organic clicks: nothing was shown, so no off-policy estimator is defined on
them. :func:`log_sessions` plays a :class:`EpsilonGreedyLogger` in a world (:func:`~recgym.worlds.make_world`) and
returns a :class:`~recgym.data.slate_log.SlateLog`: per step the state, the slate, each shown item's propensity, the
click and its position, the purchase. ``recgym.load_dataset(log)`` (or of its saved ``.npz``) turns it into a
:class:`~recgym.datasets.SessionDataset` with the world's item index (so an agent trained on it acts in the same
world), whose splits carry ``slates`` and ``propensities``.

The logger decides each slate position independently: with probability ``1 - epsilon`` it shows its base ranking's
item for that position, else an item drawn uniformly from the catalogue. So the probability that item ``i`` is shown
at position ``j`` is exactly ``(1 - epsilon) [i = base_j] + epsilon / n_items`` (the pad id, which the uniform draw
never gives, ``1 - epsilon`` where the base shows nothing), and the probability of a slate (or of
its top ``j`` positions) is the product over positions: the assumption of the independent and cascade slate
estimators (:func:`recgym.ope.slate_ips`) holds by construction. An item drawn twice counts at its first position
(the world's rule). Base rankings (``base``):

- ``"noisy_oracle"``: the myopic oracle's values (:meth:`~recgym.envs.simulator.UserSimulator.slate_values`) times
  ``exp(noise * z_i)``, ``z_i ~ N(0, 1)`` fixed per item by the logger's seed: a good production recommender with a
  persistent error per item;
- ``"popularity"``: the dataset's most popular items;
- ``"empty"``: nothing (the pad id), so ``epsilon = 0`` writes the organic log, with a slate of pad ids;
- a callable ``(observations, k) -> slates``: any policy that sees what a deployed recommender sees, the (B,
  state_size) states, e.g. a trained agent's top-k.

:class:`SoftmaxLogger` is the stochastic alternative: each position draws its item independently from the softmax of
the noisy oracle's log-values at a ``temperature`` (``p_i`` proportional to ``value_i ** (1 / temperature)``), so
every item the oracle values has a positive propensity, and the propensity of item ``i`` at any position is exactly
``p_i`` (a ranking drawn without replacement, Plackett–Luce, has no closed-form per-position probability; drawing
positions independently keeps the estimators exact, and an item drawn twice counts at its first position).

:data:`LOGGING_POLICIES` names the usual loggers: ``organic``, ``popularity``, ``uniform`` (``epsilon = 1``),
``epsilon_greedy`` (the noisy oracle with ``epsilon = 0.1``) and ``softmax`` (the noisy oracle at temperature 1).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from recgym.checks import check_number
from recgym.data.slate_log import LOG_ARRAYS, SlateLog
from recgym.envs.simulator import Sessions, UserSimulator, mix_keys, uniform_draws
from recgym.errors import InvalidOptionError
from recgym.ranking import top_k_array
from recgym.worlds.fitted import FittedWorld

__all__ = ["LOGGING_POLICIES", "EpsilonGreedyLogger", "Logger", "SoftmaxLogger", "log_sessions", "logging_policy"]

_LOGGER_SALT = np.uint64(0x3C6E_F372_FE94_F82B)  # the logger's draws, apart from the user's and the planner's
_BASES = ("noisy_oracle", "popularity", "empty")
LOG_CHUNK_SESSIONS = 2048  # sessions simulated at a time (each is its own random stream: the log does not depend on it)

World = UserSimulator | FittedWorld
"""A live world a logger plays in: the synthetic world of a preset, or a world fitted to a log."""

BaseRanking = Callable[[np.ndarray, int], np.ndarray]
"""``(observations (B, state_size), k) -> (B, k)`` dataset ids: a policy that sees only the logged state."""


@dataclasses.dataclass(frozen=True)
class EpsilonGreedyLogger:
    """Per position: the ``base`` ranking's item with probability ``1 - epsilon``, else a uniform item (module
    docstring). ``noise``: the noisy oracle's per-item log-normal error; ``seed``: its errors."""

    base: str | BaseRanking = "noisy_oracle"
    epsilon: float = 0.1
    noise: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.base, str) and self.base not in _BASES:
            raise InvalidOptionError(
                f"unknown base ranking {self.base!r}; expected one of {', '.join(_BASES)} or a callable"
            )
        if not isinstance(self.base, str) and not callable(self.base):
            raise InvalidOptionError(
                f"base must be a name or a callable (observations, k) -> slates, got {self.base!r}"
            )
        check_number("epsilon", self.epsilon, at_least=0, at_most=1)
        check_number("noise", self.noise, at_least=0)
        check_number("seed", self.seed, at_least=0, integer=True)

    def describe(self) -> dict[str, Any]:
        """The settings as JSON values (a callable base by its name), for the dataset card."""
        base = self.base if isinstance(self.base, str) else getattr(self.base, "__name__", type(self.base).__name__)
        return {"base": base, "epsilon": float(self.epsilon), "noise": float(self.noise), "seed": int(self.seed)}

    def base_slates(self, world: World, sessions: Sessions, k: int) -> np.ndarray:
        """The base ranking's slate of every session, (B, k) dataset ids."""
        n = len(sessions)
        if self.base == "empty":
            return np.full((n, k), world.pad_id, dtype=np.int64)
        if self.base == "popularity":
            popular = np.argsort(-world.item_popularity, kind="stable")[:k]
            return np.broadcast_to(popular, (n, k)).copy()
        if self.base == "noisy_oracle":
            return top_k_array(_noisy_values(world, sessions, self.noise, self.seed), k)
        assert callable(self.base)
        slates = np.asarray(self.base(world.observations(sessions), k))
        if slates.shape != (n, k) or slates.dtype.kind not in "iu":
            raise InvalidOptionError(f"the base policy must return ({n}, {k}) integer item ids, got {slates.shape}")
        if slates.size and (slates.min() < 0 or slates.max() > world.pad_id):
            raise InvalidOptionError(f"the base policy returned ids outside [0, {world.pad_id}]")
        return slates.astype(np.int64)

    def __call__(self, world: World, sessions: Sessions, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The logged slates (B, k) and the propensity of each shown item at its position (B, k)."""
        base = self.base_slates(world, sessions, k)
        step = sessions.history.shape[1]
        salted = sessions.keys ^ _LOGGER_SALT
        cells = (salted[:, None] ^ mix_keys(np.arange(2 * k, dtype=np.uint64))[None, :]).ravel()
        draws = uniform_draws(cells, step, 0).reshape(len(sessions), 2, k)
        explore = draws[:, 0] < self.epsilon
        uniform_item = np.minimum((draws[:, 1] * world.n_items).astype(np.int64), world.n_items - 1)
        slates = np.where(explore, uniform_item, base)
        uniform_share = np.where(slates < world.pad_id, self.epsilon / world.n_items, 0.0)  # never draws the pad id
        propensities = (1.0 - self.epsilon) * (slates == base) + uniform_share
        return slates, propensities


@dataclasses.dataclass(frozen=True)
class SoftmaxLogger:
    """Per position, an item drawn from the softmax of the noisy oracle's log-values at ``temperature`` (module
    docstring); ``noise`` and ``seed`` as :class:`EpsilonGreedyLogger`'s."""

    temperature: float = 1.0
    noise: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        check_number("temperature", self.temperature, above=0)
        check_number("noise", self.noise, at_least=0)
        check_number("seed", self.seed, at_least=0, integer=True)

    def describe(self) -> dict[str, Any]:
        """The settings as JSON values, for the dataset card."""
        return {"softmax": "noisy_oracle", "temperature": float(self.temperature), "noise": float(self.noise),
                "seed": int(self.seed)}  # fmt: skip

    def probabilities(self, world: World, sessions: Sessions) -> np.ndarray:
        """Each item's probability at every position, (B, n_items): ``value ** (1 / temperature)``, normalised."""
        values = _noisy_values(world, sessions, self.noise, self.seed)
        logits = np.log(np.maximum(values, np.finfo(float).tiny)) / self.temperature
        weights = np.exp(logits - logits.max(axis=1, keepdims=True))
        return weights / weights.sum(axis=1, keepdims=True)

    def __call__(self, world: World, sessions: Sessions, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The logged slates (B, k) and the propensity of each shown item at its position (B, k)."""
        probabilities = self.probabilities(world, sessions)
        n, n_items = probabilities.shape
        step = sessions.history.shape[1]
        cells = ((sessions.keys ^ _LOGGER_SALT)[:, None] ^ mix_keys(np.arange(k, dtype=np.uint64))[None, :]).ravel()
        uniform = uniform_draws(cells, step, 1).reshape(n, k)
        cumulative = np.cumsum(probabilities, axis=1)
        cumulative /= cumulative[:, -1:]  # rows sum to 1 up to rounding: the last cell closes every row
        rows = np.arange(n)[:, None]
        flat = np.searchsorted((cumulative + rows).ravel(), (uniform + rows).ravel(), side="right")
        slates = np.minimum(flat.reshape(n, k) - rows * n_items, n_items - 1)
        return slates, probabilities[rows, slates]


Logger = EpsilonGreedyLogger | SoftmaxLogger
"""A logging policy: ``(world, sessions, k) -> (slates, propensities)`` with ``describe()``."""


def _noisy_values(world: World, sessions: Sessions, noise: float, seed: int) -> np.ndarray:
    """The myopic oracle's values times ``exp(noise * z_i)``: the noisy oracle's ranking values, (B, n_items)."""
    return world.slate_values(sessions) * np.exp(noise * _item_errors(seed, world.n_items))


@functools.lru_cache(maxsize=4)
def _item_errors(seed: int, n_items: int) -> np.ndarray:
    """The noisy oracle's ``z_i ~ N(0, 1)`` per item, drawn once per (seed, catalogue) and shared by every step."""
    errors = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1,))).normal(size=n_items)
    errors.flags.writeable = False
    return errors


LOGGING_POLICIES: dict[str, Logger] = {
    "organic": EpsilonGreedyLogger(base="empty", epsilon=0.0),
    "popularity": EpsilonGreedyLogger(base="popularity", epsilon=0.0),
    "uniform": EpsilonGreedyLogger(base="empty", epsilon=1.0),
    "epsilon_greedy": EpsilonGreedyLogger(base="noisy_oracle", epsilon=0.1),
    "softmax": SoftmaxLogger(temperature=1.0),
}
"""Named loggers; options of their class override theirs (``logging_policy("epsilon_greedy", epsilon=0.3)``,
``logging_policy("softmax", temperature=0.5)``)."""


def logging_policy(policy: str | Logger = "epsilon_greedy", **options: Any) -> Logger:
    """The logger of a name of :data:`LOGGING_POLICIES` (or a logger) with some options replaced; one-line errors."""
    if isinstance(policy, str):
        if policy not in LOGGING_POLICIES:
            raise InvalidOptionError(
                f"unknown logging policy {policy!r}; expected one of {', '.join(LOGGING_POLICIES)}"
            )
        policy = LOGGING_POLICIES[policy]
    fields = [field.name for field in dataclasses.fields(policy)]
    unknown = sorted(set(options) - set(fields))
    if unknown:
        raise InvalidOptionError(f"unknown logger option(s) {', '.join(unknown)}; expected some of {', '.join(fields)}")
    return dataclasses.replace(policy, **options)


def log_sessions(
    world: World,
    logger: str | Logger = "epsilon_greedy",
    *,
    n_sessions: int,
    seed: int = 0,
    slate_size: int = 20,
    progress: bool = False,
) -> SlateLog:
    """Play ``logger`` (a name of :data:`LOGGING_POLICIES` or a logger) on ``n_sessions`` users of stream ``seed``
    of ``world`` and return the log; session ``i`` is the same user as in :func:`~recgym.worlds.play` with that
    seed. Sessions are simulated :data:`LOG_CHUNK_SESSIONS` at a time, which bounds memory on large catalogues."""
    logger = logging_policy(logger)
    check_number("n_sessions", n_sessions, at_least=1, integer=True)
    check_number(f"slate_size (catalogue of {world.n_items} items)", slate_size, at_least=1, at_most=world.n_items,
                 integer=True)  # fmt: skip
    parts: list[dict[str, np.ndarray]] = []
    with tqdm(total=n_sessions, unit="session", desc="logging", disable=not progress) as bar:
        for first in range(0, n_sessions, LOG_CHUNK_SESSIONS):  # bounded memory: (chunk x n_items) values per step
            sessions = world.start(seed, np.arange(first, min(first + LOG_CHUNK_SESSIONS, n_sessions)))
            while len(sessions):
                slates, propensities = logger(world, sessions, slate_size)
                outcome, after = world.step(sessions, slates)
                parts.append(
                    {
                        "session": sessions.index,
                        "step": np.full(len(sessions), sessions.history.shape[1], dtype=np.int64),
                        "observations": world.observations(sessions),
                        "slates": slates,
                        "propensities": propensities,
                        "clicked": outcome.clicked,
                        "position": outcome.position,
                        "purchased": outcome.purchased,
                        "reward": outcome.reward,
                    }
                )
                bar.update(int(outcome.done.sum()))
                sessions = after.select(~outcome.done)
    arrays = {name: np.concatenate([part[name] for part in parts]) for name in LOG_ARRAYS}
    order = np.lexsort((arrays["step"], arrays["session"]))
    card = {
        "world": {
            "options": world.options if isinstance(world, UserSimulator) else {"fitted": True, **world.settings},
            "n_items": world.n_items,
            "item_index_fingerprint": world.item_index_fingerprint,
            "raw_item_ids": world.raw_item_ids.tolist(),
        },
        "logger": logger.describe(),
        "n_sessions": int(n_sessions),
        "seed": int(seed),
        "slate_size": int(slate_size),
    }
    return SlateLog(**{name: array[order] for name, array in arrays.items()}, card=card)
