"""RecOnlineEnv: a live simulated user drawn from the synthetic user model that generated the logs.

:class:`UserSimulator` holds the world (the :class:`~recgym.data.synthetic.SyntheticUserModel` of the generator
options and the item index of ``load_dataset("synthetic", same options)``) and steps a *batch* of live sessions with
array operations; :class:`RecOnlineEnv` is the batch of one and :func:`recgym.evaluate_online` the batch of many, so
both run the same step.

Choice model (one step = one click; details and defaults in ``datasets/synthetic.md``, section "Online environment"):

* The user weighs the slate against her own path: the item shown at position ``j`` (0-based) gets the weight
  ``slate_attention * (j + 1) ** -position_exponent * p(item | clicks so far)``, ``p`` being the model's next-click
  probability; not using the slate has weight 1. She clicks slate position ``j`` with probability
  ``w_j / (1 + sum w)``, else makes the generator's organic click.
* Each click leads to a purchase with the model's purchase probability (which depends on earlier clicks of the item).
* After each organic click the user leaves with the hazard of the generator's session-length law, so organic clicks
  per session follow the logged distribution; slate clicks are extra clicks. Sessions end at ``max_session_clicks``.
* The world's mechanics (:mod:`recgym.envs.mechanics`: satiation, slate-dependent leaving, purchase intent, interest
  drift, clickbait, retention) change the slate weights, the purchase odds and the leaving; all off
  (``world="myopic"``, the default), the step is the one above, bit for bit.

An empty slate (every position the pad id ``n_items``) therefore replays the generator's sessions in distribution.
Randomness is a counter-based hash of (seed, session index, step, slot): session ``i`` of a seed is the same episode
whatever else is simulated beside it.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from recgym.checks import check_number
from recgym.data.synthetic import MIN_CLICKS, SyntheticConfig, SyntheticUserModel
from recgym.datasets import load_dataset
from recgym.envs.actions import check_slate
from recgym.envs.mechanics import WorldMechanics, world_mechanics
from recgym.envs.registration import SYNTHETIC_SESSIONS

__all__ = [
    "Outcome",
    "RecOnlineEnv",
    "Sessions",
    "UserSimulator",
    "choose_position",
    "item_quality",
    "mix_keys",
    "new_sessions",
    "padded_states",
    "shown_once",
    "slate_weights",
    "uniform_draws",
]

MAX_REDRAWS = 1000  # organic draws of items outside the dataset's index are redrawn at most this often
LENGTH_GRID = np.linspace(-8.0, 8.0, 4001)  # standard-normal grid integrating the log-normal session-length rate
_CHOICE, _PURCHASE, _LEAVE, _ORGANIC = range(4)  # random-number slots of a step; organic draws use 3 per attempt
_SLOTS_PER_STEP = _ORGANIC + 3 * MAX_REDRAWS
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_ANNOYANCE_STREAM = np.uint64(0xA5A5_5A5A_C3C3_3C3C)  # keys ^ this: the slate-leave draws, apart from every slot
QUALITY_STREAM = 0x7175  # spawn key of the items' hidden quality under the generator seed, apart from its streams


def mix_keys(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser of a uint64 array: a bijection whose outputs look independent for nearby inputs."""
    x = x + _GOLDEN
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def uniform_draws(keys: np.ndarray, step: int, slot: int) -> np.ndarray:
    """U[0, 1) per session key, a pure function of (key, step, slot)."""
    counter = mix_keys(np.array([step * _SLOTS_PER_STEP + slot], dtype=np.uint64))
    return (mix_keys(keys ^ counter) >> np.uint64(11)).astype(np.float64) * 2.0**-53


def _length_hazard(config: SyntheticConfig) -> np.ndarray:
    """``h[n] = P(L = n | L >= n)`` for the generator's clicks per session ``L`` (``3 + Poisson(log-normal)``, capped)."""
    cap = config.max_session_clicks
    density = np.exp(-0.5 * LENGTH_GRID**2)
    density /= density.sum()
    sigma = config.length_sigma
    rate = (config.mean_clicks - MIN_CLICKS) * np.exp(sigma * LENGTH_GRID - 0.5 * sigma**2)
    extra = np.arange(cap - MIN_CLICKS)
    log_factorial = np.concatenate([[0.0], np.cumsum(np.log(np.arange(1, cap)))])[extra]
    poisson = np.exp(extra[:, None] * np.log(rate)[None, :] - rate[None, :] - log_factorial[:, None])
    pmf = np.zeros(cap + 1)
    pmf[MIN_CLICKS:cap] = poisson @ density
    pmf[cap] = max(0.0, 1.0 - pmf[MIN_CLICKS:cap].sum())
    pmf *= 1.0 - config.short_session_share
    pmf[1:MIN_CLICKS] += config.short_session_share / (MIN_CLICKS - 1)
    survival = np.cumsum(pmf[::-1])[::-1]
    hazard = np.divide(pmf, survival, out=np.ones_like(pmf), where=survival > 1e-300)
    hazard[cap] = 1.0
    return np.minimum(hazard, 1.0)


