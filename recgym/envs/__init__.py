"""Gymnasium environments: :class:`RecReplayEnv` (logged sessions), :class:`RecOnlineEnv` (a simulated user), their ids."""

from recgym.envs.registration import ENV_IDS, register_envs
from recgym.envs.replay import RecReplayEnv
from recgym.envs.simulator import RecOnlineEnv

register_envs()

__all__ = ["ENV_IDS", "RecOnlineEnv", "RecReplayEnv", "register_envs"]
