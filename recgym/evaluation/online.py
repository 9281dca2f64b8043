"""Online evaluation: what a policy earns when its slates are shown to simulated users of the synthetic world.

:func:`evaluate_online` runs many sessions of :class:`~recgym.envs.simulator.UserSimulator` at once (array operations
per step over all live sessions) with the same step as ``gym.make("RecOnline-Synthetic")``, so its session ``i`` of a
seed is the env's i-th episode after ``reset(seed=seed)``. :class:`OraclePolicy` shows the model's own top-k.
"""

from __future__ import annotations

import math
from typing import Any, Protocol

import numpy as np
import torch

from recgym.checks import check_number
from recgym.envs.registration import SYNTHETIC_SESSIONS
from recgym.envs.simulator import UserSimulator
from recgym.errors import InvalidOptionError
from recgym.evaluation.offline import SCORE_BATCH_FLOATS
from recgym.evaluation.scoring import as_scorer, check_compatible
from recgym.ranking import top_k

__all__ = ["OraclePolicy", "evaluate_online"]

Z_95 = 1.959963984540054  # two-sided 95% quantile of the standard normal


class ClickModel(Protocol):
    """A live world's next-click model: a :class:`~recgym.envs.simulator.UserSimulator` or a fitted world."""

    def click_probabilities(self, observations: np.ndarray) -> np.ndarray: ...


class OraclePolicy:
    """Scores every item by the user model's probability that it is the next click given the observed clicks.

    Its top-k is the model's own top-k: an upper reference for online evaluation. It sees what any policy sees,
    the observation (the last ``state_size`` clicks), see :meth:`UserSimulator.click_probabilities`.
    """

    def __init__(self, simulator: ClickModel) -> None:
        self.simulator = simulator

    def scores(self, observations: np.ndarray) -> np.ndarray:
        """(B, n_items) float64 next-click probabilities."""
        return self.simulator.click_probabilities(np.asarray(observations))


def evaluate_online(
    policy: Any,
    n_sessions: int = 10_000,
    seed: int = 0,
    slate_size: int = 20,
    *,
    log_sessions: int = SYNTHETIC_SESSIONS,
    device: str | torch.device | None = None,
    allow_transfer: bool = False,
    simulator: Any = None,
    **options: Any,
) -> dict[str, float]:
    """Simulate sessions ``0..n_sessions-1`` of stream ``seed`` with ``policy``'s top-``slate_size`` as the slate.

    ``policy``: anything :func:`recgym.evaluate` accepts (ranked by :func:`recgym.evaluation.metrics.top_k`), or None to show
    nothing (the generator's own sessions). ``options``: those of ``gym.make("RecOnline-Synthetic", ...)``, i.e. of
    :class:`~recgym.envs.simulator.UserSimulator`, except that the logged sessions that fix the item index are
    ``log_sessions`` (the ``n_sessions`` of ``load_dataset("synthetic", ...)``; 20,000 as RecReplay-Synthetic).
    ``simulator``: a ready live world instead (one with the simulator's ``start`` / ``step`` / ``observations``, such
    as a :class:`~recgym.worlds.fitted.FittedWorld`), then without ``options``.
    A model trained for another item index than the world's is refused, as by :func:`recgym.evaluate`
    (``allow_transfer``); its train split is not checked (the simulated users are in no split), so a model trained on
    a recommender's log written in this world (:mod:`recgym.worlds.logged`) is evaluated here.

    Keys: ``return`` (mean return per session) with ``return_ci95_low`` / ``return_ci95_high``, a normal-approximation
    95% interval (mean ± 1.96 standard errors over sessions); ``clicks_per_session``, ``purchases_per_session``,
    ``session_length`` (events = clicks + purchases, as the dataset's ``mean_session_length``), ``purchase_share``
    (purchases / events), ``slate_click_share`` (clicks taken from the slate / clicks), ``n_sessions``, ``n_steps``.
    """
    check_number("n_sessions", n_sessions, at_least=2, integer=True)
    check_number("slate_size", slate_size, at_least=1, integer=True)
    if simulator is None:
        simulator = UserSimulator(n_sessions=log_sessions, **options)
    elif options:
        raise InvalidOptionError(
            f"simulator= is a ready world; it takes no world options ({', '.join(sorted(options))})"
        )
    if policy is not None:
        items = getattr(simulator, "dataset", simulator)  # a UserSimulator's dataset, or a world that is its own index
        check_compatible(policy, items, allow_transfer=allow_transfer, check_split=False)
    recommend = _recommender(policy, simulator.n_items, min(slate_size, simulator.n_items), device)
    returns, clicks, purchases, slate_clicks = (np.zeros(n_sessions) for _ in range(4))
    sessions = simulator.start(seed, np.arange(n_sessions))
    while len(sessions):
        outcome, after = simulator.step(sessions, recommend(simulator.observations(sessions)))
        index = sessions.index
        returns[index] += outcome.reward
        clicks[index] += 1
        purchases[index] += outcome.purchased
        slate_clicks[index] += outcome.from_slate
        sessions = after.select(~outcome.done)
    mean, half_width = returns.mean(), Z_95 * returns.std(ddof=1) / math.sqrt(n_sessions)
    n_clicks, n_purchases = clicks.sum(), purchases.sum()
    return {
        "return": float(mean),
        "return_ci95_low": float(mean - half_width),
        "return_ci95_high": float(mean + half_width),
        "clicks_per_session": float(n_clicks / n_sessions),
        "purchases_per_session": float(n_purchases / n_sessions),
        "session_length": float((n_clicks + n_purchases) / n_sessions),
        "purchase_share": float(n_purchases / (n_clicks + n_purchases)),
        "slate_click_share": float(slate_clicks.sum() / n_clicks),
        "n_sessions": int(n_sessions),
        "n_steps": int(n_clicks),
    }


def _recommender(policy: Any, n_items: int, k: int, device: Any):
    """``observations (B, L) -> slates (B, k)``: the policy's top-k of each distinct state, or empty slates for None."""
    if policy is None:
        return lambda observations: np.full((len(observations), 0), n_items, dtype=np.int64)
    scorer = as_scorer(policy)
    batch_size = max(1, SCORE_BATCH_FLOATS // n_items)

    def recommend(observations: np.ndarray) -> np.ndarray:
        states, state_of_row = np.unique(observations, axis=0, return_inverse=True)
        slates = np.empty((len(states), k), dtype=np.int64)
        with torch.no_grad():
            for start in range(0, len(states), batch_size):
                batch = states[start : start + batch_size]
                scores = scorer(batch)
                if device is not None:
                    scores = scores.to(device)
                if tuple(scores.shape) != (len(batch), n_items):
                    raise ValueError(
                        f"policy returned scores of shape {tuple(scores.shape)}, expected ({len(batch)}, {n_items})"
                    )
                slates[start : start + len(batch)] = top_k(scores, k).cpu().numpy()
        return slates[state_of_row.reshape(-1)]

    return recommend
