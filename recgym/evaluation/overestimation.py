"""Overestimation monitoring (paper Appendix A.1): the Q of the logged actions against the discounted return.

On a split, :func:`q_bias` compares the mean Q(s, a) an algorithm gives the logged actions with the mean empirical
discounted return of the logged session from that event on, G_t = Σ_{j ≥ t} γ^{j - t} r_j (within the session). A
positive ``q_bias`` is overestimation, a negative one underestimation.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from d3rlpy.algos.qlearning.base import QLearningAlgoImplBase

from recgym.checks import check_number
from recgym.data.transitions import Split

__all__ = ["discounted_returns", "has_q_function", "q_bias"]

_SCORE_BUDGET = 2**23
"""Items × rows per ``predict_value`` call, so an algorithm that scores the whole catalogue stays near 32 MB."""


def discounted_returns(rewards: np.ndarray, terminals: np.ndarray, gamma: float) -> np.ndarray:
    """G_t = r_t + γ·G_{t+1} within each session, G = r at a session's last event, (N,) float64.

    Rows are events with sessions contiguous and in time order; ``terminals`` marks each session's last event (the
    last row ends a session in any case). A parallel scan: after the pass with stride s, each row holds the return of
    its next 2s events, so ⌈log₂(longest session)⌉ vectorised passes give the exact sums with no loop over events.
    """
    check_number("gamma", gamma, at_least=0, at_most=1)
    returns = np.asarray(rewards, dtype=np.float64).copy()
    link = np.where(np.asarray(terminals, dtype=bool), 0.0, gamma)  # discount from row t to row t + 1
    if len(link):
        link[-1] = 0.0
    stride = 1
    while link.any():
        returns[:-stride] += link[:-stride] * returns[stride:]
        link = np.concatenate([link[:-stride] * link[stride:], np.zeros(min(stride, len(link)))])
        stride *= 2
    return returns


def has_q_function(algo: Any) -> bool:
    """Whether a built algorithm has a Q function: a recgym agent with N1's Q head (not ``sasrec``, whose
    ``predict_value`` is a CE logit), or a d3rlpy algorithm whose implementation has ``q_function`` (not BC)."""
    network = getattr(getattr(algo.impl, "modules", None), "network1", None)
    if network is not None:
        return getattr(network, "q_head", None) is not None
    return type(algo.impl).q_function is not QLearningAlgoImplBase.q_function


def q_bias(algo: Any, dataset: Any, split: str = "val", gamma: float | None = None) -> dict[str, float]:
    """Mean Q(s, a) of the logged actions of ``split``, the mean discounted return from those events, and their gap.

    ``algo`` is a built d3rlpy algorithm with a Q function (every recgym RL agent: N1's Q head; d3rlpy's
    ``discrete_cql``), queried with ``algo.predict_value``; ``dataset`` a :class:`recgym.SessionDataset`; ``gamma``
    defaults to the algorithm's own ``config.gamma``. Returns ``{"q_mean", "return_mean", "q_bias"}`` with
    ``q_bias = q_mean - return_mean``.
    """
    if algo.impl is None:
        raise ValueError(f"{type(algo).__name__} is not built yet: call fit() or build_with_dataset() first")
    if not has_q_function(algo):
        raise ValueError(f"{type(algo).__name__} has no Q function, so it has no Q bias")
    data: Split = dataset.split(split)
    if data.n_transitions == 0:
        raise ValueError(f"split {split!r} has no events")
    gamma = algo.config.gamma if gamma is None else gamma
    rows = max(1, _SCORE_BUDGET // max(1, algo.impl.action_size))
    q = np.concatenate(
        [
            np.asarray(algo.predict_value(data.observations[i : i + rows], data.actions[i : i + rows]), np.float64)
            for i in range(0, data.n_transitions, rows)
        ]
    )
    q_mean = float(q.mean())
    return_mean = float(discounted_returns(data.rewards, data.terminals, gamma).mean())
    return {"q_mean": q_mean, "return_mean": return_mean, "q_bias": q_mean - return_mean}
