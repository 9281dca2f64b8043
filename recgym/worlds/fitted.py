"""A world fitted to any log: a live user model learned from a dataset's train split, for logs that no generator wrote.

:func:`fit_world` learns three parts from the train sessions of any :class:`~recgym.datasets.SessionDataset`:

- **next click**: a first-order Markov chain over the clicked items, smoothed toward item popularity,
  ``p(j | last i) = (c_ij + smoothing * pop_j) / (c_i + smoothing)`` (``c_ij`` the train transitions from ``i`` to
  ``j``, ``c_i`` their sum, ``pop`` the train click shares with one pseudo-click per item, so that every item has a
  positive probability); the first click follows the train sessions' first clicks, smoothed the same way. Or, with
  ``click_model="sasrec"``, a sequence model: a SASRec trained on the train split's click transitions, whose softmax
  over its scores of the session's last ``state_size`` clicks is ``p(. | the session so far)`` (a first click: its
  softmax at the empty state); it is saved inside the world's file as a recgym model file's bytes (checksummed);
- **purchase**: a click on item ``i`` leads to a purchase with its train rate, shrunk to the log's rate with
  ``purchase_prior`` pseudo-clicks;
- **leaving**: after each organic click the user leaves with the hazard of the train sessions' click counts.

The live step is the synthetic world's choice model (:mod:`recgym.envs.simulator`): the item shown at position ``j``
gets the weight ``slate_attention * (j + 1) ** -position_exponent * p(item | last click)``, she clicks position ``j``
with probability ``w_j / (1 + sum w)``, else makes an organic click from ``p(. | last click)``; slate clicks do not
end the session. A :class:`FittedWorld` has the interface the policies of :mod:`recgym.worlds.planning` use
(``start``, ``step``, ``observations``, ``slate_values``, ``click_probabilities``), so ``play`` and ``headroom`` run
in it. It speaks the dataset's item ids, is saved as one ``.npz`` (no pickle) and refuses, on loading for a dataset,
another item index. :func:`calibrate` compares it with the log it was fitted to.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import zipfile
from pathlib import Path
from typing import Any

import d3rlpy
import numpy as np
import scipy.sparse as sp
import torch
from d3rlpy.base import LearnableBase
from d3rlpy.logging import NoopAdapterFactory
from matplotlib.figure import Figure
from scipy import stats

from agents.presets import make_config
from recgym.checks import check_number
from recgym.contract import bind_contract
from recgym.data.cache import write_npz
from recgym.data.dataset import SessionDataset
from recgym.data.schema import EventType
from recgym.data.sessions import earlier_clicks
from recgym.envs.simulator import (
    Outcome,
    Sessions,
    choose_position,
    new_sessions,
    padded_states,
    shown_once,
    slate_weights,
    uniform_draws,
)
from recgym.errors import InvalidOptionError, RecgymDataError
from recgym.evaluation import as_scorer
from recgym.ranking import top_k_array
from recgym.saving import model_bytes, model_from_bytes

__all__ = [
    "CLICK_MODELS",
    "MIN_TRAIN_SESSIONS",
    "FittedWorld",
    "calibrate",
    "fit_world",
    "load_world",
    "write_calibration",
]

MIN_TRAIN_SESSIONS = 10  # fewer train sessions than this cannot fit a world
CLICK_MODELS = ("markov", "sasrec")
FORMAT, VERSION = "recgym-fitted-world", 1
_CHOICE, _PURCHASE, _LEAVE, _KIND, _ITEM = range(5)  # random-number slots of a step
_ROWS = 1024  # states scored at a time by calibrate
_ARRAYS = (
    "first",
    "popularity",
    "purchase",
    "hazard",
    "raw_item_ids",
    "counts_data",
    "counts_indices",
    "counts_indptr",
)


@dataclasses.dataclass(frozen=True, repr=False)
class FittedWorld:
    """A user model fitted to a log (module docstring); item ids are the dataset's, ``pad_id`` = ``n_items``."""

    first: np.ndarray  # (n,) first-click distribution
    counts: sp.csr_matrix  # (n, n) train transitions between consecutive clicks
    popularity: np.ndarray  # (n,) train click shares (one pseudo-click each): the chain's smoothing target
    purchase: np.ndarray  # (n,) P(purchase | click on the item)
    hazard: np.ndarray  # (max_clicks + 1,) P(leave after the n-th organic click | reached it)
    raw_item_ids: np.ndarray
    item_index_fingerprint: str
    settings: dict[str, Any]  # smoothing, state_size, rewards, choice model, click model, the log it was fitted to
    sequence_model: LearnableBase | None = None  # click_model="sasrec": p(next click | window) is its softmax

    def __repr__(self) -> str:
        return f"FittedWorld({self.n_items} items, fitted to {self.settings.get('source')!r})"

    @property
    def name(self) -> str:
        return f"the world fitted to {self.settings.get('source')}"

    @property
    def n_items(self) -> int:
        return int(len(self.first))

    @property
    def pad_id(self) -> int:
        return self.n_items

    @property
    def state_size(self) -> int:
        return int(self.settings["state_size"])

    @property
    def item_popularity(self) -> np.ndarray:
        return self.popularity

    @functools.cached_property
    def _row_totals(self) -> np.ndarray:
        return np.asarray(self.counts.sum(axis=1)).ravel()

    @functools.cached_property
    def _row_cumulative(self) -> np.ndarray:
        """Cumulative sums of the transition counts, row after row (each row's draws search its own segment)."""
        return np.cumsum(self.counts.data)

    @functools.cached_property
    def _popularity_cdf(self) -> np.ndarray:
        return np.cumsum(self.popularity)

    @functools.cached_property
    def _first_cdf(self) -> np.ndarray:
        return np.cumsum(self.first)

    def next_click_probabilities(self, last: np.ndarray, started: np.ndarray) -> np.ndarray:
        """The Markov chain's ``p(. | last click)`` (B, n_items), the first-click distribution where ``started`` is
        False (whatever the click model; :meth:`click_probabilities` is the world's)."""
        return self._probabilities(last, started, self.counts[np.where(started, last, 0)].toarray(), slice(None))

    def _probabilities_at(self, last: np.ndarray, started: np.ndarray, items: np.ndarray) -> np.ndarray:
        """``p(items[b, j] | last click[b])`` (B, k) without the whole catalogue's row (the live step's slates)."""
        rows = np.where(started, last, 0)
        counts = np.asarray(self.counts[rows[:, None], items].todense()) if items.size else np.zeros(items.shape)
        return self._probabilities(last, started, counts, items)

    def _probabilities(self, last: np.ndarray, started: np.ndarray, counts: np.ndarray, items: Any) -> np.ndarray:
        """The chain's ``(c_ij + smoothing * pop_j) / (c_i + smoothing)`` at ``items`` (their ``counts`` given), or the
        first-click distribution where ``started`` is False."""
        smoothing = float(self.settings["smoothing"])
        totals = self._row_totals[np.where(started, last, 0)]
        chain = (counts + smoothing * self.popularity[items]) / (totals + smoothing)[:, None]
        return np.where(started[:, None], chain, self.first[items])

    def click_probabilities(self, observations: np.ndarray) -> np.ndarray:
        """The next-click distribution over every item, (B, n_items) float64, from (B, state_size) states: the
        sequence model's softmax, or the Markov chain's ``p(. | the state's last click)``."""
        observations = np.asarray(observations, dtype=np.int64)
        if self.sequence_model is not None:
            with torch.no_grad():
                scores = as_scorer(self.sequence_model)(observations).double()
            return torch.softmax(scores, dim=1).numpy()
        lengths = (observations < self.pad_id).sum(axis=1)
        last = observations[np.arange(len(observations)), np.maximum(lengths - 1, 0)]
        return self.next_click_probabilities(np.minimum(last, self.n_items - 1), lengths > 0)

    # -- live sessions (the interface of recgym.envs.simulator.UserSimulator) ----------------------------------------
    def start(self, seed: int, index: np.ndarray) -> Sessions:
        """New sessions ``index`` of the stream ``seed``, before their first click."""
        return new_sessions(seed, index, 0)

    def observations(self, sessions: Sessions) -> np.ndarray:
        """The last ``state_size`` clicks of each session, oldest first, right-padded: (B, state_size) int64."""
        return padded_states(sessions.history[:, -self.state_size :], self.state_size, self.pad_id)

    def slate_values(self, sessions: Sessions) -> np.ndarray:
        """Next-click probability times the expected reward of a click, per item (B, n_items): the myopic values."""
        rewards = self.settings["reward_click"] + self.settings["reward_purchase"] * self.purchase
        return self.click_probabilities(self.observations(sessions)) * rewards[None, :]

    def step(self, sessions: Sessions, slates: np.ndarray) -> tuple[Outcome, Sessions]:
        """One click of every session given its slate ((B, k) item ids, ``pad_id`` = nothing shown)."""
        keys, t, n = sessions.keys, sessions.history.shape[1], len(sessions)
        last, started = self._last(sessions)
        shown = shown_once(slates, self.pad_id)
        full = None if self.sequence_model is None else self.click_probabilities(self.observations(sessions))
        if full is None:
            probabilities = self._probabilities_at(last, started, np.where(shown, slates, 0))
        else:
            probabilities = np.take_along_axis(full, np.where(shown, slates, 0), axis=1)
        settings = self.settings
        weight = slate_weights(probabilities * shown, settings["slate_attention"], settings["position_exponent"])
        position, _ = choose_position(weight, uniform_draws(keys, t, _CHOICE))
        from_slate = position > 0
        clicked = np.zeros(n, dtype=np.int64)
        slate_rows = np.flatnonzero(from_slate)
        clicked[slate_rows] = slates[slate_rows, position[slate_rows] - 1]
        organic_rows = np.flatnonzero(~from_slate)
        if full is None:
            clicked[organic_rows] = self._organic(last[organic_rows], started[organic_rows], keys[organic_rows], t)
        else:  # inverse-CDF draws from each row of the sequence model's distribution
            cumulative = np.cumsum(full[organic_rows], axis=1)
            u_item = uniform_draws(keys[organic_rows], t, _ITEM)[:, None] * cumulative[:, -1:]
            clicked[organic_rows] = np.minimum((cumulative <= u_item).sum(axis=1), self.n_items - 1)
        purchased = uniform_draws(keys, t, _PURCHASE) < self.purchase[clicked]
        organic = sessions.organic + ~from_slate
        max_clicks = len(self.hazard) - 1
        leaves = ~from_slate & (uniform_draws(keys, t, _LEAVE) < self.hazard[np.minimum(organic, max_clicks)])
        done = leaves | (t + 1 >= max_clicks)
        reward = settings["reward_click"] + settings["reward_purchase"] * purchased
        outcome = Outcome(clicked, position, purchased, reward, done)
        history = np.concatenate([sessions.history, clicked[:, None]], axis=1)
        return outcome, dataclasses.replace(sessions, history=history, organic=organic)

    def _last(self, sessions: Sessions) -> tuple[np.ndarray, np.ndarray]:
        started = np.full(len(sessions), sessions.history.shape[1] > 0)
        last = sessions.history[:, -1] if sessions.history.shape[1] else np.zeros(len(sessions), dtype=np.int64)
        return last, started

    def _organic(self, last: np.ndarray, started: np.ndarray, keys: np.ndarray, t: int) -> np.ndarray:
        """Draws from ``p(. | last)``: the train transitions with probability ``c_i / (c_i + smoothing)``, else
        popularity; the first-click distribution before the first click."""
        smoothing = float(self.settings["smoothing"])
        u_kind, u_item = uniform_draws(keys, t, _KIND), uniform_draws(keys, t, _ITEM)
        totals = self._row_totals[last]
        chain = started & (u_kind * (totals + smoothing) < totals)
        clicks = np.where(started, _draw(self._popularity_cdf, u_item), _draw(self._first_cdf, u_item))
        rows = last[chain]
        begin, end = self.counts.indptr[rows], self.counts.indptr[rows + 1]
        before = np.where(begin > 0, self._row_cumulative[np.maximum(begin - 1, 0)], 0.0)
        at = np.searchsorted(self._row_cumulative, before + u_item[chain] * totals[chain], side="right")
        clicks[chain] = self.counts.indices[np.clip(at, begin, end - 1)]
        return clicks

    # -- files ---------------------------------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the world as one ``.npz`` (arrays and a JSON card; no pickle), whole or not at all."""
        card = {"format": FORMAT, "version": VERSION, "item_index": self.item_index_fingerprint, **self.settings}
        arrays = {
            "first": self.first, "popularity": self.popularity, "purchase": self.purchase, "hazard": self.hazard,
            "raw_item_ids": self.raw_item_ids, "counts_data": self.counts.data, "counts_indices": self.counts.indices,
            "counts_indptr": self.counts.indptr,
        }  # fmt: skip
        if self.sequence_model is not None:  # the model file's bytes (checksummed, no pickle), inside the world's file
            arrays["click_model"] = np.frombuffer(model_bytes(self.sequence_model), dtype=np.uint8)
        return write_npz(path, {"card": np.array(json.dumps(card)), **arrays})


