"""Session-based nearest neighbours: the non-neural baselines ``sknn`` and ``vsknn``, fitted on the train split.

For a state ``q`` (the session's last ``state_size`` items, position ``p`` = 1 for the oldest to ``L`` for the
latest), with each distinct item weighted by the position of its last occurrence:

1. the candidates are the train sessions that share an item with ``q``; the ``sample_size`` most recent of them are
   kept (recency = order in the train split; 0 keeps all);
2. each candidate ``n`` (a set of items) gets a similarity ``sim(q, n)``: ``dot`` = the summed weights of the shared
   items; ``cosine`` = dot / sqrt(|q| |n|); ``jaccard`` = shared / |q ∪ n| (unweighted);
3. the ``k`` most similar are the neighbours (ties: the more recent first);
4. an item's score is the summed similarity of the neighbours that contain it. Items no neighbour contains rank below
   every item one does, by train popularity (then the lower id).

Position weights (``weighting``): ``same`` 1; ``linear`` p / L; ``quadratic`` (p / L)²; ``log`` 1 / log10(L − p + 1.7).
``sknn`` is ``weighting="same"``, ``similarity="cosine"``; ``vsknn`` (the vector-multiplication variant, recent items
weighing more) is ``weighting="linear"``, ``similarity="cosine"``. Scoring is a few sparse matrix products per batch
(scipy), with no Python loop over sessions or items.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import scipy.sparse as sp
import torch

from recgym.checks import check_number
from recgym.errors import InvalidOptionError

__all__ = ["KNN_PRESETS", "KNN_SETTINGS", "SessionKNNPolicy", "check_knn_settings"]

Similarity = Literal["cosine", "jaccard", "dot"]
Weighting = Literal["same", "linear", "quadratic", "log"]
SIMILARITIES = ("cosine", "jaccard", "dot")
WEIGHTINGS = ("same", "linear", "quadratic", "log")

KNN_PRESETS: dict[str, dict[str, Any]] = {
    "sknn": {"k": 100, "sample_size": 500, "similarity": "cosine", "weighting": "same"},
    "vsknn": {"k": 100, "sample_size": 500, "similarity": "cosine", "weighting": "linear"},
}
"""The benchmark's ``sknn`` and ``vsknn`` baselines: untuned, common defaults of the method (100 neighbours from the
500 most recent candidate sessions)."""
KNN_SETTINGS = ("k", "sample_size", "similarity", "weighting")
"""What a kNN baseline's ``-a LABEL.setting=value`` (or ``--grid``) may change."""

_ROWS_PER_CHUNK = 256  # states scored per sparse product: bounds the (states x candidate sessions) matrix


def check_knn_settings(**settings: Any) -> None:
    """Refuse an unknown setting or a bad value of :class:`SessionKNNPolicy` (``k``, ``sample_size``, ``similarity``,
    ``weighting``) with one line."""
    unknown = sorted(set(settings) - set(KNN_SETTINGS))
    if unknown:
        raise InvalidOptionError(
            f"unknown kNN setting(s) {', '.join(unknown)}; expected some of {', '.join(KNN_SETTINGS)}"
        )
    if "k" in settings:
        check_number("k", settings["k"], at_least=1, integer=True)
    if "sample_size" in settings:
        check_number("sample_size", settings["sample_size"], at_least=0, integer=True)
    if settings.get("similarity", "cosine") not in SIMILARITIES:
        raise InvalidOptionError(
            f"unknown similarity {settings['similarity']!r}; expected one of {', '.join(SIMILARITIES)}"
        )
    if settings.get("weighting", "same") not in WEIGHTINGS:
        raise InvalidOptionError(
            f"unknown weighting {settings['weighting']!r}; expected one of {', '.join(WEIGHTINGS)}"
        )


