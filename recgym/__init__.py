"""recgym: offline reinforcement learning for session-based recommendation."""

import recgym.envs  # registers the RecReplay-* Gymnasium ids
from recgym.data.schema import EventType
from recgym.data.transitions import Split
from recgym.datasets import SessionDataset, load_dataset
from recgym.errors import DatasetNotFoundError, InvalidOptionError, RecgymDataError, RecgymError
from recgym.evaluation import evaluate

__version__ = "0.1.0"

__all__ = [
    "DatasetNotFoundError",
    "EventType",
    "InvalidOptionError",
    "RecgymDataError",
    "RecgymError",
    "SessionDataset",
    "Split",
    "__version__",
    "evaluate",
    "load_dataset",
]
