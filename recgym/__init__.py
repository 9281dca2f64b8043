"""recgym: offline reinforcement learning for session-based recommendation."""

from recgym.data.schema import EventType
from recgym.data.transitions import Split
from recgym.datasets import SessionDataset, load_dataset
from recgym.errors import DatasetNotFoundError, RecgymDataError, RecgymError

__version__ = "0.1.0"

__all__ = [
    "DatasetNotFoundError",
    "EventType",
    "RecgymDataError",
    "RecgymError",
    "SessionDataset",
    "Split",
    "__version__",
    "load_dataset",
]
