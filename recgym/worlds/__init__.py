"""Live worlds with consequences: their best policies (:mod:`recgym.worlds.planning`) and the logs a recommender
writes in them (:mod:`recgym.worlds.logged`)."""

from recgym.worlds.logged import LOGGING_POLICIES, EpsilonGreedyLogger, log_sessions, logging_policy
from recgym.worlds.planning import MyopicOraclePolicy, PlannerPolicy, headroom, make_world, play

__all__ = [
    "LOGGING_POLICIES",
    "EpsilonGreedyLogger",
    "MyopicOraclePolicy",
    "PlannerPolicy",
    "headroom",
    "log_sessions",
    "logging_policy",
    "make_world",
    "play",
]
