"""Live worlds: their best policies (:mod:`recgym.worlds.planning`), the logs a recommender writes in them
(:mod:`recgym.worlds.logged`), and worlds fitted to any log (:mod:`recgym.worlds.fitted`)."""

from recgym.worlds.fitted import CLICK_MODELS, FittedWorld, calibrate, fit_world, load_world, write_calibration
from recgym.worlds.logged import LOGGING_POLICIES, EpsilonGreedyLogger, SoftmaxLogger, log_sessions, logging_policy
from recgym.worlds.planning import MyopicOraclePolicy, PlannerPolicy, headroom, make_world, play

__all__ = [
    "CLICK_MODELS",
    "LOGGING_POLICIES",
    "EpsilonGreedyLogger",
    "SoftmaxLogger",
    "FittedWorld",
    "MyopicOraclePolicy",
    "PlannerPolicy",
    "calibrate",
    "fit_world",
    "headroom",
    "load_world",
    "log_sessions",
    "logging_policy",
    "make_world",
    "play",
    "write_calibration",
]
