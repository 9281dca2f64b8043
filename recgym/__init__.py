"""recgym: offline reinforcement learning for session-based recommendation."""

from recgym.data.schema import EventType
from recgym.errors import DatasetNotFoundError, RecgymDataError, RecgymError

__version__ = "0.1.0"

__all__ = ["DatasetNotFoundError", "EventType", "RecgymDataError", "RecgymError", "__version__"]
