"""Fitted Q evaluation (FQE, Le et al. 2019) of any policy recgym can score, through d3rlpy's ``DiscreteFQE``.

FQE regresses ``Q̂(s, a)`` on the logged transitions of a split toward ``r + γ Q̂'(s', π(s'))`` (zero after the last
event of a session), where ``π(s')`` is the policy's greedy item: the argmax of its recgym scores
(:func:`recgym.evaluation.scoring.as_scorer`; ties to the lower item id), which equals ``predict`` for a d3rlpy
algorithm. The policy's value is then the direct-method estimate ``mean_i Q̂(s_0^i, π(s_0^i))`` over the sessions'
first states (:func:`recgym.ope.dm`), with a bootstrap interval over sessions that covers the sampling of those
sessions, not the fitting noise of ``Q̂`` (refit with other seeds to see that).

The Q network is the SASRec encoder of the agents (``hidden_size``, one block) with a linear head over the catalogue.
In the replay MDP of a session log the next state is the logged one whatever the policy would have shown, so FQE
measures the policy against the logged continuations; how well that ranks policies by what they earn online is what
the validity leaderboard measures (:mod:`recgym.benchmark.validity`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import d3rlpy
import numpy as np
import torch
from d3rlpy.logging import NoopAdapterFactory
from d3rlpy.ope import DiscreteFQE, FQEConfig

from agents.encoders import SASRecEncoderFactory
from recgym.checks import check_number
from recgym.evaluation.scoring import Scorer, as_scorer, check_compatible
from recgym.ope import DEFAULT_BOOTSTRAP, Bootstrap, Estimate, dm
from recgym.ranking import top_k

__all__ = ["FittedQ", "fit_fqe", "fqe"]


class _GreedyImpl:
    """What ``DiscreteFQE`` asks of the policy it evaluates: the greedy item of a batch of (float) observations."""

    def __init__(self, scorer: Scorer) -> None:
        self._scorer = scorer

    def predict_best_action(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            scores = self._scorer(x.round().long().cpu().numpy())
        return top_k(scores, 1)[:, 0].to(x.device)


class _Greedy:
    """A policy as the algorithm ``DiscreteFQE`` evaluates (it reads only ``impl.predict_best_action``)."""

    def __init__(self, scorer: Scorer) -> None:
        self.impl = _GreedyImpl(scorer)


@dataclass(frozen=True)
class FittedQ:
    """A fitted FQE model of one policy: ``fqe.predict_value(observations, items)`` is Q̂(s, a) (d3rlpy's API),
    ``values(observations)`` is Q̂(s, π(s)), the policy's value from each state."""

    fqe: DiscreteFQE
    scorer: Scorer

    def values(self, observations: np.ndarray) -> np.ndarray:
        """(B,) Q̂(s, π(s)) with π the policy's greedy item."""
        x = np.asarray(observations, dtype=np.int64)
        with torch.no_grad():
            greedy = top_k(self.scorer(x), 1)[:, 0].cpu().numpy()
        return self.fqe.predict_value(x, greedy)


def fit_fqe(
    policy: Any,
    dataset: Any,
    *,
    split: str = "val",
    n_steps: int = 2000,
    gamma: float = 0.99,
    learning_rate: float = 1e-3,
    batch_size: int = 256,
    target_update_interval: int = 100,
    hidden_size: int = 64,
    seed: int = 0,
    device: str = "cpu",
    progress: bool = False,
) -> FittedQ:
    """Fit FQE of ``policy`` on the transitions of ``split`` of ``dataset`` (module doc) for ``n_steps`` updates.

    ``policy``: any policy :func:`~recgym.evaluation.scoring.as_scorer` takes (an agent, a d3rlpy algorithm, a
    baseline, a callable); a model trained for another dataset is refused as :func:`recgym.evaluate` refuses it.
    """
    for name, count in (("n_steps", n_steps), ("batch_size", batch_size),
                        ("target_update_interval", target_update_interval), ("hidden_size", hidden_size)):  # fmt: skip
        check_number(name, count, at_least=1, integer=True)
    check_number("seed", seed, at_least=0, integer=True)
    check_number("gamma", gamma, at_least=0, at_most=1)
    check_number("learning_rate", learning_rate, above=0)
    dataset.require_nonempty(split)
    check_compatible(policy, dataset)
    scorer = as_scorer(policy)
    d3rlpy.seed(seed)
    config = FQEConfig(
        learning_rate=learning_rate,
        batch_size=batch_size,
        gamma=gamma,
        target_update_interval=target_update_interval,
        encoder_factory=SASRecEncoderFactory(n_items=dataset.n_items, hidden_size=hidden_size),
    )
    model = DiscreteFQE(algo=_Greedy(scorer), config=config, device=device)
    model.fit(
        dataset.to_d3rlpy(split),
        n_steps=n_steps,
        n_steps_per_epoch=n_steps,
        logger_adapter=NoopAdapterFactory(),
        show_progress=progress,
    )
    return FittedQ(model, scorer)


def fqe(
    policy: Any,
    dataset: Any,
    *,
    split: str = "val",
    interval: Bootstrap = DEFAULT_BOOTSTRAP,
    **options: Any,
) -> Estimate:
    """The FQE estimate of ``policy``'s value on ``split``: ``mean_i Q̂(s_0^i, π(s_0^i))`` over the split's sessions,
    with a bootstrap interval over sessions (module doc). ``options``: those of :func:`fit_fqe`."""
    fitted = fit_fqe(policy, dataset, split=split, **options)
    data = dataset.split(split)
    first_states = data.observations[data.episode_starts[:-1]]
    return dm(fitted.values(first_states)[:, None], interval=interval)
