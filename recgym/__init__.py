"""recgym: offline reinforcement learning for session-based recommendation."""

from recgym.logs import import_gym_quietly

import_gym_quietly()  # before d3rlpy: no "Gym has been unmaintained" notice on import recgym

import agents  # noqa: F401  registers the agents and the SASRec encoder with d3rlpy (load_learnable, load_model)
import recgym.envs  # noqa: F401  registers the RecReplay-* and RecOnline-Synthetic Gymnasium ids
from recgym import ope, worlds
from recgym.data.dataset import SessionDataset
from recgym.data.options import Rewards
from recgym.data.protocol import ProtocolConfig
from recgym.data.schema import EventType
from recgym.data.transitions import Split
from recgym.datasets import load_dataset
from recgym.envs.export import to_minari
from recgym.errors import DatasetNotFoundError, InvalidOptionError, RecgymDataError, RecgymError
from recgym.evaluation import evaluate, evaluate_online, register_scorer
from recgym.saving import ModelFileError, load_model, save_model
from recgym.version import __version__

__all__ = [
    "DatasetNotFoundError",
    "EventType",
    "InvalidOptionError",
    "ModelFileError",
    "ProtocolConfig",
    "RecgymDataError",
    "RecgymError",
    "Rewards",
    "SessionDataset",
    "Split",
    "__version__",
    "evaluate",
    "evaluate_online",
    "load_dataset",
    "load_model",
    "ope",
    "register_scorer",
    "save_model",
    "to_minari",
    "worlds",
]