@dataclasses.dataclass(frozen=True)
class Sessions:
    """Live simulated sessions, one row each; every row has made the same number of clicks (the step)."""

    keys: np.ndarray  # (B,) uint64 random stream of each session
    index: np.ndarray  # (B,) int64 session index within its seed
    history: np.ndarray  # (B, t) int64 raw item ids clicked so far, oldest first
    organic: np.ndarray  # (B,) int64 organic clicks so far
    shown: np.ndarray  # (B, m) int64 raw item ids shown so far (-1: nothing), for satiation
    topic_clicks: np.ndarray  # (B, n_topics) int64 clicks per topic so far, for purchase intent
    topic_slate_clicks: np.ndarray  # (B, n_topics) int64 slate clicks per topic so far, for drift
    satisfaction: np.ndarray  # (B,) float64 summed quality of the recommendations clicked so far, for retention

    def __len__(self) -> int:
        return int(self.keys.shape[0])

    def select(self, rows: np.ndarray) -> Sessions:
        """The sessions of ``rows`` (a boolean mask or indices)."""
        return Sessions(*(getattr(self, field.name)[rows] for field in dataclasses.fields(self)))


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What each session did in one step (dataset item ids)."""

    clicked: np.ndarray  # (B,) int64 item clicked
    position: np.ndarray  # (B,) int64 1-based slate position of the click, 0 for an organic click
    purchased: np.ndarray  # (B,) bool the click led to a purchase
    reward: np.ndarray  # (B,) float64 reward_click + reward_purchase * purchased
    done: np.ndarray  # (B,) bool the user left after this click

    @property
    def from_slate(self) -> np.ndarray:
        return self.position > 0


class UserSimulator:
    """The online world of ``load_dataset("synthetic", **options)``: its user model and its item ids.

    ``n_sessions``, ``generator_seed``, the :class:`~recgym.data.synthetic.SyntheticConfig` fields and any protocol
    option go to :func:`recgym.load_dataset` (with ``data_dir`` and ``state_size``), whose item index
    (``dataset.raw_item_ids``) the simulator speaks: observations, slates and clicks are dataset ids, the pad id is
    ``n_items``. Organic draws of a generator item missing from that index (never logged) are redrawn.
    ``slate_attention`` and ``position_exponent`` set the choice model (module docstring); ``world`` (a preset of
    :data:`~recgym.envs.mechanics.WORLD_PRESETS`, a :class:`~recgym.envs.mechanics.WorldMechanics` or a mapping of
    mechanic values) its mechanics.
    """

    def __init__(
        self,
        *,
        n_sessions: int = SYNTHETIC_SESSIONS,
        generator_seed: int = 0,
        data_dir: str | os.PathLike[str] | None = None,
        state_size: int = 10,
        reward_click: float = 0.2,
        reward_purchase: float = 1.0,
        slate_attention: float = 1.0,
        position_exponent: float = 1.0,
        world: str | WorldMechanics | Mapping[str, float] = "myopic",
        **options: Any,
    ) -> None:
        self.mechanics = world_mechanics(world)
        self.options = {
            "n_sessions": n_sessions, "generator_seed": generator_seed, "state_size": state_size,
            "reward_click": reward_click, "reward_purchase": reward_purchase, "slate_attention": slate_attention,
            "position_exponent": position_exponent, "world": dataclasses.asdict(self.mechanics), **options,
        }  # fmt: skip
        """What rebuilds this world (``UserSimulator(data_dir=..., **options)``), the mechanics by value."""
        check_number("slate_attention", slate_attention, at_least=0)
        check_number("position_exponent", position_exponent, at_least=0)
        self.dataset = load_dataset(
            "synthetic",
            data_dir=data_dir,
            state_size=state_size,
            n_sessions=n_sessions,
            generator_seed=generator_seed,
            reward_click=reward_click,
            reward_purchase=reward_purchase,
            **options,
        )
        fields = {field.name for field in dataclasses.fields(SyntheticConfig)}
        config = SyntheticConfig(n_sessions=n_sessions, **{k: v for k, v in options.items() if k in fields})
        self.model = SyntheticUserModel(config, generator_seed)
        self.raw_item_ids = self.dataset.raw_item_ids
        self.item_popularity = self.dataset.item_popularity
        self.n_items = self.pad_id = self.dataset.n_items
        self.state_size = self.dataset.state_size
        self.reward_click, self.reward_purchase = self.dataset.reward_click, self.dataset.reward_purchase
        self.slate_attention, self.position_exponent = float(slate_attention), float(position_exponent)
        self.max_clicks = config.max_session_clicks
        self._index_of = np.full(config.n_items, -1, dtype=np.int64)  # raw id -> dataset id, -1 if never logged
        self._index_of[self.raw_item_ids] = np.arange(self.n_items)
        self._topic_mass = np.bincount(self.model.topic_of, weights=self.model.base_weight, minlength=config.topics)
        self._hazard = _length_hazard(config)
        self.quality = item_quality(generator_seed, config.n_items)
        """Each raw item's hidden quality (standard normal), read by the ``clickbait`` and ``retention`` mechanics."""

    @property
    def item_index_fingerprint(self) -> str:
        """The fingerprint of the item index it speaks (its dataset's)."""
        return self.dataset.item_index_fingerprint

    # -- sessions -------------------------------------------------------------------------------------------------
    def start(self, seed: int, index: np.ndarray) -> Sessions:
        """New sessions ``index`` (int array) of the stream ``seed``, before their first click."""
        return new_sessions(seed, index, self.model.config.topics)

    def observations(self, sessions: Sessions) -> np.ndarray:
        """The last ``state_size`` clicks of each session, oldest first, right-padded with ``pad_id``: (B, L) int64."""
        return padded_states(self._index_of[sessions.history[:, -self.state_size :]], self.state_size, self.pad_id)

    def step(self, sessions: Sessions, slates: np.ndarray) -> tuple[Outcome, Sessions]:
        """One click of every session given its slate ((B, k) dataset ids, ``pad_id`` = nothing shown).

        Returns the outcome and the sessions after the click (all rows; drop ``outcome.done`` ones to go on).
        Slates must be valid (ids in ``[0, n_items]``); a repeated id counts at its first position only.
        """
        history, keys = sessions.history, sessions.keys
        n, t = history.shape
        shown = shown_once(slates, self.pad_id)
        raw = self.raw_item_ids[np.where(shown, slates, 0)]
        weight = slate_weights(
            self._probabilities_at(history, raw) * shown, self.slate_attention, self.position_exponent
        )
        weight = self._mechanics_weight(sessions, raw, weight)
        position, total = choose_position(weight, uniform_draws(keys, t, _CHOICE))
        from_slate = position > 0
        clicked = np.empty(n, dtype=np.int64)
        clicked[from_slate] = raw[from_slate, position[from_slate] - 1]
        organic_rows = np.flatnonzero(~from_slate)
        clicked[organic_rows] = self._organic_clicks(history[organic_rows], keys[organic_rows], t)

        earlier = (history == clicked[:, None]).sum(axis=1)
        purchased = uniform_draws(keys, t, _PURCHASE) < self.purchase_probability(sessions, clicked, earlier)
        organic = sessions.organic + ~from_slate
        hazard = self._hazard[np.minimum(organic, self.max_clicks)]
        if self.mechanics.retention:
            slate_clicks = t - sessions.organic
            odds = np.exp(-self.mechanics.retention * sessions.satisfaction / (1.0 + slate_clicks))
            hazard = hazard * odds / (1.0 - hazard + hazard * odds)
        leaves = ~from_slate & (uniform_draws(keys, t, _LEAVE) < hazard)
        if self.mechanics.leave_annoyance:
            engagement = total / (1.0 + total)
            annoyed = uniform_draws(keys ^ _ANNOYANCE_STREAM, t, _LEAVE) < self.mechanics.leave_annoyance * (
                1 - engagement
            )
            leaves |= shown.any(axis=1) & annoyed
        done = leaves | (t + 1 >= self.max_clicks)
        reward = self.reward_click + self.reward_purchase * purchased
        outcome = Outcome(self._index_of[clicked], position, purchased, reward, done)
        rows, topic = np.arange(n), self.model.topic_of[clicked]
        topic_clicks, topic_slate_clicks = sessions.topic_clicks.copy(), sessions.topic_slate_clicks.copy()
        topic_clicks[rows, topic] += 1
        topic_slate_clicks[rows, topic] += from_slate
        after = Sessions(
            keys,
            sessions.index,
            np.concatenate([history, clicked[:, None]], axis=1),
            organic,
            np.concatenate([sessions.shown, np.where(shown, raw, -1)], axis=1),
            topic_clicks,
            topic_slate_clicks,
            sessions.satisfaction + np.where(from_slate, self.quality[clicked], 0.0),
        )
        return outcome, after

    def _mechanics_weight(self, sessions: Sessions, raw: np.ndarray, weight: np.ndarray) -> np.ndarray:
        """Slate weights (B, k) of raw items after satiation and drift (unchanged when both are off)."""
        mechanics = self.mechanics
        if mechanics.satiation:
            exposures = (sessions.shown[:, None, :] == raw[:, :, None]).sum(axis=2)
            weight = weight * (1.0 - mechanics.satiation) ** exposures
        if mechanics.drift:
            topic_slate_clicks = np.take_along_axis(sessions.topic_slate_clicks, self.model.topic_of[raw], axis=1)
            weight = weight * self._drift_factor(topic_slate_clicks)
        if mechanics.clickbait:
            weight = weight * self._clickbait_factor(raw)
        return weight

    def retention_effects(self) -> np.ndarray | None:
        """``retention * quality`` of every dataset item (how much a click on its recommendation lowers the log-odds of
        leaving, before the shrinkage), or None in a world without retention; what the tilted oracles of
        :mod:`recgym.worlds.planning` weigh the myopic values by."""
        if not self.mechanics.retention:
            return None
        return self.mechanics.retention * self.quality[self.raw_item_ids]

    def _clickbait_factor(self, raw: np.ndarray) -> np.ndarray:
        """``exp(-clickbait * q - clickbait**2 / 2)`` of raw items' quality ``q``: the worst items tempt the most."""
        clickbait = self.mechanics.clickbait
        return np.exp(-clickbait * self.quality[raw] - 0.5 * clickbait**2)

    def _drift_factor(self, topic_slate_clicks: np.ndarray) -> np.ndarray:
        """``1 + drift * n / (1 + n)`` for ``n`` earlier slate clicks in an item's topic: interest moves toward a topic
        the user was led into, up to ``1 + drift`` times its organic share."""
        return 1.0 + self.mechanics.drift * topic_slate_clicks / (1.0 + topic_slate_clicks)

    def purchase_probability(self, sessions: Sessions, items: np.ndarray, earlier: np.ndarray) -> np.ndarray:
        """P(a click on raw ``items`` leads to a purchase), with ``earlier`` clicks of each in the session and, with
        purchase intent on, the session's earlier clicks in its topic; ``items`` (B,) or (B, k) with ``earlier`` alike."""
        if not self.mechanics.intent_gain:
            return self.model._purchase_probability(items, earlier)
        topic = self.model.topic_of[items]
        in_topic = np.take_along_axis(sessions.topic_clicks, topic.reshape(len(items), -1), axis=1).reshape(topic.shape)
        return self.model._purchase_probability(items, earlier, self.mechanics.intent_gain * in_topic)

    def _organic_clicks(self, history: np.ndarray, keys: np.ndarray, t: int) -> np.ndarray:
        """The generator's next click after each history, redrawn while it falls outside the dataset's index."""
        clicks = np.empty(len(keys), dtype=np.int64)
        pending = np.arange(len(keys))
        for attempt in range(MAX_REDRAWS):
            slot = _ORGANIC + 3 * attempt
            uniforms = [uniform_draws(keys[pending], t, slot + offset) for offset in range(3)]
            clicks[pending] = self._organic_draw(history[pending], *uniforms)
            pending = pending[self._index_of[clicks[pending]] < 0]
            if not pending.size:
                return clicks
        raise RuntimeError(
            f"{pending.size} organic draws stayed outside the dataset's {self.n_items} items after {MAX_REDRAWS} tries"
        )

    def _organic_draw(
        self, history: np.ndarray, u_kind: np.ndarray, u_item: np.ndarray, u_recall: np.ndarray
    ) -> np.ndarray:
        """The generator's next-click kinds and inverse-CDF draws (``SyntheticUserModel._sample_clicks``, one step)."""
        model = self.model
        if history.shape[1] == 0:
            return model._sample_popular(u_item)
        last = history[:, -1]
        kind = np.searchsorted(model._kind_cum, u_kind, side="right")
        clicks = last.copy()  # kind 0: repeat
        source = np.where(
            kind == 2, history[np.arange(len(last)), (u_recall * history.shape[1]).astype(np.int64)], last
        )
        neighbour = np.flatnonzero((kind == 1) | (kind == 2))
        clicks[neighbour] = model._sample_neighbour(source[neighbour], u_item[neighbour])
        in_topic = np.flatnonzero(kind == 3)
        clicks[in_topic] = model._sample_popular(u_item[in_topic], model.topic_of[last[in_topic]])
        explore = np.flatnonzero(kind == 4)
        clicks[explore] = model._sample_popular(u_item[explore])
        return clicks

    # -- the model's next-click probabilities, batched ---------------------------------------------------------------
    def click_probabilities(self, observations: np.ndarray) -> np.ndarray:
        """``p(item | observed clicks)`` for every dataset item: (B, n_items) float64, from (B, L) observations.

        The observation holds the last ``state_size`` clicks, so for longer sessions this is the model's answer
        given those clicks only (the recall term and the repeat counts see no further back).
        """
        observations = np.asarray(observations, dtype=np.int64)
        lengths = (observations < self.pad_id).sum(axis=1)
        history = self.raw_item_ids[np.minimum(observations, self.n_items - 1)]
        return self._raw_probabilities(history, lengths)[:, self.raw_item_ids]

    def slate_values(self, sessions: Sessions) -> np.ndarray:
        """What showing each item first in a slate is worth now: its slate weight (next-click probability after the
        whole session, with satiation and drift) times its expected reward if clicked (purchase odds with intent).

        (B, n_items) float64 over dataset ids; its top-k is the myopic oracle's slate in any world (in ``myopic``,
        next-click probability weighted by the purchase odds).
        """
        history = sessions.history
        n, n_raw, rows = len(sessions), self.model.config.n_items, np.arange(len(sessions))[:, None]
        lengths = np.full(n, history.shape[1], dtype=np.int64)
        weight = self._raw_probabilities(history, lengths)
        mechanics, topic_of = self.mechanics, self.model.topic_of
        if mechanics.satiation:
            exposures = _row_counts(sessions.shown, n_raw)
            weight = weight * (1.0 - mechanics.satiation) ** exposures
        if mechanics.drift:
            weight = weight * self._drift_factor(sessions.topic_slate_clicks[rows, topic_of[None, :]])
        if mechanics.clickbait:
            weight = weight * self._clickbait_factor(np.arange(n_raw))[None, :]
        earlier = _row_counts(history, n_raw)
        items = np.broadcast_to(np.arange(n_raw), (n, n_raw))
        purchase = self.purchase_probability(sessions, items, earlier)
        values = weight * (self.reward_click + self.reward_purchase * purchase)
        return values[:, self.raw_item_ids]

    def _raw_probabilities(self, history: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """``p(raw item | the first lengths[b] raw ids of history[b])`` for every raw item: (B, n_raw) float64."""
        last, ids, weights = self._sparse_terms(history, lengths)
        n, n_raw = len(history), self.model.config.n_items
        probabilities = self._dense_terms(np.arange(n_raw)[None, :], last, lengths > 0)
        flat = (np.arange(n)[:, None] * n_raw + ids).ravel()
        probabilities += np.bincount(flat, weights=weights.ravel(), minlength=n * n_raw).reshape(n, n_raw)
        return probabilities

    def _probabilities_at(self, history: np.ndarray, items: np.ndarray) -> np.ndarray:
        """``p(items[b, j] | history[b])`` for raw items (B, k) after full histories (B, t): (B, k) float64."""
        lengths = np.full(len(history), history.shape[1], dtype=np.int64)
        last, ids, weights = self._sparse_terms(history, lengths)
        sparse = (weights[:, None, :] * (ids[:, None, :] == items[:, :, None])).sum(axis=2)
        return self._dense_terms(items, last, lengths > 0) + sparse

    def _sparse_terms(self, history: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The last click and the repeat, neighbour and recall terms as (item, weight) pairs per row.

        ``history`` is (B, H) raw ids of which the first ``lengths[b]`` are clicks (the rest is ignored).
        """
        config, model = self.model.config, self.model
        n, width = history.shape
        if width == 0:
            return np.zeros(n, dtype=np.int64), np.zeros((n, 0), dtype=np.int64), np.zeros((n, 0))
        rows = np.arange(n)
        clicked = np.arange(width)[None, :] < lengths[:, None]
        last = history[rows, np.maximum(lengths - 1, 0)]
        recall = np.where(clicked, config.recall_prob / np.maximum(lengths, 1)[:, None], 0.0)
        ids = np.concatenate([last[:, None], model.neighbours[last], model.neighbours[history].reshape(n, -1)], axis=1)
        weights = np.concatenate(
            [
                np.full((n, 1), config.repeat_prob),
                config.neighbour_prob * model.neighbour_probs[last],
                (recall[:, :, None] * model.neighbour_probs[history]).reshape(n, -1),
            ],
            axis=1,
        )
        weights[lengths == 0] = 0.0
        return last, ids, weights

    def _dense_terms(self, items: np.ndarray, last: np.ndarray, started: np.ndarray) -> np.ndarray:
        """Explore and topic terms at ``items`` (broadcast against (B, 1)); the base weight before the first click."""
        config, model = self.model.config, self.model
        base = model.base_weight[items]
        topic = model.topic_of[last][:, None]
        in_topic = (model.topic_of[items] == topic) / self._topic_mass[topic]
        after_click = base * (config.explore_prob + config.topic_prob * in_topic)
        return np.where(started[:, None], after_click, base)


def _row_counts(ids: np.ndarray, size: int) -> np.ndarray:
    """(B, size) counts of each id in each row of ``ids`` (B, m); negative ids are not counted."""
    n = len(ids)
    valid = ids >= 0
    flat = (np.arange(n)[:, None] * size + np.where(valid, ids, 0))[valid]
    return np.bincount(flat, minlength=n * size).reshape(n, size)


def item_quality(generator_seed: int, n_items: int) -> np.ndarray:
    """The hidden quality of ``n_items`` raw items of the world of ``generator_seed``: standard normal, drawn from a
    stream of its own, so the generator's draws (and the logs) are the same whatever the mechanics."""
    rng = np.random.default_rng(np.random.SeedSequence(generator_seed, spawn_key=(QUALITY_STREAM,)))
    return rng.standard_normal(n_items)


def new_sessions(seed: int, index: np.ndarray, n_topics: int) -> Sessions:
    """Sessions ``index`` (int array) of the stream ``seed`` before their first click, with ``n_topics`` counters."""
    check_number("seed", seed, at_least=0, below=2**64, integer=True)
    index = np.asarray(index, dtype=np.int64).reshape(-1)
    keys = mix_keys(mix_keys(np.array([seed], dtype=np.uint64)) ^ mix_keys(index.astype(np.uint64)))
    n = len(index)
    empty = np.empty((n, 0), dtype=np.int64)
    counts = np.zeros((n, n_topics), dtype=np.int64)
    return Sessions(keys, index, empty, np.zeros(n, dtype=np.int64), empty, counts, counts.copy(), np.zeros(n))


def padded_states(recent: np.ndarray, state_size: int, pad_id: int) -> np.ndarray:
    """States (B, state_size) int64 of each session's most recent clicks (B, <= state_size) ids, oldest first,
    right-padded with ``pad_id``."""
    states = np.full((len(recent), state_size), pad_id, dtype=np.int64)
    states[:, : recent.shape[1]] = recent
    return states


def shown_once(slates: np.ndarray, pad_id: int) -> np.ndarray:
    """(B, k) True where a slate shows an item: not the pad id, and not an id already shown above it."""
    k = slates.shape[1]
    earlier = np.tril(np.ones((k, k), dtype=bool), -1)
    repeats = ((slates[:, :, None] == slates[:, None, :]) & earlier[None]).any(axis=2)
    return (slates < pad_id) & ~repeats


def slate_weights(probabilities: np.ndarray, attention: float, position_exponent: float) -> np.ndarray:
    """The choice model's weight of each slate position: ``attention * (j + 1) ** -position_exponent * p``."""
    position_weight = (np.arange(probabilities.shape[1]) + 1.0) ** -position_exponent
    return attention * position_weight * probabilities


def choose_position(weight: np.ndarray, uniform: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The 1-based slate position each user clicks, position ``j`` with probability ``w_j / (1 + sum w)``, else 0 (an
    organic click), from one uniform per row; and the total weight (B,)."""
    cumulative = np.cumsum(weight, axis=1)
    total = cumulative[:, -1] if weight.shape[1] else np.zeros(len(weight))
    choice = uniform * (1.0 + total)
    return np.where(choice < total, (cumulative <= choice[:, None]).sum(axis=1) + 1, 0), total


class RecOnlineEnv(gym.Env[np.ndarray, Any]):
    """One episode = one simulated session of the synthetic user model; one step = one click.

    Observation: the padded last ``state_size`` clicked items, ``Box(0, n_items, (state_size,), int64)``, with the
    item ids and pad id of ``load_dataset("synthetic", same options)``, as the dataset's states.
    Action: an item id (``Discrete(n_items)``) when ``slate_size == 1``, else a slate of ``slate_size`` ids, best
    first (``MultiDiscrete``); the pad id ``n_items`` at a position shows nothing there, so an all-pad action is
    "no recommendation" (it replays the generator's sessions).
    Reward: ``reward_click`` per click plus ``reward_purchase`` if it led to a purchase.
    ``info``: ``clicked_item``, ``from_slate``, ``slate_position`` (1-based, 0 for an organic click), ``purchased``,
    ``session_index``.

    Keyword arguments: ``slate_size`` and those of :class:`UserSimulator` (generator options, ``generator_seed``,
    ``data_dir``, ``state_size``, rewards, choice model). ``reset(seed=s)`` restarts the stream ``s``: the i-th
    episode after it is session i of ``recgym.evaluate_online(..., seed=s)``; ``reset(options={"session_index": i})``
    plays session i of the current stream and continues from there.
    """

    metadata = {"render_modes": []}

    def __init__(self, *, slate_size: int = 1, render_mode: str | None = None, **options: Any) -> None:
        if render_mode is not None:
            raise ValueError(f"RecOnlineEnv has no render modes, got render_mode={render_mode!r}")
        check_number("slate_size", slate_size, at_least=1, integer=True)
        self.simulator = UserSimulator(**options)
        n_items = self.simulator.n_items
        check_number(f"slate_size (catalogue of {n_items} items)", slate_size, at_most=n_items, integer=True)
        self.slate_size = int(slate_size)
        self.observation_space = spaces.Box(0, n_items, (self.simulator.state_size,), np.int64)
        self.action_space = (
            spaces.Discrete(n_items) if slate_size == 1 else spaces.MultiDiscrete([n_items] * slate_size)
        )
        self._stream: int | None = None
        self._next_session = 0
        self._sessions: Sessions | None = None

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        if seed is not None:
            self._stream, self._next_session = int(seed), 0
        elif self._stream is None:
            self._stream, self._next_session = int(self.np_random.integers(2**63)), 0
        options = options or {}
        unknown = set(options) - {"session_index"}
        if unknown:
            raise ValueError(f"unknown reset option(s) {sorted(unknown)}; valid: ['session_index']")
        index = options.get("session_index", self._next_session)
        check_number("session_index", index, at_least=0, integer=True)
        self._sessions = self.simulator.start(self._stream, np.array([index]))
        self._next_session = int(index) + 1
        return self.simulator.observations(self._sessions)[0], {"session_index": int(index)}

    def step(self, action: Any) -> tuple[np.ndarray, SupportsFloat, bool, bool, dict[str, Any]]:
        if self._sessions is None:
            raise RuntimeError("the episode has ended (or never started): call reset() first")
        outcome, sessions = self.simulator.step(self._sessions, self._check_action(action)[None, :])
        done = bool(outcome.done[0])
        self._sessions = None if done else sessions
        info = {
            "clicked_item": int(outcome.clicked[0]),
            "from_slate": bool(outcome.from_slate[0]),
            "slate_position": int(outcome.position[0]),
            "purchased": bool(outcome.purchased[0]),
            "session_index": int(sessions.index[0]),
        }
        return self.simulator.observations(sessions)[0], float(outcome.reward[0]), done, False, info

    def _check_action(self, action: Any) -> np.ndarray:
        return check_slate(action, self.slate_size, self.simulator.pad_id, pad_allowed=True)
