"""Gymnasium environments replaying logged sessions: :class:`RecReplayEnv` and its registered ids."""

from recgym.envs.registration import ENV_IDS, register_envs
from recgym.envs.replay import RecReplayEnv

register_envs()

__all__ = ["ENV_IDS", "RecReplayEnv", "register_envs"]
