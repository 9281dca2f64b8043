"""Tests of recgym/checks.py: the one number check, against hand-written expectations at every bound."""

from __future__ import annotations

import math

import numpy as np
import pytest

from recgym.checks import check_number
from recgym.errors import InvalidOptionError


@pytest.mark.parametrize(
    "value, bounds",
    [
        (0, {"at_least": 0}),
        (1, {"at_least": 0, "at_most": 1}),
        (0.5, {"above": 0, "below": 1}),
        (np.int64(3), {"at_least": 1, "integer": True}),
        (np.float32(0.25), {"at_least": 0}),
        (-1e300, {}),
    ],
)
def test_values_within_bounds_pass(value, bounds):
    check_number("x", value, **bounds)


@pytest.mark.parametrize(
    "value, bounds, message",
    [
        (-1, {"at_least": 0}, "x must be a finite number >= 0, got -1"),
        (0, {"above": 0}, "x must be a finite number > 0, got 0"),
        (1, {"at_least": 0, "below": 1}, "x must be a finite number >= 0 and < 1, got 1"),
        (2, {"at_least": 0, "at_most": 1}, "x must be a finite number >= 0 and <= 1, got 2"),
        (2.5, {"integer": True}, "x must be a finite integer, got 2.5"),
        (True, {}, "x must be a finite number, got True"),
        ("3", {}, "x must be a finite number, got '3'"),
        (math.nan, {}, "x must be a finite number, got nan"),
        (math.inf, {"at_least": 0}, "x must be a finite number >= 0, got inf"),
        (None, {"integer": True, "at_least": 1}, "x must be a finite integer >= 1, got None"),
    ],
)
def test_values_out_of_bounds_are_one_line(value, bounds, message):
    with pytest.raises(InvalidOptionError) as error:
        check_number("x", value, **bounds)
    assert str(error.value) == message