def _draw(cumulative: np.ndarray, uniform: np.ndarray) -> np.ndarray:
    """Inverse-CDF draws from the cumulative sums of non-negative weights, one per uniform."""
    return np.minimum(np.searchsorted(cumulative, uniform * cumulative[-1], side="right"), len(cumulative) - 1)


def load_world(path: str | os.PathLike[str], dataset: SessionDataset | None = None) -> FittedWorld:
    """A world written by :meth:`FittedWorld.save`; with ``dataset``, refuse another item index (one line)."""
    try:
        with np.load(Path(path), allow_pickle=False) as data:
            card = json.loads(str(data["card"]))
            arrays = {name: data[name] for name in _ARRAYS}
            click_model = data["click_model"].tobytes() if "click_model" in data.files else None
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as error:
        raise RecgymDataError(f"{path}: not a fitted world written by FittedWorld.save ({error})") from None
    if (card.get("format"), card.get("version")) != (FORMAT, VERSION):
        raise RecgymDataError(f"{path}: not a fitted world of format {FORMAT} version {VERSION}")
    if dataset is not None and dataset.item_index_fingerprint != card["item_index"]:
        raise InvalidOptionError(
            f"{path} was fitted to another item index (fingerprint {card['item_index']}, {dataset.name}: "
            f"{dataset.item_index_fingerprint}): its item i is not the dataset's item i"
        )
    n = len(arrays["first"])
    counts = sp.csr_matrix(
        (arrays["counts_data"], arrays["counts_indices"], arrays["counts_indptr"]), shape=(n, n)
    )  # fmt: skip
    settings = {key: value for key, value in card.items() if key not in ("format", "version", "item_index")}
    if (click_model is None) != (settings.get("click_model", "markov") == "markov"):
        raise RecgymDataError(f"{path}: damaged: its card and its click model do not match")
    sequence_model = None if click_model is None else model_from_bytes(click_model, f"{path} (its click model)")
    return FittedWorld(
        arrays["first"], counts, arrays["popularity"], arrays["purchase"], arrays["hazard"], arrays["raw_item_ids"],
        card["item_index"], settings, sequence_model,
    )  # fmt: skip


