"""Gymnasium ids of the replay and online environments; registered when ``recgym`` is imported.

Plain ids only (Gymnasium 1.0 cannot register a name both with and without a version), so
``gym.make("RecReplay-RC15")`` works as written. ``gym.make`` keyword arguments override the defaults below and
reach :class:`~recgym.envs.replay.RecReplayEnv` (and, through it, :func:`recgym.load_dataset`).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from recgym.datasets import load_dataset
from recgym.envs.replay import RecReplayEnv

__all__ = ["ENV_IDS", "REPLAY_ENTRY_POINT", "make_replay_env", "make_synthetic_env", "register_envs"]

ENTRY_POINT = "recgym.envs.replay:RecReplayEnv"
SYNTHETIC_SESSIONS = 20_000

# id -> (entry point, default kwargs); a ``dataset=`` kwarg given to gym.make (a SessionDataset) replaces the name
ENV_IDS: dict[str, tuple[str, dict[str, Any]]] = {
    "RecReplay-RC15": (ENTRY_POINT, {"dataset": "rc15"}),
    "RecReplay-RetailRocket": (ENTRY_POINT, {"dataset": "retailrocket"}),
    "RecReplay-Synthetic": ("recgym.envs.registration:make_synthetic_env", {"dataset": "synthetic"}),
    "RecOnline-Synthetic": ("recgym.envs.simulator:RecOnlineEnv", {}),  # a live user of the synthetic world
}


def make_synthetic_env(dataset: Any = "synthetic", **kwargs: Any) -> RecReplayEnv:
    """RecReplay-Synthetic: needs no files; a generated log of 20,000 sessions (2,000 val sessions) unless
    ``n_sessions`` is given, built in about a second and cached. A SessionDataset given as ``dataset`` is used as is."""
    if isinstance(dataset, str):
        kwargs = {"n_sessions": SYNTHETIC_SESSIONS, **kwargs}
    return RecReplayEnv(dataset, **kwargs)


REPLAY_ENTRY_POINT = "recgym.envs.registration:make_replay_env"
_ENV_OPTIONS = ("split", "slate_size", "session_order", "max_sessions", "render_mode")


def make_replay_env(dataset: Any = "synthetic", **kwargs: Any) -> RecReplayEnv:
    """A RecReplayEnv of any ``load_dataset`` input, lists of files and {event type: files} included; the entry point
    of the env spec a Minari export stores (``recgym.to_minari``), so ``recover_environment()`` rebuilds it."""
    if isinstance(dataset, (list, tuple, dict)):
        env_options = {name: kwargs.pop(name) for name in _ENV_OPTIONS if name in kwargs}
        return RecReplayEnv(load_dataset(dataset, **kwargs), **env_options)
    return RecReplayEnv(dataset, **kwargs)


def register_envs() -> None:
    """Register every id of :data:`ENV_IDS` (idempotent: ids already registered are left alone)."""
    for env_id, (entry_point, kwargs) in ENV_IDS.items():
        if env_id not in gym.registry:
            gym.register(id=env_id, entry_point=entry_point, kwargs=kwargs)
