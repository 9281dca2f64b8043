"""agents/step_log.py: window means and the non-finite report, against hand computations."""

from __future__ import annotations

import math

import pytest
import torch

from agents.step_log import StepLog


def test_window_means_each_name_over_its_own_steps() -> None:
    log = StepLog(every=3)
    log.add(0, {"loss": torch.tensor(1.0)})
    log.add(1, {"loss": torch.tensor(2.0), "weight": torch.tensor(0.5)})  # a name that appears mid-window
    assert [log.due(step) for step in range(6)] == [False, False, True, False, False, True]
    log.add(2, {"loss": torch.tensor(6.0), "weight": torch.tensor(1.5)})
    assert log.read(2) == {"loss": 3.0, "weight": 1.0}
    log.add(3, {"loss": torch.tensor(4.0)})
    assert log.read(3) == {"loss": 4.0}  # a new window


def test_every_step_reads_the_float32_value_itself() -> None:
    log = StepLog(every=1)
    value = torch.tensor(0.1, dtype=torch.float32)
    assert log.add(0, {"loss": value}).item() is True
    assert log.read(0) == {"loss": value.item()}


def test_the_first_non_finite_step_is_named() -> None:
    log = StepLog(every=4)
    flags = [log.add(step, {"loss": torch.tensor(v)}).item() for step, v in enumerate([1.0, math.inf, 2.0, math.nan])]
    assert flags == [True, False, True, False]
    with pytest.raises(FloatingPointError, match=r"non-finite loss at step 1 .*means over steps 0-3: loss=nan"):
        log.read(3)
    log.add(4, {"loss": torch.tensor(1.0)})
    assert log.read(4) == {"loss": 1.0}  # the report cleared the window


def test_every_must_be_positive() -> None:
    with pytest.raises(ValueError, match="log_every must be a finite integer >= 1"):
        StepLog(every=0)
