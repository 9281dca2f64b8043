"""Evaluation layer: how good a policy is, offline on a logged split or online against a live simulated user.

- :mod:`~recgym.evaluation.scoring`: how each policy family scores the catalogue (and :func:`register_scorer`);
- :mod:`~recgym.evaluation.metrics`: HR/NDCG@k per event type and Reward@k, accumulated exactly;
- :mod:`~recgym.evaluation.offline`: :func:`evaluate` on a split, and d3rlpy evaluators for ``fit``;
- :mod:`~recgym.evaluation.online`: :func:`evaluate_online` in the synthetic world, and its oracle;
- :mod:`~recgym.evaluation.overestimation`: how far a Q head's estimates are from the discounted returns it predicts;
- :mod:`~recgym.evaluation.fqe`: fitted Q evaluation of any scorable policy (d3rlpy's ``DiscreteFQE``).
"""

from recgym.evaluation.fqe import FittedQ, fit_fqe, fqe
from recgym.evaluation.offline import MetricEvaluator, evaluate, metric_evaluators
from recgym.evaluation.online import OraclePolicy, evaluate_online
from recgym.evaluation.overestimation import discounted_returns, has_q_function, q_bias
from recgym.evaluation.scoring import PopularityPolicy, RandomPolicy, as_scorer, recommend, register_scorer

__all__ = [
    "FittedQ",
    "MetricEvaluator",
    "OraclePolicy",
    "PopularityPolicy",
    "RandomPolicy",
    "as_scorer",
    "discounted_returns",
    "evaluate",
    "evaluate_online",
    "fit_fqe",
    "fqe",
    "has_q_function",
    "metric_evaluators",
    "q_bias",
    "recommend",
    "register_scorer",
]
