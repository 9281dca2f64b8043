"""recgym: offline reinforcement learning for session-based recommendation."""

import recgym.envs  # registers the RecReplay-* and RecOnline-Synthetic Gymnasium ids
from recgym.data.schema import EventType
from recgym.data.transitions import Split
from recgym.datasets import SessionDataset, load_dataset
from recgym.errors import DatasetNotFoundError, InvalidOptionError, RecgymDataError, RecgymError
from recgym.evaluation import evaluate, register_scorer
from recgym.online import evaluate_online
from recgym.saving import ModelFileError, load_model, save_model

import agents  # noqa: E402,F401  registers the agents and the SASRec encoder with d3rlpy (load_learnable, load_model)

__version__ = "0.1.0"

__all__ = [
    "DatasetNotFoundError",
    "EventType",
    "InvalidOptionError",
    "ModelFileError",
    "RecgymDataError",
    "RecgymError",
    "SessionDataset",
    "Split",
    "__version__",
    "evaluate",
    "evaluate_online",
    "load_dataset",
    "load_model",
    "register_scorer",
    "save_model",
]
