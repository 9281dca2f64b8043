"""Logged values of the training step, kept on their device and read once per window of steps.

Reading a value (``.item()``, ``.tolist()``) waits for the device to finish; doing it every step stalls a GPU.
:class:`StepLog` sums each logged value on its device and reads the window's means every ``every`` steps, with one
transfer. A non-finite value is caught on the device: :meth:`StepLog.add` returns the step's all-finite flag, which
the update hands to the fused Adam kernel as its ``found_inf`` so that a non-finite step changes no weight and no
optimiser state, and :meth:`StepLog.read` raises at the end of the window, naming the first non-finite step. No
non-finite step has then touched the weights: they hold only the window's finite updates.
"""

from __future__ import annotations

import math

import torch

from recgym.checks import check_number

__all__ = ["StepLog"]


class StepLog:
    """Device-side sums of named scalars over windows of ``every`` steps (``every=1``: read every step)."""

    def __init__(self, every: int):
        check_number("log_every", every, at_least=1, integer=True)
        self.every = every
        self._sums: dict[str, torch.Tensor] = {}
        self._counts: dict[str, int] = {}
        self._first_bad: torch.Tensor | None = None
        self._window_start = 0

    def due(self, grad_step: int) -> bool:
        """Whether the window ends with step ``grad_step`` (0-based), so :meth:`read` should follow its :meth:`add`."""
        return (grad_step + 1) % self.every == 0

    def add(self, grad_step: int, values: dict[str, torch.Tensor]) -> torch.Tensor:
        """Add one step's scalars; returns the 0-dim bool tensor "all of them are finite" (no host sync)."""
        if not self._counts:
            self._window_start = grad_step
        stacked = torch.stack([value.detach().float() for value in values.values()])
        finite = torch.isfinite(stacked).all()
        for name, value in zip(values, stacked):
            self._sums[name] = value if name not in self._sums else self._sums[name] + value
            self._counts[name] = self._counts.get(name, 0) + 1
        if self.every > 1:
            if self._first_bad is None:
                self._first_bad = torch.full((), -1, dtype=torch.long, device=stacked.device)
            self._first_bad = torch.where((self._first_bad < 0) & ~finite, grad_step, self._first_bad)
        return finite

    def read(self, grad_step: int) -> dict[str, float]:
        """The window's mean of every name (one host sync); raises FloatingPointError if any step was non-finite."""
        names = list(self._sums)
        means = torch.stack([self._sums[name] / self._counts[name] for name in names]).double()  # float32 exactly
        if self._first_bad is not None:
            means = torch.cat([means, self._first_bad.double().reshape(1)])
        read = means.tolist()
        first_bad = int(read.pop()) if self._first_bad is not None else -1
        values = dict(zip(names, read))
        start = self._window_start
        self._sums, self._counts, self._first_bad = {}, {}, None
        if first_bad >= 0 or not all(math.isfinite(v) for v in values.values()):
            detail = " ".join(f"{k}={v:.4g}" for k, v in values.items())
            if self.every == 1:
                raise FloatingPointError(f"non-finite loss at step {grad_step}: {detail}")
            raise FloatingPointError(
                f"non-finite loss at step {first_bad} (no non-finite step updated any weight); "
                f"means over steps {start}-{grad_step}: {detail}"
            )
        return values
