"""Policy scoring: one rule per algorithm family turns a policy into full-catalogue item scores.

A ranking metric ranks items by a policy's scores, so the scores must be the policy's own: their argmax is the item
the algorithm would recommend, ``algo.predict(obs)``. The rules, tried in this order:

1. an object with ``scores(obs)`` (the recgym agents; any algorithm of the user's own may add it);
2. a rule registered for the algorithm's class or its config's class with :func:`register_scorer`; built in:

   ========================================  ==========================================================
   DQN, DoubleDQN, NFQ, DiscreteCQL          expected Q of every item (``predict`` is the argmax of Q)
   DiscreteBCQ                               Q minus its row minimum (+1e-5) on the items the imitator
                                             allows (log π(a|s) − max log π > log ``action_flexibility``),
                                             as in ``predict``; the others below them, ordered by Q
   DiscreteSAC                               the actor's log-probabilities
   DiscreteBC                                the imitator's logits
   ========================================  ==========================================================

3. a plain callable ``obs -> scores``.

A d3rlpy algorithm that matches none of them is refused with an error saying what to provide: a rule of a parent
class is never applied to a subclass, whose ``predict`` may differ. Ties go to the lower item id everywhere
(:func:`recgym.evaluation.metrics.top_k`), as torch's argmax does, so the top-1 item equals ``predict`` exactly.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from d3rlpy import algos
from d3rlpy.base import LearnableBase
from d3rlpy.constants import ActionSpace

from recgym.checks import check_number, check_states
from recgym.contract import DatasetContract, contract_of
from recgym.ranking import top_k

__all__ = [
    "PopularityPolicy",
    "RandomPolicy",
    "Scorer",
    "as_scorer",
    "check_compatible",
    "recommend",
    "register_scorer",
    "registered_scorer",
]

Scorer = Callable[[np.ndarray], torch.Tensor]
"""``observations (B, L) int64 ndarray -> scores (B, n_items) tensor``."""

ScoreRule = Callable[[Any, torch.Tensor], torch.Tensor]
"""``(impl, observations as d3rlpy feeds them: float32 on the impl's device, scaled) -> (B, n_items) scores``."""

_RULES: dict[type, ScoreRule] = {}


class PopularityPolicy:
    """Scores every item by its share of TRAIN events, whatever the observation (the popularity baseline)."""

    def __init__(self, dataset: Any, device: str | torch.device = "cpu") -> None:
        self.popularity = torch.as_tensor(np.asarray(dataset.item_popularity, dtype=np.float32), device=device)

    def scores(self, observations: np.ndarray | torch.Tensor) -> torch.Tensor:
        """The popularity vector repeated for each row: (B, n_items)."""
        return self.popularity.expand(len(observations), -1)


class RandomPolicy:
    """Uniform random scores, drawn from a seeded torch generator (reproducible for a given seed and call sequence)."""

    def __init__(self, n_items: int, seed: int = 0) -> None:
        check_number("n_items", n_items, at_least=1, integer=True)
        self.n_items = n_items
        self.generator = torch.Generator().manual_seed(seed)

    def scores(self, observations: np.ndarray | torch.Tensor) -> torch.Tensor:
        """Fresh U(0, 1) scores: (B, n_items)."""
        return torch.rand(len(observations), self.n_items, generator=self.generator)


def register_scorer(cls: type, rule: ScoreRule) -> None:
    """Score algorithms of ``cls`` (a d3rlpy algorithm class or its config class; exact class, not subclasses).

    ``rule(impl, x)`` gets the built impl and the observations as d3rlpy feeds them to ``predict`` (float32 on the
    impl's device, after the config's observation scaler) and returns (B, n_items) scores whose argmax is the
    algorithm's greedy action. Called without gradient, the impl's modules in eval mode.
    """
    if not isinstance(cls, type):
        raise TypeError(f"register_scorer needs a class, got {cls!r}")
    _RULES[cls] = rule


def registered_scorer(algo: Any) -> ScoreRule | None:
    """The rule registered for ``type(algo)`` or for the class of its config, or None."""
    config = getattr(algo, "config", None)
    return _RULES.get(type(algo)) or (_RULES.get(type(config)) if config is not None else None)


def as_scorer(policy: Any) -> Scorer:
    """Wrap a policy as a :data:`Scorer` by the rules of the module docstring; a clear error when none applies."""
    if callable(getattr(policy, "scores", None)):
        return _to_tensor(policy.scores)
    rule = registered_scorer(policy)
    if rule is not None:
        return _d3rlpy_scorer(policy, rule)
    if isinstance(policy, LearnableBase):
        raise TypeError(
            f"recgym has no scoring rule for {type(policy).__name__}: give it a method scores(obs) -> (B, n_items) "
            "whose argmax is its predict(obs), or register one with "
            f"recgym.register_scorer({type(policy).__name__}, rule)"
        )
    if callable(policy):
        return _to_tensor(policy)
    raise TypeError(
        f"cannot score with {type(policy).__name__}: expected an object with scores(obs), "
        "a callable obs -> scores, or a d3rlpy discrete algorithm"
    )


def recommend(policy: Any, observations: np.ndarray, k: int) -> np.ndarray:
    """(B, k) item ids, best first, of any policy :func:`as_scorer` accepts (ties: the lower item id)."""
    with torch.no_grad():
        return top_k(as_scorer(policy)(np.asarray(observations, dtype=np.int64)), k).cpu().numpy()


def check_compatible(policy: Any, dataset: Any, *, allow_transfer: bool = False, check_split: bool = True) -> None:
    """Refuse a model trained for another dataset (one clear line): by its :class:`~recgym.contract.DatasetContract`
    where it carries one (``allow_transfer`` accepts another item index of the same size; ``check_split=False``
    leaves out its train split), else for a built d3rlpy algorithm by its catalogue and state size."""
    contract = contract_of(policy)
    if contract is None:
        impl = getattr(policy, "impl", None) if isinstance(policy, LearnableBase) else None
        if impl is None:
            return
        contract = DatasetContract(impl.action_size, impl.action_size, int(impl.observation_shape[0]), "")
        allow_transfer = True  # nothing to compare the item index with
    contract.check(dataset, allow_transfer=allow_transfer, check_split=check_split)


def _to_tensor(score_fn: Callable[[np.ndarray], Any]) -> Scorer:
    def scorer(observations: np.ndarray) -> torch.Tensor:
        scores = score_fn(observations)
        return scores if isinstance(scores, torch.Tensor) else torch.as_tensor(np.asarray(scores))

    return scorer


def _d3rlpy_scorer(algo: Any, rule: ScoreRule) -> Scorer:
    if algo.impl is None:
        raise ValueError(f"{type(algo).__name__} is not built yet: call fit() or build_with_dataset() first")
    if algo.get_action_type() != ActionSpace.DISCRETE:
        raise TypeError(f"{type(algo).__name__} has continuous actions; item recommendation needs a discrete algorithm")
    impl, scaler = algo.impl, algo.config.observation_scaler

    def scorer(observations: np.ndarray) -> torch.Tensor:
        check_states(np.asarray(observations), int(impl.observation_shape[0]), int(impl.action_size))
        x = torch.as_tensor(observations, dtype=torch.float32, device=impl.device)  # d3rlpy feeds float32
        with torch.no_grad():
            if scaler is not None:
                x = scaler.transform(x)
            impl.modules.set_eval()
            return rule(impl, x)

    return scorer


def _expected_q(impl: Any, x: torch.Tensor) -> torch.Tensor:
    return impl._q_func_forwarder.compute_expected_q(x)


def _bcq_thresholded_q(impl: Any, x: torch.Tensor) -> torch.Tensor:
    """DiscreteBCQ's ``predict`` quantity on the allowed items, every other item below them in Q order."""
    log_probs = F.log_softmax(impl.modules.imitator(x).logits, dim=1)
    allowed = log_probs - log_probs.max(dim=1, keepdim=True).values > math.log(impl._action_flexibility)
    value = impl._q_func_forwarder.compute_expected_q(x)
    normalized = value - value.min(dim=1, keepdim=True).values + 1e-5  # exactly as DiscreteBCQImpl: all > 0
    below = normalized - normalized.max(dim=1, keepdim=True).values - 1.0  # all <= -1
    return torch.where(allowed, normalized, below)


def _actor_log_probs(impl: Any, x: torch.Tensor) -> torch.Tensor:
    return impl.modules.policy(x).logits.log_softmax(dim=1)


def _imitator_logits(impl: Any, x: torch.Tensor) -> torch.Tensor:
    return impl.modules.imitator(x).logits


register_scorer(algos.DQN, _expected_q)
register_scorer(algos.DoubleDQN, _expected_q)
register_scorer(algos.NFQ, _expected_q)
register_scorer(algos.DiscreteCQL, _expected_q)
register_scorer(algos.DiscreteBCQ, _bcq_thresholded_q)
register_scorer(algos.DiscreteSAC, _actor_log_probs)
register_scorer(algos.DiscreteBC, _imitator_logits)
