"""Tests of agents/budget.py: preset step counts fitted to the run, explicit ones refused at the boundaries."""

from __future__ import annotations

import pytest

from agents import make_config
from agents.budget import REFERENCE_RUN_STEPS, check_budget, fit_to_run, sync_interval
from recgym.errors import InvalidOptionError


def test_sync_interval_is_two_percent_of_the_run_and_at_least_one():
    assert [sync_interval(steps) for steps in (1, 49, 50, 1000, 100_000)] == [1, 1, 1, 20, 2000]


@pytest.mark.parametrize(
    "switch, steps, expected",
    [
        (15_000, 1000, 69),  # 15000 * 1000 / 216000 = 69.4
        (15_000, 15_000, 1042),  # at the last step: it would never run, so it is moved (1041.67)
        (15_000, 15_001, 15_000),  # inside the run: kept
        (30_000, 2000, 278),  # 277.8
        (15_000, 1, 1),  # at least one step
        (None, 10, None),  # one phase stays one phase
    ],
)
def test_fit_to_run_keeps_the_switch_at_its_fraction_of_the_reference_run(switch, steps, expected):
    assert REFERENCE_RUN_STEPS["rc15"] == 216_000
    assert fit_to_run({"switch_step": switch, "learning_rate": 0.01}, "rc15", steps) == {
        "switch_step": expected,
        "learning_rate": 0.01,
    }


def test_the_retailrocket_switch_uses_its_own_reference_run():
    assert fit_to_run({"switch_step": 50_000}, "retailrocket", 1000)["switch_step"] == round(50_000 * 1000 / 116_000)


def test_make_config_fits_presets_and_keeps_explicit_values_inside_the_run():
    assert make_config("sa2c", steps=1000).switch_step == 69
    assert make_config("sa2c", steps=1000, switch_step=500).switch_step == 500
    assert make_config("sa2c").switch_step == 15_000  # no run length given: the preset as written
    assert make_config("dqn", n_items=10, steps=1000).target_update_interval == 20
    assert make_config("dqn", n_items=10).target_update_interval == 2000
    assert make_config("dqn", n_items=10, steps=1000, target_update_interval=999).target_update_interval == 999


@pytest.mark.parametrize(
    "name, field, value, steps, message",
    [
        ("sa2c", "switch_step", 1000, 1000, "switch_step=1000 is not inside a run of 1000 steps"),
        ("ccql", "switch_step", 5000, 1000, "the second phase would never run"),
        ("dqn", "target_update_interval", 1000, 1000, "target_update_interval=1000 is not below the run length 1000"),
        ("discrete_sac", "target_update_interval", 8001, 8000, "the preset copies every 160 steps"),
    ],
)
def test_explicit_step_counts_that_do_not_fit_the_run_are_refused(name, field, value, steps, message):
    with pytest.raises(InvalidOptionError, match=message):
        make_config(name, n_items=10, steps=steps, **{field: value})


def test_check_budget_accepts_the_last_step_inside_the_run():
    check_budget(make_config("sa2c", switch_step=999), 1000)
    check_budget(make_config("dqn", n_items=10, target_update_interval=999), 1000)
    with pytest.raises(InvalidOptionError, match="steps must be a finite integer >= 1"):
        make_config("sasrec", steps=0)
