"""Model files that never unpickle: a d3rlpy algorithm as its JSON config plus its weights.

``d3rlpy.load_learnable`` reads ``.d3`` files, which are pickles: loading one runs whatever code it holds, so only
load ``.d3`` files you made yourself. :func:`save_model` writes a ``torch.save`` file holding only strings,
numbers and tensors (the config as d3rlpy's JSON, the observation shape, the action size, each module's
``state_dict``, the dataset contract of :mod:`recgym.contract`); :func:`load_model` reads it with
``torch.load(weights_only=True)``, which refuses any other object, then rebuilds the algorithm from the config
(any registered d3rlpy algorithm: ``import recgym`` registers the agents and the SASRec encoder) and loads the
weights. The file holds the sha256 of its config, contract and every tensor's bytes; a load that finds other bytes
(a flipped bit, an edited weight) refuses the file. Files of format version 1 (no checksum) still load.
The benchmark's checkpoints are such files.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path
from typing import Any

import torch
from d3rlpy.base import LearnableBase, LearnableConfigWithShape

from recgym.contract import DatasetContract, bind_contract, contract_of
from recgym.errors import RecgymError

__all__ = ["ModelFileError", "load_model", "model_bytes", "model_from_bytes", "save_model"]

FORMAT = "recgym-model"
VERSION = 2
READABLE_VERSIONS = (1, 2)  # 1: before the checksum


class ModelFileError(RecgymError, ValueError):
    """A file that is not a readable recgym model file (damaged, tampered with, or of another kind)."""


def save_model(algo: LearnableBase, path: str | os.PathLike[str], *, dataset: Any = None) -> Path:
    """Write a built algorithm's config, weights (no optimiser state) and dataset contract to ``path``, atomically.

    The contract (:mod:`recgym.contract`) is ``dataset``'s when given, else the one the algorithm carries (a recgym
    agent trained on ``dataset.to_d3rlpy(...)`` carries it); a model saved without one is checked by catalogue and
    state size only.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(model_bytes(algo, dataset=dataset))
    os.replace(tmp, path)
    return path


def model_bytes(algo: LearnableBase, *, dataset: Any = None) -> bytes:
    """The bytes :func:`save_model` writes (to keep a model inside another file, e.g. a fitted world)."""
    if algo.impl is None:
        raise ValueError(f"{type(algo).__name__} is not built yet: call fit() or build_with_dataset() first")
    contract = DatasetContract.of(dataset) if dataset is not None else contract_of(algo)
    impl = algo.impl
    config = LearnableConfigWithShape(
        observation_shape=impl.observation_shape, action_size=impl.action_size, config=algo.config
    )
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "config": config.serialize(),
        "modules": {name: module.state_dict() for name, module in impl.modules.get_torch_modules().items()},
        "contract": contract.to_dict() if contract is not None else None,
    }
    payload["checksum"] = _checksum(payload)
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return buffer.getvalue()


def load_model(path: str | os.PathLike[str], device: str = "cpu:0") -> LearnableBase:
    """The algorithm saved by :func:`save_model`, built on ``device``; :class:`ModelFileError` for anything else."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"model file {path} not found")
    return _rebuild(path, str(path), device)


def model_from_bytes(data: bytes, where: str, device: str = "cpu:0") -> LearnableBase:
    """The algorithm of :func:`model_bytes`'s output, checked as :func:`load_model` checks a file (``where`` names
    the bytes in errors)."""
    return _rebuild(io.BytesIO(data), where, device)


def _rebuild(source: Path | io.BytesIO, where: str, device: str) -> LearnableBase:
    try:
        payload = torch.load(source, map_location="cpu", weights_only=True)
    except Exception as error:  # the weights-only unpickler fails in any way on foreign bytes (IndexError, ...)
        raise ModelFileError(
            f"{where} is not a recgym model file, or is damaged: it does not read as a weights-only torch archive"
        ) from error
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ModelFileError(f"{where} is not a recgym model file (d3rlpy .d3 files load with d3rlpy.load_learnable)")
    if payload.get("version") not in READABLE_VERSIONS:
        raise ModelFileError(
            f"{where} has model format version {payload.get('version')}, this recgym reads {READABLE_VERSIONS}"
        )
    if payload["version"] >= 2 and payload.get("checksum") != _safe_checksum(payload):
        raise ModelFileError(f"{where} is damaged: its content does not match its checksum")
    try:
        config = LearnableConfigWithShape.deserialize(payload["config"])
    except KeyError as error:
        raise ModelFileError(
            f"{where}: unknown algorithm or encoder type {error}: import the module that registers it first"
        ) from error
    except Exception as error:
        raise ModelFileError(f"{where}: damaged config: {_first_line(error)}") from error
    try:
        algo = config.create(device)
        modules = algo.impl.modules.get_torch_modules()
        if set(modules) != set(payload["modules"]):
            raise ValueError(f"modules {sorted(payload['modules'])} do not match the config's {sorted(modules)}")
        for name, module in modules.items():
            module.load_state_dict(payload["modules"][name])
        if payload.get("contract") is not None:
            bind_contract(algo, DatasetContract.from_dict(payload["contract"]))
    except Exception as error:  # damaged weights or contract: one clear line, whatever part failed
        raise ModelFileError(f"{where}: cannot rebuild the model: {_first_line(error)}") from error
    return algo


def _safe_checksum(payload: dict[str, Any]) -> str | None:
    """The checksum of a loaded payload, None when its parts are not what :func:`save_model` writes."""
    try:
        return _checksum(payload)
    except Exception:  # a damaged payload of any shape: it cannot match
        return None


def _checksum(payload: dict[str, Any]) -> str:
    """sha256 of the config, the contract and every tensor (name, dtype, shape, bytes) of a model file's payload."""
    digest = hashlib.sha256(json.dumps([payload["config"], payload.get("contract")], sort_keys=True).encode())
    modules = payload["modules"]
    for module in sorted(modules):
        for name, tensor in sorted(modules[module].items()):
            data = tensor.detach().cpu().contiguous()
            digest.update(f"{module}/{name}:{data.dtype}:{tuple(data.shape)}".encode())
            digest.update(data.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
