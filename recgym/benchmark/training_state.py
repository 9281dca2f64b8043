"""The training state of an unfinished run, saved at every evaluation, so that an interrupted run goes on from its
last evaluation and ends with the numbers of an uninterrupted one, bit for bit.

The state is everything the next training step depends on: every module and optimiser of the algorithm's Impl
(d3rlpy's ``Modules``, target networks included), its gradient step, the global generators that ``d3rlpy.seed``
seeds (Python's, NumPy's, torch's, CUDA's on a GPU) and the Impl's own generators where it has any
(``get_rng_state`` / ``set_rng_state``, as recgym's agents have), with the run's progress: the val curve so far, the
kept checkpoints and the time spent. It is a ``torch.save`` file of tensors, numbers and strings, read with
``weights_only=True``. An algorithm of one's own that keeps other state from step to step should carry it in its
Impl's ``get_rng_state`` / ``set_rng_state``, or its resumed runs differ from uninterrupted ones.

Bit for bit holds on the same floats: the same device, torch thread count and CPU instruction set (torch's vector
kernels sum in another order with AVX-512 than with AVX2, :func:`float_setting`). A state saved under
another setting is not resumed from: the run starts over, so that every run is one setting's numbers throughout.
"""

from __future__ import annotations

import os
import pickle
import random
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from d3rlpy.base import LearnableBase

__all__ = [
    "TRAINING_STATE_FILE",
    "float_setting",
    "read_training_state",
    "restore_training_state",
    "save_training_state",
]

TRAINING_STATE_FILE = "training_state.pt"
FORMAT = "recgym-training-state"
VERSION = 1


def save_training_state(path: Path, algo: LearnableBase, digest: str, device: str, progress: dict[str, Any]) -> None:
    """Write ``algo``'s training state on ``device`` and the run's ``progress`` (JSON-like) to ``path``, atomically."""
    impl = algo.impl
    assert impl is not None
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "config_hash": digest,
        "float_setting": float_setting(device),
        "grad_step": algo.grad_step,
        "modules": {name: module.state_dict() for name, module in _stateful_modules(algo).items()},
        "rng": _global_rng_state(impl.device),
        "impl_rng": impl.get_rng_state() if hasattr(impl, "get_rng_state") else None,
        "progress": progress,
    }
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)


def float_setting(device: str) -> dict[str, Any]:
    """What decides the floats of a run besides its config and seed: device, torch threads, CPU instruction set."""
    return {
        "device": str(device),
        "torch_threads": torch.get_num_threads(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
    }


def read_training_state(path: Path, digest: str, device: str) -> dict[str, Any] | None:
    """The state saved in ``path`` for config ``digest``; None when there is none to resume from.

    A state of another config or :func:`float_setting` (for ``device``), format or version, or one that cannot be
    read, is not resumed from (with a warning): the run starts over.
    """
    if not path.is_file():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, OSError) as error:
        warnings.warn(f"{path} cannot be read ({error}); the run starts over", stacklevel=2)
        return None
    if not isinstance(state, dict) or (state.get("format"), state.get("version")) != (FORMAT, VERSION):
        warnings.warn(f"{path} is not a recgym training state of version {VERSION}; the run starts over", stacklevel=2)
        return None
    if state.get("config_hash") != digest:
        warnings.warn(
            f"{path} belongs to config {state.get('config_hash')}, not {digest}; the run starts over", stacklevel=2
        )
        return None
    if state.get("float_setting") != float_setting(device):
        warnings.warn(
            f"{path} was saved with {state.get('float_setting')}, whose floats differ from this process's "
            f"{float_setting(device)}; the run starts over",
            stacklevel=2,
        )
        return None
    return state


def restore_training_state(algo: LearnableBase, state: dict[str, Any]) -> dict[str, Any]:
    """Load ``state`` into the built ``algo`` (modules, optimisers, gradient step, generators); returns its progress."""
    impl = algo.impl
    assert impl is not None, "build the algorithm first (build_with_dataset)"
    modules = _stateful_modules(algo)
    if set(modules) != set(state["modules"]):
        raise ValueError(f"the saved modules {sorted(state['modules'])} are not the algorithm's {sorted(modules)}")
    for name, module in modules.items():
        module.load_state_dict(state["modules"][name])
    algo.set_grad_step(state["grad_step"])
    _set_global_rng_state(state["rng"])
    if state["impl_rng"] is not None:
        impl.set_rng_state(state["impl_rng"])
    return state["progress"]


def _stateful_modules(algo: LearnableBase) -> dict[str, Any]:
    """The Impl's torch modules and optimiser wrappers by field name (what d3rlpy's checkpointer saves)."""
    assert algo.impl is not None
    return algo.impl.modules.create_checkpointer(algo.impl.device).modules


def _global_rng_state(device: str) -> dict[str, Any]:
    version, python_state, gauss_next = random.getstate()
    _, keys, position, has_gauss, cached_gaussian = np.random.get_state(legacy=True)
    return {
        "python": {"version": version, "state": list(python_state), "gauss_next": gauss_next},
        "numpy": {
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "position": int(position),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached_gaussian),
        },
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if "cuda" in str(device) else None,
    }


def _set_global_rng_state(state: dict[str, Any]) -> None:
    python = state["python"]
    random.setstate((python["version"], tuple(python["state"]), python["gauss_next"]))
    numpy = state["numpy"]
    keys = numpy["keys"].numpy().astype(np.uint32)
    np.random.set_state(("MT19937", keys, numpy["position"], numpy["has_gauss"], numpy["cached_gaussian"]))
    torch.set_rng_state(state["torch"])
    if state["cuda"] is not None:
        torch.cuda.set_rng_state_all(state["cuda"])
