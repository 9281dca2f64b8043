"""The one check of a number option: type, finiteness and bounds, one line of the caller's layer's error type.

Every number an entry point takes goes through :func:`check_number`, so every such error reads the same way:
``"slate_size must be a finite integer >= 1, got 0"``.
"""

from __future__ import annotations

import math
from numbers import Integral, Real
from typing import Any

from recgym.errors import InvalidOptionError

__all__ = ["check_number"]


def check_number(
    name: str,
    value: Any,
    *,
    at_least: float | None = None,
    above: float | None = None,
    at_most: float | None = None,
    below: float | None = None,
    integer: bool = False,
    error: type[Exception] = InvalidOptionError,
) -> None:
    """Refuse ``value`` unless it is a finite number (an integer when ``integer``; never a bool) within the bounds.

    ``error``: the exception raised (default :class:`~recgym.errors.InvalidOptionError`; a layer with its own error
    type, such as the benchmark's, passes it).
    """
    kind = Integral if integer else Real
    ok = isinstance(value, kind) and not isinstance(value, bool) and math.isfinite(value)
    bounds = [(at_least, ">=", float.__ge__), (above, ">", float.__gt__), (at_most, "<=", float.__le__),
              (below, "<", float.__lt__)]  # fmt: skip
    if ok:
        ok = all(bound is None or test(float(value), float(bound)) for bound, _, test in bounds)
    if not ok:
        limits = " and ".join(f"{sign} {bound:g}" for bound, sign, _ in bounds if bound is not None)
        what = f"a finite {'integer' if integer else 'number'}" + (f" {limits}" if limits else "")
        raise error(f"{name} must be {what}, got {value!r}")


def check_states(states: Any, state_size: int, n_items: int, *, ids: bool = True) -> None:
    """Refuse (one line) a batch of states (a numpy array or a torch tensor) of another width than a model's
    ``state_size`` or, when ``ids``, holding ids outside ``[0, n_items]`` (``n_items`` is the pad id): another
    dataset's states."""
    if states.ndim != 2 or states.shape[1] != state_size:
        raise ValueError(
            f"states of shape {tuple(states.shape)}, but this model reads (batch, {state_size}): was it trained on "
            "another dataset?"
        )
    if ids and states.shape[0]:
        low, high = int(states.min()), int(states.max())
        if low < 0 or high > n_items:
            raise ValueError(
                f"states hold item ids in [{low}, {high}], but this model knows items 0..{n_items - 1} and the pad "
                f"id {n_items}: was it trained on another dataset?"
            )
