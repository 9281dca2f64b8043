"""Gymnasium ids of the replay environments; registered when ``recgym`` is imported.

Plain ids only (Gymnasium 1.0 cannot register a name both with and without a version), so
``gym.make("RecReplay-RC15")`` works as written. ``gym.make`` keyword arguments override the defaults below and
reach :class:`~recgym.envs.replay.RecReplayEnv` (and, through it, :func:`recgym.load_dataset`).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym

__all__ = ["ENV_IDS", "register_envs"]

ENTRY_POINT = "recgym.envs.replay:RecReplayEnv"

# RecReplay-Synthetic needs no files: 20,000 generated sessions (2,000 val sessions) build in seconds and are cached.
ENV_IDS: dict[str, dict[str, Any]] = {
    "RecReplay-RC15": {"dataset": "rc15"},
    "RecReplay-RetailRocket": {"dataset": "retailrocket"},
    "RecReplay-Synthetic": {"dataset": "synthetic", "n_sessions": 20_000},
}


def register_envs() -> None:
    """Register every id of :data:`ENV_IDS` (idempotent: ids already registered are left alone)."""
    for env_id, kwargs in ENV_IDS.items():
        if env_id not in gym.registry:
            gym.register(id=env_id, entry_point=ENTRY_POINT, kwargs=kwargs)