def fit_world(
    dataset: SessionDataset,
    *,
    smoothing: float = 1.0,
    purchase_prior: float = 20.0,
    slate_attention: float = 1.0,
    position_exponent: float = 1.0,
    click_model: str = "markov",
    click_steps: int = 2000,
    click_seed: int = 0,
    progress: bool = False,
) -> FittedWorld:
    """Fit the user model of the module docstring to ``dataset``'s train split; one-line errors on bad input.

    ``click_model``: ``"markov"`` (the chain) or ``"sasrec"``, a SASRec (the ``synthetic`` preset) trained for
    ``click_steps`` updates with seed ``click_seed`` on the train split's click transitions.
    """
    if click_model not in CLICK_MODELS:
        raise InvalidOptionError(f"click_model must be one of {', '.join(CLICK_MODELS)}, got {click_model!r}")
    check_number("click_steps", click_steps, at_least=1, integer=True)
    check_number("click_seed", click_seed, at_least=0, integer=True)
    check_number("smoothing", smoothing, above=0)
    check_number("purchase_prior", purchase_prior, above=0)
    check_number("slate_attention", slate_attention, at_least=0)
    check_number("position_exponent", position_exponent, at_least=0)
    train, n = dataset.split("train"), dataset.n_items
    session = np.repeat(np.arange(train.n_sessions), np.diff(train.episode_starts))
    click = train.event_types == EventType.CLICK
    items, sessions = train.actions[click], session[click]
    n_sessions = len(np.unique(sessions))
    if n_sessions < MIN_TRAIN_SESSIONS:
        raise RecgymDataError(
            f"{dataset.source}: the train split has {n_sessions} sessions with clicks; fitting a world needs at least "
            f"{MIN_TRAIN_SESSIONS}"
        )
    same = sessions[1:] == sessions[:-1]
    counts = sp.coo_matrix((np.ones(int(same.sum())), (items[:-1][same], items[1:][same])), shape=(n, n)).tocsr()
    counts.sum_duplicates()
    starts = np.concatenate([[True], ~same])
    clicks = np.bincount(items, minlength=n).astype(np.float64)
    popularity = (clicks + 1.0) / (clicks.sum() + n)
    first = (np.bincount(items[starts], minlength=n) + smoothing * popularity) / (starts.sum() + smoothing)
    purchase_rows = (train.event_types == EventType.PURCHASE) & np.isin(session, sessions)  # sessions with clicks
    bought = np.bincount(train.actions[purchase_rows], minlength=n)
    rate = bought.sum() / clicks.sum()
    purchase = np.clip((bought + purchase_prior * rate) / (clicks + purchase_prior), 0.0, 1.0)
    lengths = np.bincount(sessions)
    lengths = lengths[lengths > 0]
    pmf = np.bincount(lengths) / len(lengths)
    survival = np.cumsum(pmf[::-1])[::-1]
    hazard = np.divide(pmf, survival, out=np.ones_like(pmf), where=survival > 0)
    hazard[0] = 0.0  # a session has at least one click
    settings = {
        "smoothing": float(smoothing), "purchase_prior": float(purchase_prior), "slate_attention": float(slate_attention),
        "position_exponent": float(position_exponent), "state_size": int(dataset.state_size),
        "reward_click": float(dataset.reward_click), "reward_purchase": float(dataset.reward_purchase),
        "source": dataset.source, "train_sessions": int(n_sessions),
    }  # fmt: skip
    sequence_model = None
    if click_model == "sasrec":  # a Markov world's card has no click_model entry (as before the sequence model)
        settings.update(click_model=click_model, click_steps=int(click_steps), click_seed=int(click_seed))
        sequence_model = _fit_sequence_model(dataset, click_steps, click_seed, progress)
    return FittedWorld(
        first, counts, popularity, purchase, hazard, dataset.raw_item_ids.copy(),
        dataset.item_index_fingerprint, settings, sequence_model,
    )  # fmt: skip