class SessionKNNPolicy:
    """Session-based kNN over the train split of ``dataset`` (module docstring); ``scores(obs)`` ranks the catalogue."""

    def __init__(
        self,
        dataset: Any,
        *,
        k: int = 100,
        sample_size: int = 500,
        similarity: Similarity = "cosine",
        weighting: Weighting = "same",
    ) -> None:
        check_knn_settings(k=k, sample_size=sample_size, similarity=similarity, weighting=weighting)
        self.k, self.sample_size, self.similarity, self.weighting = k, sample_size, similarity, weighting
        self.n_items, self.pad_id = int(dataset.n_items), int(dataset.pad_id)
        train = dataset.split("train")
        if not train.n_sessions:
            raise InvalidOptionError("the train split has no sessions: nothing to find neighbours in")
        lengths = np.diff(train.episode_starts)
        rows = np.repeat(np.arange(train.n_sessions), lengths)
        sessions = sp.csr_matrix(
            (np.ones(len(rows)), (rows, train.actions)), shape=(train.n_sessions, self.n_items)
        )  # fmt: skip
        sessions.data[:] = 1.0  # a set of items: repeats summed by the constructor count once
        self.sessions = sessions  # (n_sessions, n_items), session order = recency
        self.sessions_t = sessions.T.tocsr()
        self.session_sizes = np.asarray(sessions.sum(axis=1)).ravel()
        popularity = np.asarray(dataset.item_popularity, dtype=np.float64)
        self.fallback = (
            popularity / (2.0 * popularity.max()) - 1.0 if popularity.max() > 0 else np.full(self.n_items, -1.0)
        )

    def scores(self, observations: np.ndarray) -> torch.Tensor:
        """(B, n_items) float64 scores of states (B, L) right-padded with ``pad_id``."""
        observations = np.asarray(observations, dtype=np.int64)
        chunks = [self._scores(observations[start : start + _ROWS_PER_CHUNK])
                  for start in range(0, len(observations), _ROWS_PER_CHUNK)]  # fmt: skip
        return torch.from_numpy(np.concatenate(chunks) if chunks else np.zeros((0, self.n_items)))

    def _scores(self, observations: np.ndarray) -> np.ndarray:
        query = self._query(observations)  # (B, n_items) position weights of each state's distinct items
        weighted = (query @ self.sessions_t).tocsr()  # (B, n_sessions): summed weights of the shared items
        weighted.sort_indices()
        row = np.repeat(np.arange(weighted.shape[0]), np.diff(weighted.indptr))
        column, dot, overlap = weighted.indices, weighted.data, weighted.data
        if self.similarity == "jaccard":  # shared item counts, on the same pattern (every weight is positive)
            shared = (query.astype(bool).astype(np.float64) @ self.sessions_t).tocsr()
            shared.sort_indices()
            overlap = shared.data
        if self.sample_size:  # the most recent candidates: the last sample_size columns of each sorted row
            from_end = weighted.indptr[row + 1] - 1 - np.arange(len(row))
            keep = from_end < self.sample_size
            row, column, dot, overlap = row[keep], column[keep], dot[keep], overlap[keep]
        query_size = np.diff(query.indptr)[row].astype(np.float64)
        similarity = self._similarity(dot, overlap, query_size, self.session_sizes[column])
        order = np.lexsort((-column, -similarity, row))  # per row: most similar first, then most recent
        row, column, similarity = row[order], column[order], similarity[order]
        starts = np.searchsorted(row, np.arange(weighted.shape[0]))
        neighbour = np.arange(len(row)) - starts[row] < self.k
        neighbours = sp.csr_matrix(
            (similarity[neighbour], (row[neighbour], column[neighbour])), shape=(weighted.shape[0], weighted.shape[1])
        )
        scores = np.asarray((neighbours @ self.sessions).todense())
        return np.where(scores > 0, scores, self.fallback[None, :])

    def _query(self, observations: np.ndarray) -> sp.csr_matrix:
        """Each state's distinct items weighted by the position of their last occurrence: (B, n_items) CSR."""
        valid = observations < self.pad_id
        lengths = valid.sum(axis=1)
        row, column = np.nonzero(valid)
        items, position = observations[row, column], column + 1.0
        length = lengths[row].astype(np.float64)
        weight = {
            "same": np.ones_like(position),
            "linear": position / length,
            "quadratic": (position / length) ** 2,
            "log": 1.0 / np.log10(length - position + 1.7),
        }[self.weighting]
        key = row * self.n_items + items
        _, last = np.unique(key[::-1], return_index=True)  # the last occurrence of each (state, item)
        last = len(key) - 1 - last
        return sp.csr_matrix((weight[last], (row[last], items[last])), shape=(len(observations), self.n_items))

    def _similarity(
        self, dot: np.ndarray, overlap: np.ndarray, query_size: np.ndarray, session_size: np.ndarray
    ) -> np.ndarray:
        if self.similarity == "dot":
            return dot
        if self.similarity == "cosine":
            return dot / np.sqrt(query_size * session_size)
        return overlap / (query_size + session_size - overlap)
