"""A seeded, parametric user model whose session logs have the shape of the preprocessed RC15 benchmark.

It is the embedded default dataset (demos, CI) and a ground truth for online evaluation: the same
:class:`SyntheticUserModel` that samples the logs answers "how likely is this user to click / buy item i now?".

Generative story (details and defaults in ``datasets/synthetic.md``):

* Items get Zipf-Mandelbrot base weights (random ranks) and are split into equal-size topics. Inside a topic
  the items sit on a ring in random order; an item's neighbours are the ``neighbour_span`` items on each side.
* A session has ``3 + Poisson(lambda)`` clicks with ``lambda`` log-normal (a long tail). Its first click is drawn
  by base weight; every later click is, with fixed probabilities, a repeat of the last item, a neighbour of the
  last item, a neighbour of an item drawn uniformly from the session so far ("recall"), a popular item of the
  last item's topic, or a popular item of the whole catalogue ("explore"). Neighbours are weighted by base
  weight times a kernel that decays with ring distance and favours the forward direction.
* Each click leads to a purchase of its item with probability
  ``sigmoid(bias + item_logit + repeat_purchase_weight * min(earlier clicks of the item, 3))``. As in RC15, a
  purchase is an extra event: they are checked out after the session's last click, in the order of the clicks
  that led to them. ``bias`` is solved so that purchases are ``purchase_rate`` of events.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
from tqdm.auto import tqdm

from recgym.checks import check_number
from recgym.data.schema import EventType, validate_events
from recgym.data.sessions import earlier_clicks
from recgym.errors import InvalidOptionError

__all__ = ["SyntheticConfig", "SyntheticUserModel", "generate_events", "write_otto_file", "write_rc15_files"]

MIN_CLICKS = 3  # the RC15 protocol keeps sessions with more than 2 clicks
CHUNK_SESSIONS = 100_000  # sessions generated per independent sub-stream
CALIBRATION_SESSIONS = 20_000  # sessions simulated to solve the purchase bias
PURCHASE_REPEAT_CAP = 3  # earlier clicks of an item beyond this do not raise its purchase odds further
BACKWARD_WEIGHT = 0.5  # kernel weight of a neighbour behind an item on the ring, relative to one ahead
START_MS = 1_396_310_400_000  # 2014-04-01T00:00:00Z, start of the RC15 log
SPAN_MS = 183 * 86_400_000  # RC15 covers April to September 2014
CLICK_GAP_MEDIAN_MS = 45_000.0
PURCHASE_GAP_MEDIAN_MS = 30_000.0
GAP_SIGMA = 1.2
_WORLD_STREAM, _CALIBRATION_STREAM, _CHUNK_STREAM, _QUANTITY_STREAM = range(4)  # spawn keys of the sub-streams


_PROBABILITY = {"at_least": 0, "at_most": 1}
_CONFIG_RANGES: dict[str, dict[str, Any]] = {
    "n_sessions": {"at_least": 1, "integer": True},
    "n_items": {"at_least": 2, "integer": True},
    "mean_session_length": {},
    "purchase_rate": {"at_least": 0, "below": 0.5},
    "n_topics": {"at_least": 1, "integer": True},
    "popularity_exponent": {"at_least": 0},
    "popularity_offset": {"at_least": 0},
    "neighbour_span": {"at_least": 1, "integer": True},
    "neighbour_decay": {"above": 0, "at_most": 1},
    "repeat_prob": _PROBABILITY,
    "neighbour_prob": _PROBABILITY,
    "recall_prob": _PROBABILITY,
    "topic_prob": _PROBABILITY,
    "length_sigma": {"at_least": 0},
    "max_session_clicks": {"at_least": 1, "integer": True},
    "short_session_share": {"at_least": 0, "below": 1},
    "item_purchase_sigma": {"at_least": 0},
    "repeat_purchase_weight": {},
}
"""Field -> bounds of :func:`recgym.checks.check_number` (every field a finite number; n_topics may be None)."""


@dataclasses.dataclass(frozen=True)
class SyntheticConfig:
    """Parameters of the synthetic user model; defaults reproduce the shape of preprocessed RC15.

    n_sessions: sessions to generate (short ones included when ``short_session_share > 0``).
    n_items: catalogue size; item ids are 0..n_items-1.
    mean_session_length: mean events (clicks + purchases) of a session with at least 3 clicks.
    purchase_rate: share of events that are purchases.
    n_topics: number of topics; None gives one topic per ~250 items.
    popularity_exponent, popularity_offset: item base weights are ``(rank + popularity_offset) ** -exponent``
        (Zipf-Mandelbrot: the offset flattens the head; exponent 0 = uniform).
    neighbour_span: neighbours on each side of an item on its topic ring.
    neighbour_decay: kernel weight ratio between ring distances d+1 and d.
    repeat_prob, neighbour_prob, recall_prob, topic_prob: probabilities of the next-click kinds after the first
        click; the rest, ``explore_prob``, is a draw by base weight from the whole catalogue.
    length_sigma: log-normal sigma of the Poisson rate of clicks beyond 3 (larger = longer tail).
    max_session_clicks: clicks of a session are capped here.
    short_session_share: share of sessions with only 1 or 2 clicks (raw logs have them; the protocol drops them).
    item_purchase_sigma: standard deviation of the per-item purchase logit.
    repeat_purchase_weight: purchase logit added per earlier click of the same item in the session (up to 3).
    """

    n_sessions: int = 200_000
    n_items: int = 26_702
    mean_session_length: float = 5.75
    purchase_rate: float = 0.038
    n_topics: int | None = None
    popularity_exponent: float = 0.9
    popularity_offset: float = 100.0
    neighbour_span: int = 5
    neighbour_decay: float = 0.8
    repeat_prob: float = 0.22
    neighbour_prob: float = 0.28
    recall_prob: float = 0.12
    topic_prob: float = 0.15
    length_sigma: float = 1.3
    max_session_clicks: int = 200
    short_session_share: float = 0.0
    item_purchase_sigma: float = 1.0
    repeat_purchase_weight: float = 0.8

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if not (field.name == "n_topics" and value is None):
                check_number(field.name, value, **_CONFIG_RANGES[field.name])

        def require(ok: bool, message: str) -> None:
            if not ok:
                raise InvalidOptionError(f"SyntheticConfig: {message}")

        require(
            self.mean_clicks > MIN_CLICKS,
            f"mean_session_length * (1 - purchase_rate) = {self.mean_clicks:.3f} clicks must exceed {MIN_CLICKS}",
        )
        require(
            self.max_session_clicks > self.mean_clicks,
            f"max_session_clicks ({self.max_session_clicks}) must exceed the mean clicks {self.mean_clicks:.3f}",
        )
        if self.n_topics is not None:
            check_number(f"n_topics (catalogue of {self.n_items} items)", self.n_topics, at_most=self.n_items)
        require(
            self.explore_prob >= -1e-12,
            f"repeat_prob + neighbour_prob + recall_prob + topic_prob must be <= 1, got {1 - self.explore_prob:.6g}",
        )

    @property
    def mean_clicks(self) -> float:
        """Mean clicks of a session with at least 3 clicks."""
        return self.mean_session_length * (1.0 - self.purchase_rate)

    @property
    def explore_prob(self) -> float:
        """Probability that a next click is a draw from the whole catalogue by base weight."""
        return 1.0 - self.repeat_prob - self.neighbour_prob - self.recall_prob - self.topic_prob

    @property
    def topics(self) -> int:
        """The number of topics, resolving ``n_topics=None``."""
        return self.n_topics if self.n_topics is not None else max(1, round(self.n_items / 250))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-x))


class _CdfSearch:
    """``np.searchsorted(cdf, v, side="right")`` through a guide table: O(1) expected per query instead of O(log n).

    ``guide[c]`` is the answer for the left edge of cell c; a query starts there and steps right while
    ``cdf[index] <= v``. With more cells than entries a query takes about one step.
    """

    def __init__(self, cdf: np.ndarray, cells: int) -> None:
        self.cdf = np.append(cdf, np.inf)  # the sentinel stops the scan at len(cdf) like searchsorted
        self.scale = cells / cdf[-1]
        self.guide = np.searchsorted(cdf, np.arange(cells) / self.scale, side="right")

    def __call__(self, values: np.ndarray) -> np.ndarray:
        cell = np.minimum((values * self.scale).astype(np.int64), len(self.guide) - 1)
        index = self.guide[cell]
        pending = np.flatnonzero(self.cdf[index] <= values)
        while pending.size:
            index[pending] += 1
            pending = pending[self.cdf[index[pending]] <= values[pending]]
        return index


@dataclasses.dataclass
class _Chunk:
    """Events of consecutive sessions in canonical columns, session-major and time-ordered."""

    session_id: np.ndarray
    item_id: np.ndarray
    timestamp: np.ndarray
    event_type: np.ndarray


class SyntheticUserModel:
    """The item world fixed by ``(config, seed)``; samples sessions and answers click / purchase queries.

    Histories passed to the methods are the items *clicked* so far in the session, oldest first
    (purchase events left out), as raw item ids. Public attributes, all indexed by item id:
    ``base_weight`` (sums to 1; also the first-click distribution), ``topic_of``, ``neighbours`` and
    ``neighbour_probs`` (n_items, 2 * neighbour_span), ``item_purchase_logit``, ``price``; plus the
    calibrated scalar ``purchase_bias``.
    """

    def __init__(self, config: SyntheticConfig, seed: int = 0) -> None:
        self.config = config
        self.seed = seed
        rng = self._stream(_WORLD_STREAM)
        n, n_topics = config.n_items, config.topics

        ranks = rng.permutation(n)
        self.base_weight = (ranks + 1.0 + config.popularity_offset) ** -config.popularity_exponent
        self.base_weight /= self.base_weight.sum()
        self.topic_of = np.empty(n, dtype=np.int64)
        ring_items = rng.permutation(n)  # topic t is ring_items[bounds[t]:bounds[t+1]], in ring order
        bounds = np.linspace(0, n, n_topics + 1).round().astype(np.int64)
        sizes = np.diff(bounds)
        self.topic_of[ring_items] = np.repeat(np.arange(n_topics), sizes)
        self._ring_items = ring_items
        self._topic_bounds = bounds
        ring_cdf = np.cumsum(self.base_weight[ring_items])
        self._ring_search = _CdfSearch(ring_cdf, cells=4 * n)
        self._topic_cum_lo = np.concatenate([[0.0], ring_cdf])[bounds[:-1]]
        self._topic_cum_hi = ring_cdf[bounds[1:] - 1]

        span = config.neighbour_span
        offsets = np.concatenate([np.arange(1, span + 1), -np.arange(1, span + 1)])
        kernel = config.neighbour_decay ** (np.abs(offsets) - 1.0) * np.where(offsets > 0, 1.0, BACKWARD_WEIGHT)
        ring_pos = np.empty(n, dtype=np.int64)
        ring_pos[ring_items] = np.arange(n) - np.repeat(bounds[:-1], sizes)
        topic_start = bounds[self.topic_of][:, None]
        topic_size = sizes[self.topic_of][:, None]
        self.neighbours = ring_items[topic_start + (ring_pos[:, None] + offsets) % topic_size]
        weights = kernel * self.base_weight[self.neighbours]
        self.neighbour_probs = weights / weights.sum(axis=1, keepdims=True)
        row_cdf = np.cumsum(self.neighbour_probs, axis=1)
        row_cdf[:, -1] = 1.0
        self._neighbour_search = _CdfSearch((row_cdf + np.arange(n)[:, None]).ravel(), cells=4 * row_cdf.size)

        self.item_purchase_logit = rng.normal(0.0, config.item_purchase_sigma, n)
        self.price = np.maximum(1, rng.lognormal(np.log(1500.0), 1.0, n).round()).astype(np.int64)
        kinds = [config.repeat_prob, config.neighbour_prob, config.recall_prob, config.topic_prob]
        self._kind_cum = np.cumsum(kinds)
        self.purchase_bias = self._calibrate_purchase_bias(self._stream(_CALIBRATION_STREAM))

    def click_probabilities(self, history: Sequence[int]) -> np.ndarray:
        """Distribution of the next clicked item given the clicks so far, shape (n_items,), sums to 1."""
        clicks = self._check_items(history)
        config = self.config
        if len(clicks) == 0:
            return self.base_weight.copy()
        last = clicks[-1]
        probs = config.explore_prob * self.base_weight
        topic = self.topic_of[last]
        lo, hi = self._topic_bounds[topic], self._topic_bounds[topic + 1]
        in_topic = self._ring_items[lo:hi]
        probs[in_topic] += config.topic_prob * self.base_weight[in_topic] / self.base_weight[in_topic].sum()
        probs[last] += config.repeat_prob
        np.add.at(probs, self.neighbours[last], config.neighbour_prob * self.neighbour_probs[last])
        np.add.at(probs, self.neighbours[clicks], config.recall_prob / len(clicks) * self.neighbour_probs[clicks])
        return probs

    def purchase_probabilities(self, history: Sequence[int]) -> np.ndarray:
        """For every item, the probability that a click on it right after ``history`` leads to its purchase."""
        earlier = np.bincount(self._check_items(history), minlength=self.config.n_items)
        return self._purchase_probability(np.arange(self.config.n_items), earlier)

    def purchase_probability(self, history: Sequence[int], item: int) -> float:
        """Probability that a click on ``item`` right after ``history`` leads to its purchase (at checkout)."""
        earlier = np.count_nonzero(self._check_items(history) == item)
        return float(self._purchase_probability(self._check_items([item]), np.asarray(earlier))[0])

    def chunks(self) -> Iterator[_Chunk]:
        """Sessions 0..n_sessions-1 in chunks; chunk k comes from its own sub-stream of the seed."""
        n_sessions = self.config.n_sessions
        for first in range(0, n_sessions, CHUNK_SESSIONS):
            rng = self._stream(_CHUNK_STREAM, first // CHUNK_SESSIONS)
            yield self._sample_chunk(rng, first, min(CHUNK_SESSIONS, n_sessions - first))

    def _stream(self, *key: int) -> np.random.Generator:
        """An independent generator for ``key`` derived from the model's seed (the same key gives the same draws)."""
        return np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=key))

    def _sample_chunk(self, rng: np.random.Generator, first_session: int, n_sessions: int) -> _Chunk:
        config = self.config
        lengths = self._session_lengths(rng, n_sessions, config.short_session_share)
        session, items = self._sample_clicks(rng, lengths)
        earlier = earlier_clicks(session, items)
        bought = rng.random(len(items)) < self._purchase_probability(items, earlier)

        # purchases are checked out after the session's last click, in the order of the clicks that led to them
        event_session = np.concatenate([session, session[bought]])
        order = np.argsort(event_session, kind="stable")
        event_session = event_session[order]
        item_id = np.concatenate([items, items[bought]])[order]
        kinds = np.array([EventType.CLICK, EventType.PURCHASE], dtype=np.int8)
        event_type = np.repeat(kinds, [len(items), bought.sum()])[order]

        medians = np.where(event_type == EventType.PURCHASE, PURCHASE_GAP_MEDIAN_MS, CLICK_GAP_MEDIAN_MS)
        gaps = np.maximum(1, np.rint(medians * rng.lognormal(0.0, GAP_SIGMA, len(item_id)))).astype(np.int64)
        events_per_session = np.bincount(event_session, minlength=n_sessions)
        session_first_event = np.cumsum(events_per_session) - events_per_session
        gaps[session_first_event] = 0
        elapsed = np.cumsum(gaps)
        elapsed -= np.repeat(elapsed[session_first_event], events_per_session)
        global_session = first_session + np.arange(n_sessions)
        starts = START_MS + ((global_session + rng.random(n_sessions)) * (SPAN_MS / config.n_sessions)).astype(np.int64)
        timestamp = starts[event_session] + elapsed
        return _Chunk(first_session + event_session, item_id, timestamp, event_type)

    def _session_lengths(self, rng: np.random.Generator, n_sessions: int, short_share: float) -> np.ndarray:
        """Clicks per session: 3 + Poisson(log-normal rate) with the configured mean, or 1-2 for short sessions."""
        config = self.config
        extra_mean = config.mean_clicks - MIN_CLICKS
        rate = extra_mean * rng.lognormal(-0.5 * config.length_sigma**2, config.length_sigma, n_sessions)
        lengths = np.minimum(MIN_CLICKS + rng.poisson(rate), config.max_session_clicks)
        short = rng.random(n_sessions) < short_share
        lengths[short] = rng.integers(1, MIN_CLICKS, short.sum())
        return lengths

    def _sample_clicks(self, rng: np.random.Generator, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Sample all sessions step by step (vectorised over sessions); returns session-major (session, item).

        Sessions are processed longest first so that the sessions still running at step t are a prefix; the
        clicks of step t are stored contiguously at ``step_start[t]``.
        """
        order = np.argsort(-lengths, kind="stable")
        active = np.bincount(lengths, minlength=lengths.max() + 1)[::-1].cumsum()[::-1][1:]  # sessions longer than t
        step_start = np.concatenate([[0], np.cumsum(active)])
        clicks = np.empty(step_start[-1], dtype=np.int64)
        clicks[: active[0]] = self._sample_popular(rng.random(active[0]))
        for t in range(1, len(active)):
            n = active[t]
            last = clicks[step_start[t - 1] : step_start[t - 1] + n]
            kind = np.searchsorted(self._kind_cum, rng.random(n), side="right")
            u = rng.random(n)
            nxt = last.copy()  # kind 0: repeat
            neighbour = np.flatnonzero((kind == 1) | (kind == 2))
            source = last[neighbour]
            recall = np.flatnonzero(kind[neighbour] == 2)
            earlier_step = (rng.random(len(recall)) * t).astype(np.int64)
            source[recall] = clicks[step_start[earlier_step] + neighbour[recall]]
            nxt[neighbour] = self._sample_neighbour(source, u[neighbour])
            in_topic = np.flatnonzero(kind == 3)
            nxt[in_topic] = self._sample_popular(u[in_topic], self.topic_of[last[in_topic]])
            explore = np.flatnonzero(kind == 4)
            nxt[explore] = self._sample_popular(u[explore])
            clicks[step_start[t] : step_start[t] + n] = nxt

        session = np.repeat(np.arange(len(lengths)), lengths)
        step = np.arange(len(session)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        rank = np.empty(len(lengths), dtype=np.int64)
        rank[order] = np.arange(len(lengths))
        return session, clicks[step_start[step] + rank[session]]

    def _sample_popular(self, u: np.ndarray, topic: np.ndarray | None = None) -> np.ndarray:
        """Inverse-CDF draw by base weight, from the whole catalogue or from each given topic."""
        if topic is None:
            lo, hi, first, last = 0.0, self._topic_cum_hi[-1], 0, len(self._ring_items) - 1
        else:
            lo, hi = self._topic_cum_lo[topic], self._topic_cum_hi[topic]
            first, last = self._topic_bounds[topic], self._topic_bounds[topic + 1] - 1
        index = self._ring_search(lo + u * (hi - lo))
        return self._ring_items[np.clip(index, first, last)]

    def _sample_neighbour(self, source: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Inverse-CDF draw from each source's neighbour distribution (row r of the CDF is shifted by r)."""
        return self.neighbours.ravel()[self._neighbour_search(source + u)]

    def _purchase_probability(
        self, items: np.ndarray, earlier: np.ndarray, extra_logit: np.ndarray | None = None
    ) -> np.ndarray:
        """``extra_logit``: added to the purchase logit (a live world's purchase intent); None adds nothing."""
        logit = self._purchase_logit(items, earlier) + self.purchase_bias
        return _sigmoid(logit if extra_logit is None else logit + extra_logit)

    def _purchase_logit(self, items: np.ndarray, earlier: np.ndarray) -> np.ndarray:
        capped = np.minimum(earlier, PURCHASE_REPEAT_CAP)
        return self.item_purchase_logit[items] + self.config.repeat_purchase_weight * capped

    def _calibrate_purchase_bias(self, rng: np.random.Generator) -> float:
        """Solve the bias so that purchases / clicks = rate / (1 - rate) on a simulated sample of long sessions."""
        rate = self.config.purchase_rate
        if rate == 0:
            return -np.inf
        lengths = self._session_lengths(rng, CALIBRATION_SESSIONS, short_share=0.0)
        session, items = self._sample_clicks(rng, lengths)
        logit = self._purchase_logit(items, earlier_clicks(session, items))
        target = rate / (1.0 - rate)
        lo, hi = -30.0, 30.0
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if _sigmoid(logit + mid).mean() < target else (lo, mid)
        return 0.5 * (lo + hi)

    def _check_items(self, items: Sequence[int]) -> np.ndarray:
        """Item ids as an int64 array; ValueError naming the first id outside the catalogue."""
        array = np.asarray(items, dtype=np.int64).reshape(-1)
        if array.size and (array.min() < 0 or array.max() >= self.config.n_items):
            bad = array[(array < 0) | (array >= self.config.n_items)][0]
            raise ValueError(f"item id {bad} is outside 0..{self.config.n_items - 1}")
        return array


def generate_events(config: SyntheticConfig | None = None, seed: int = 0) -> pd.DataFrame:
    """Sample a session log in the canonical events schema (session ids 0.., item ids 0..n_items-1)."""
    model = SyntheticUserModel(config or SyntheticConfig(), seed)
    chunks = list(model.chunks())
    columns = {f.name: np.concatenate([getattr(c, f.name) for c in chunks]) for f in dataclasses.fields(_Chunk)}
    return validate_events(pd.DataFrame(columns), source=f"synthetic(seed={seed})")


_ISO_PIECES = np.dtype([("date", "S10"), ("time", "S9"), ("millis", "S5")])  # 2014-04-07 T10:51:09 .277Z


def _iso_timestamps(milliseconds: np.ndarray) -> pa.Array:
    """Format ms since epoch as ``2014-04-07T10:51:09.277Z`` by gathering fixed-width pieces into one buffer."""
    days, in_day = np.divmod(milliseconds, 86_400_000)
    seconds = in_day // 1000
    first_day = days.min()
    dates = np.arange(first_day, days.max() + 1).astype("datetime64[D]").astype("S10")
    time_of_day, millis_text = _time_tables()
    out = np.empty(len(milliseconds), dtype=_ISO_PIECES)
    out["date"] = dates.take(days - first_day)
    out["time"] = time_of_day.take(seconds)
    out["millis"] = millis_text.take(in_day - 1000 * seconds)
    offsets = np.arange(len(milliseconds) + 1, dtype=np.int32) * _ISO_PIECES.itemsize
    return pa.StringArray.from_buffers(len(milliseconds), pa.py_buffer(offsets), pa.py_buffer(out))


@functools.cache
def _time_tables() -> tuple[np.ndarray, np.ndarray]:
    """``Thh:mm:ss`` for every second of a day and ``.mmmZ`` for every millisecond."""
    time_of_day = np.array([f"T{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in range(86_400)], dtype="S9")
    return time_of_day, np.array([f".{ms:03d}Z" for ms in range(1000)], dtype="S5")


_CLICKS_SCHEMA = pa.schema(
    [("session_id", pa.int64()), ("timestamp", pa.string()), ("item_id", pa.int64()), ("category", pa.int64())]
)
_BUYS_SCHEMA = pa.schema(
    [
        ("session_id", pa.int64()),
        ("timestamp", pa.string()),
        ("item_id", pa.int64()),
        ("price", pa.int64()),
        ("quantity", pa.int64()),
    ]
)


def _rc15_tables(
    model: SyntheticUserModel, chunk: _Chunk, quantity_rng: np.random.Generator
) -> tuple[pa.Table, pa.Table]:
    """The rows of one chunk in the column layout of ``yoochoose-clicks.dat`` and ``yoochoose-buys.dat``."""
    tables = []
    for kind, schema in ((EventType.CLICK, _CLICKS_SCHEMA), (EventType.PURCHASE, _BUYS_SCHEMA)):
        rows = chunk.event_type == kind
        items = chunk.item_id[rows]
        if kind == EventType.CLICK:
            extra = [model.topic_of[items] + 1]
        else:
            extra = [model.price[items], quantity_rng.geometric(0.8, len(items))]
        columns = [chunk.session_id[rows], _iso_timestamps(chunk.timestamp[rows]), items, *extra]
        tables.append(pa.Table.from_arrays(columns, schema=schema))
    return tables[0], tables[1]


def write_rc15_files(
    directory: str | Path, config: SyntheticConfig | None = None, seed: int = 0, *, progress: bool = True
) -> tuple[Path, Path]:
    """Write a synthetic log as ``yoochoose-clicks.dat`` and ``yoochoose-buys.dat`` in the official RC15 format.

    Clicks: ``session_id,timestamp,item_id,category`` (category = topic + 1); buys:
    ``session_id,timestamp,item_id,price,quantity``; no header, ISO-8601 UTC timestamps with milliseconds.
    Ids and timestamps are those of :func:`generate_events` with the same config and seed. Use
    ``short_session_share`` > 0 to include the 1-2 click sessions that the RC15 protocol filters out.
    Memory stays bounded: chunks are written (in a background thread) while the next one is sampled.
    """
    config = config or SyntheticConfig()
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    clicks_path, buys_path = directory / "yoochoose-clicks.dat", directory / "yoochoose-buys.dat"
    model = SyntheticUserModel(config, seed)
    options = pa_csv.WriteOptions(include_header=False, quoting_style="none")
    with (
        pa_csv.CSVWriter(clicks_path, _CLICKS_SCHEMA, write_options=options) as clicks_writer,
        pa_csv.CSVWriter(buys_path, _BUYS_SCHEMA, write_options=options) as buys_writer,
        ThreadPoolExecutor(max_workers=1) as writer_thread,
        tqdm(total=config.n_sessions, unit="session", desc="synthetic RC15", disable=not progress) as bar,
    ):
        writing = None
        for index, chunk in enumerate(model.chunks()):
            clicks, buys = _rc15_tables(model, chunk, model._stream(_QUANTITY_STREAM, index))
            if writing is not None:
                writing.result()
            writing = writer_thread.submit(_write_tables, (clicks_writer, buys_writer), (clicks, buys))
            bar.update(int(chunk.session_id[-1] - chunk.session_id[0]) + 1)
        if writing is not None:
            writing.result()
    return clicks_path, buys_path


def _write_tables(writers: tuple[pa_csv.CSVWriter, ...], tables: tuple[pa.Table, ...]) -> None:
    for writer, table in zip(writers, tables, strict=True):
        writer.write_table(table)


def write_otto_file(
    path: str | Path, config: SyntheticConfig | None = None, seed: int = 0, *, progress: bool = True
) -> Path:
    """Write a synthetic log as one OTTO JSON-lines file (``{"session": s, "events": [{"aid", "ts", "type"}]}``).

    Clicks are ``"clicks"`` and purchases ``"orders"``; ids and timestamps are those of :func:`generate_events` with
    the same config and seed. Each chunk of sessions is formatted by Arrow kernels into one buffer, so memory stays
    bounded by a chunk.
    """
    config = config or SyntheticConfig()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = SyntheticUserModel(config, seed)
    bar = tqdm(total=config.n_sessions, unit="session", desc="synthetic OTTO", disable=not progress)
    with path.open("wb") as out, bar:
        for chunk in model.chunks():
            out.write(_otto_lines(chunk))
            bar.update(int(chunk.session_id[-1] - chunk.session_id[0]) + 1)
    return path


def _otto_lines(chunk: _Chunk) -> memoryview:
    """The JSON lines of one chunk's sessions as one UTF-8 buffer."""
    first = np.r_[True, chunk.session_id[1:] != chunk.session_id[:-1]]
    last = np.r_[first[1:], True]
    join = pc.binary_join_element_wise
    opening = join('{"session":', pc.cast(pa.array(chunk.session_id), pa.string()), ',"events":[{"aid":', "")
    events = join(
        pc.if_else(pa.array(first), opening, ',{"aid":'),
        pc.cast(pa.array(chunk.item_id), pa.string()),
        ',"ts":',
        pc.cast(pa.array(chunk.timestamp), pa.string()),
        pc.if_else(pa.array(chunk.event_type == EventType.PURCHASE), ',"type":"orders"}', ',"type":"clicks"}'),
        pc.if_else(pa.array(last), "]}\n", ""),
        "",
    )
    offsets = np.frombuffer(events.buffers()[1], dtype=np.int32, count=len(events) + 1, offset=events.offset * 4)
    return memoryview(events.buffers()[2])[offsets[0] : offsets[-1]]