def _fit_sequence_model(dataset: SessionDataset, steps: int, seed: int, progress: bool) -> LearnableBase:
    """SASRec trained on the train split's click transitions (each session's last click is its terminal)."""
    train = dataset.split("train")
    rows = np.flatnonzero(train.event_types == EventType.CLICK)
    session = np.repeat(np.arange(train.n_sessions), np.diff(train.episode_starts))[rows]
    clicks = d3rlpy.dataset.MDPDataset(
        observations=train.observations[rows], actions=train.actions[rows], rewards=train.rewards[rows],
        terminals=np.append(session[1:] != session[:-1], True).astype(np.float32),
        action_space=d3rlpy.ActionSpace.DISCRETE, action_size=dataset.n_items,
    )  # fmt: skip
    bind_contract(clicks, dataset)
    d3rlpy.seed(seed)
    model = make_config("sasrec", "synthetic", steps=steps, seed=seed).create()
    model.fit(clicks, n_steps=steps, n_steps_per_epoch=steps, logger_adapter=NoopAdapterFactory(),
              show_progress=progress)  # fmt: skip
    return model


def _simulate(world: FittedWorld, n_sessions: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Organic sessions (nothing shown): each click's session and item, and whether it was bought."""
    sessions, parts = world.start(seed, np.arange(n_sessions)), []
    empty = np.zeros((n_sessions, 0), dtype=np.int64)
    while len(sessions):
        outcome, after = world.step(sessions, empty[: len(sessions)])
        parts.append((sessions.index, outcome.clicked, outcome.purchased))
        sessions = after.select(~outcome.done)
    return tuple(np.concatenate([part[i] for part in parts]) for i in range(3))  # type: ignore[return-value]


def _click_windows(sessions: np.ndarray, items: np.ndarray, state_size: int, pad_id: int) -> np.ndarray:
    """The (N, state_size) state before each click of contiguous sessions: the session's earlier clicks, at most
    ``state_size`` of them, oldest first, right-padded with ``pad_id`` (what a live session observes)."""
    starts = np.flatnonzero(np.append(True, sessions[1:] != sessions[:-1]))
    position = np.arange(len(items)) - np.repeat(starts, np.diff(np.append(starts, len(items))))
    length = np.minimum(position, state_size)[:, None]
    columns = np.arange(state_size)[None, :]
    source = np.arange(len(items))[:, None] - length + columns
    return np.where(columns < length, items[np.clip(source, 0, len(items) - 1)], pad_id)


def _gini(counts: np.ndarray) -> float:
    ordered = np.sort(counts.astype(np.float64))
    n = len(ordered)
    return float((2 * np.arange(1, n + 1) - n - 1) @ ordered / (n * ordered.sum())) if ordered.sum() else 0.0


def _top_share(counts: np.ndarray, fraction: float = 0.01) -> float:
    top = max(1, int(round(fraction * len(counts))))
    return float(np.sort(counts)[::-1][:top].sum() / max(counts.sum(), 1))


def calibrate(
    dataset: SessionDataset, world: FittedWorld, *, n_sessions: int | None = None, seed: int = 0, k: int = 20
) -> dict[str, Any]:
    """How well ``world`` (fitted to ``dataset``'s train split) matches the test split.

    ``click_model``: the mean negative log-likelihood of each test click given the session's clicks before it (the
    world's :meth:`~FittedWorld.click_probabilities` of that state) and HR@k of the click in their top-k. Then
    ``n_sessions`` simulated sessions (default: as many as the test sessions with clicks; nothing shown) against those
    real test sessions (a purchase-only session, which a log of views and a separate purchase log can hold, is left
    out here and in the fit's purchase rates): ``session_length`` (clicks per session; two-sample KS test), ``popularity`` (Gini and top-1% share of the
    item click counts; χ² test of homogeneity over ten bins of the real counts' rank), ``repeat_rate`` (clicks on an
    item already clicked in the session) and ``purchase_rate`` (purchases per click), each with a χ² test of two
    proportions. Each entry: ``real``, ``simulated`` and the test's ``statistic`` and ``p_value``.
    """
    test = dataset.split("test")
    if test.n_sessions == 0:
        raise RecgymDataError(f"{dataset.source}: the test split is empty: nothing to calibrate against")
    session = np.repeat(np.arange(test.n_sessions), np.diff(test.episode_starts))
    click = test.event_types == EventType.CLICK
    items, sessions = test.actions[click], session[click]
    windows = _click_windows(sessions, items, world.state_size, world.pad_id)
    log_likelihood, hits = np.zeros(len(items)), np.zeros(len(items), dtype=bool)
    for begin in range(0, len(items), _ROWS):
        rows = slice(begin, begin + _ROWS)
        probabilities = world.click_probabilities(windows[rows])
        log_likelihood[rows] = np.log(np.maximum(probabilities[np.arange(len(probabilities)), items[rows]], 1e-300))
        hits[rows] = (top_k_array(probabilities, k) == items[rows, None]).any(axis=1)

    real_sessions = np.unique(sessions)  # the test sessions with clicks (a log may hold purchase-only sessions)
    simulated_n = n_sessions or len(real_sessions)
    check_number("n_sessions", simulated_n, at_least=1, integer=True)
    sim_sessions, sim_items, sim_bought = _simulate(world, simulated_n, seed)
    real_lengths = np.bincount(sessions)[real_sessions]
    sim_lengths = np.bincount(sim_sessions, minlength=simulated_n)
    real_counts = np.bincount(items, minlength=dataset.n_items)
    sim_counts = np.bincount(sim_items, minlength=dataset.n_items)
    bins = np.array_split(np.argsort(-real_counts, kind="stable"), 10)
    table = np.array([[real_counts[b].sum() for b in bins], [sim_counts[b].sum() for b in bins]]) + 0.5
    chi_popularity = stats.chi2_contingency(table)

    def proportions(real_hits: int, real_n: int, sim_hits: int, sim_n: int) -> dict[str, float]:
        observed = np.array([[real_hits, real_n - real_hits], [sim_hits, sim_n - sim_hits]]) + 0.5
        result = stats.chi2_contingency(observed)
        return {"real": real_hits / real_n, "simulated": sim_hits / sim_n, "statistic": float(result.statistic),
                "p_value": float(result.pvalue)}  # fmt: skip

    purchases = int(((test.event_types == EventType.PURCHASE) & np.isin(session, real_sessions)).sum())
    length_test = stats.ks_2samp(real_lengths, sim_lengths)
    return {
        "click_model": {"nll": float(-log_likelihood.mean()), f"hr@{k}": float(hits.mean()), "test_clicks": len(items)},
        "session_length": {
            "real": float(real_lengths.mean()), "simulated": float(sim_lengths.mean()),
            "statistic": float(length_test.statistic), "p_value": float(length_test.pvalue),
        },
        "popularity": {
            "real": {"gini": _gini(real_counts), "top1_share": _top_share(real_counts)},
            "simulated": {"gini": _gini(sim_counts), "top1_share": _top_share(sim_counts)},
            "statistic": float(chi_popularity.statistic), "p_value": float(chi_popularity.pvalue),
        },
        "repeat_rate": proportions(
            int((earlier_clicks(sessions, items) > 0).sum()), len(items), int((earlier_clicks(sim_sessions, sim_items) > 0).sum()),
            len(sim_items),
        ),
        "purchase_rate": proportions(purchases, len(items), int(sim_bought.sum()), len(sim_items)),
        "sessions": {"real": len(real_sessions), "simulated": int(simulated_n)},
        "lengths": {"real": real_lengths.tolist(), "simulated": sim_lengths.tolist()},
        "item_counts": {"real": np.sort(real_counts)[::-1].tolist(), "simulated": np.sort(sim_counts)[::-1].tolist()},
    }  # fmt: skip


def write_calibration(report: dict[str, Any], world: FittedWorld, out: str | os.PathLike[str]) -> list[Path]:
    """``calibration.json``, ``calibration.md``, ``calibration.png`` (session lengths and item rank-frequency, real
    against simulated) and the fitted ``world.npz`` in the folder ``out``; returns the paths."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    summary = {key: value for key, value in report.items() if key not in ("lengths", "item_counts")}
    (folder / "calibration.json").write_text(json.dumps(summary, indent=2))
    model, length, popularity = report["click_model"], report["session_length"], report["popularity"]
    k = next(key for key in model if key.startswith("hr@"))
    lines = [
        f"# Calibration of a world fitted to {world.settings['source']}",
        "",
        f"Click model ({_click_model_name(world)}) on the test split ({model['test_clicks']:,} clicks): "
        f"NLL {model['nll']:.3f}, "
        f"{k.upper()} {model[k]:.4f}.",
        "",
        f"{report['sessions']['simulated']:,} simulated sessions (nothing shown) against the {report['sessions']['real']:,} "
        "real test sessions:",
        "",
        "| quantity | real | simulated | test | statistic | p |",
        "|---|---|---|---|---|---|",
        f"| clicks per session | {length['real']:.3f} | {length['simulated']:.3f} | KS | {length['statistic']:.4f} | "
        f"{length['p_value']:.3g} |",
        f"| item Gini / top-1% share | {popularity['real']['gini']:.3f} / {popularity['real']['top1_share']:.3f} | "
        f"{popularity['simulated']['gini']:.3f} / {popularity['simulated']['top1_share']:.3f} | χ² (10 bins) | "
        f"{popularity['statistic']:.1f} | {popularity['p_value']:.3g} |",
    ]
    for name, label in (("repeat_rate", "repeat clicks per click"), ("purchase_rate", "purchases per click")):
        entry = report[name]
        lines.append(f"| {label} | {entry['real']:.4f} | {entry['simulated']:.4f} | χ² | {entry['statistic']:.2f} | "
                     f"{entry['p_value']:.3g} |")  # fmt: skip
    (folder / "calibration.md").write_text("\n".join([*lines, "", "![calibration](calibration.png)", ""]))
    figure = Figure(figsize=(10, 3.6))  # a bare figure (Agg), as recgym.benchmark.plotting: no GUI backend needed
    left, right = figure.subplots(1, 2)
    cap = int(np.percentile(report["lengths"]["real"], 99)) + 1
    bins = np.arange(1, cap + 2) - 0.5
    for name, style in (("real", "-"), ("simulated", "--")):
        left.hist(np.minimum(report["lengths"][name], cap), bins=bins, density=True, histtype="step", linestyle=style,
                  label=name)  # fmt: skip
        counts = np.asarray(report["item_counts"][name], dtype=np.float64)
        counts = counts[counts > 0]
        right.loglog(np.arange(1, len(counts) + 1), counts / counts.sum(), style, label=name)
    left.set(xlabel="clicks per session", ylabel="share of sessions", title="Session length")
    right.set(xlabel="item rank", ylabel="share of clicks", title="Item popularity")
    left.legend()
    right.legend()
    figure.tight_layout()
    figure.savefig(folder / "calibration.png", dpi=110)
    return [
        folder / "calibration.json",
        folder / "calibration.md",
        folder / "calibration.png",
        world.save(folder / "world.npz"),
    ]


def _click_model_name(world: FittedWorld) -> str:
    settings = world.settings
    if settings.get("click_model", "markov") == "markov":
        return f"Markov chain, smoothing {settings['smoothing']:g}"
    return f"SASRec, {settings['click_steps']:,} updates, seed {settings['click_seed']}"
