"""The action of a recommendation env: one item id, or a slate of ``slate_size`` item ids."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["check_slate"]


def check_slate(action: Any, slate_size: int, n_items: int, *, pad_allowed: bool = False) -> np.ndarray:
    """``action`` as a 1-d int64 slate; ValueError naming the offending value otherwise.

    Ids are in [0, n_items); with ``pad_allowed`` the pad id ``n_items`` may also fill a position (shows nothing).
    """
    if isinstance(action, (bool, np.bool_)):
        raise ValueError(f"action must be an integer item id, got {action!r}")
    array = np.asarray(action)
    if array.dtype.kind not in "iu":
        raise ValueError(f"action must hold integer item ids, got {action!r} (dtype {array.dtype})")
    expected = () if slate_size == 1 else (slate_size,)
    if array.shape != expected:
        what = "one item id" if slate_size == 1 else f"a slate of {slate_size} item ids"
        raise ValueError(f"action must have shape {expected} ({what}), got {action!r} with shape {array.shape}")
    bad = array[(array < 0) | (array > n_items if pad_allowed else array >= n_items)]
    if bad.size:
        pad = f" (or the pad id {n_items} for an empty position)" if pad_allowed else ""
        raise ValueError(f"action item ids must be in [0, {n_items}){pad}, got {int(bad.flat[0])} in {action!r}")
    return array.reshape(-1).astype(np.int64)
