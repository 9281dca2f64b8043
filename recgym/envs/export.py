"""A dataset split as a local Minari dataset, with the env spec that rebuilds its replay environment."""

from __future__ import annotations

import shutil
from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.envs.registration import EnvSpec

from recgym.data.dataset import SessionDataset
from recgym.envs.registration import REPLAY_ENTRY_POINT

__all__ = ["replay_env_spec", "to_minari"]


def to_minari(
    dataset: SessionDataset, dataset_id: str, split: str = "train", *, data_format: str = "hdf5", **metadata: Any
) -> Any:
    """Export one split as a local Minari dataset (needs the optional extra: ``pip install 'recgym[minari]'``).

    Observations are ``Box(0, pad_id, (state_size,), int32)`` with the final next state appended per episode,
    actions ``Discrete(n_items)``. The stored env spec rebuilds the same replay environment
    (``minari.load_dataset(id).recover_environment()``: the dataset's arguments, the split, state size, rewards
    and ``max_episode_steps`` = the longest session); a dataset built from an in-memory table has none.
    ``data_format`` "hdf5" (default: the faster, see ``benchmarks/minari_export.py``) or "arrow"; ``metadata``
    goes to ``minari.create_dataset_from_buffers`` (author, description...). An export that fails (a bad option, an
    interruption) leaves no dataset folder behind.
    """
    try:
        import minari
        from minari.data_collector import EpisodeBuffer
        from minari.storage import get_dataset_path
    except ImportError as error:
        raise ImportError(
            f"to_minari needs the optional 'minari' package ({error}); install it with: pip install 'recgym[minari]'"
        ) from error

    data = dataset.split(split)
    buffers = []
    for episode, (start, stop) in enumerate(zip(data.episode_starts[:-1], data.episode_starts[1:])):
        observations = np.concatenate([data.observations[start:stop], data.next_observations[stop - 1 : stop]])
        buffers.append(
            EpisodeBuffer(
                id=episode,
                observations=observations,
                actions=data.actions[start:stop],
                rewards=data.rewards[start:stop].astype(np.float64),
                terminations=data.terminals[start:stop],
                truncations=np.zeros(stop - start, dtype=bool),
            )
        )
    folder = get_dataset_path(dataset_id)
    existed = folder.exists()  # then Minari refuses it before writing anything
    try:
        return minari.create_dataset_from_buffers(
            dataset_id,
            buffers,
            env=replay_env_spec(dataset, split),
            observation_space=spaces.Box(0, dataset.pad_id, (dataset.state_size,), np.int32),
            action_space=spaces.Discrete(dataset.n_items),
            data_format=data_format,
            **{"description": f"recgym {dataset.name} dataset, {split} split", **metadata},
        )
    except BaseException:  # nothing half-written: a failed export leaves no folder to block the corrected one
        if not existed:
            shutil.rmtree(folder, ignore_errors=True)
        raise


def replay_env_spec(dataset: SessionDataset, split: str = "train") -> EnvSpec | None:
    """The Gymnasium EnvSpec of the replay environment of ``split`` (None for a dataset of an in-memory table)."""
    if dataset.load_arguments is None:
        return None
    data = dataset.split(split)
    longest = int(np.diff(data.episode_starts).max()) if data.n_sessions else 1
    kwargs = {
        **dataset.load_arguments,
        "split": split,
        "state_size": dataset.state_size,
        "reward_click": dataset.reward_click,
        "reward_purchase": dataset.reward_purchase,
    }
    return EnvSpec(
        id=f"RecReplay-{dataset.name}-{split}-v0",
        entry_point=REPLAY_ENTRY_POINT,
        max_episode_steps=longest,
        kwargs=kwargs,
    )
