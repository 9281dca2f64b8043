"""Tests of agents/validation.py: every range by field name, on recgym's agents, their encoders and d3rlpy's algos."""

from __future__ import annotations

import pytest
from d3rlpy.algos import DiscreteSACConfig, DQNConfig

from agents import make_config
from agents.validation import check_config
from recgym.errors import InvalidOptionError

N_ITEMS = 30


@pytest.mark.parametrize("name", ["sasrec", "sqn", "snqn", "sa2c", "co", "ccql", "ccql_ref", "cl4srec", "fmlp"])
def test_every_preset_is_in_range(name):
    check_config(make_config(name, n_items=N_ITEMS), N_ITEMS)


@pytest.mark.parametrize(
    "name", ["dqn", "double_dqn", "nfq", "discrete_cql", "discrete_bcq", "discrete_sac", "discrete_bc"]
)
def test_every_d3rlpy_preset_is_in_range(name):
    check_config(make_config(name, n_items=N_ITEMS), N_ITEMS)


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: make_config("sqn", gamma=1.5), "gamma must be a finite number >= 0 and <= 1, got 1.5"),
        (lambda: make_config("ccql", n_negatives=0), "n_negatives must be a finite integer >= 1, got 0"),
        (lambda: make_config("ccql", cql_temperature=0.0), "cql_temperature must be a finite number > 0"),
        (lambda: make_config("sasrec", learning_rate=-0.1), "learning_rate must be a finite number > 0"),
        (lambda: make_config("sasrec", hidden_size=0), "hidden_size must be a finite integer >= 1, got 0"),
        (lambda: make_config("sasrec", encoder="caser", n_filters=0), "n_filters must be a finite integer >= 1"),
        (lambda: make_config("fmlp", dropout=1.0), "dropout must be a finite number >= 0 and < 1, got 1.0"),
        (lambda: make_config("cl4srec", crop_ratio=0.0), "crop_ratio must be a finite number > 0 and <= 1"),
        (lambda: DQNConfig(gamma=2.0), "gamma must be"),
        (lambda: DQNConfig(target_update_interval=0), "target_update_interval must be a finite integer >= 1"),
        (lambda: DiscreteSACConfig(critic_learning_rate=0.0), "critic_learning_rate must be a finite number > 0"),
    ],
)
def test_values_out_of_range_are_refused(build, message):
    """recgym's configs refuse them when built (their own check), d3rlpy's when checked."""
    with pytest.raises(InvalidOptionError, match=message):
        check_config(build())


@pytest.mark.parametrize(
    "field, limit", [("n_negatives", N_ITEMS - 1), ("sampled_softmax", N_ITEMS), ("sampled_q_targets", N_ITEMS)]
)
def test_sizes_drawn_from_the_catalogue_are_bounded_by_it(field, limit):
    check_config(make_config("ccql", **{field: limit}), N_ITEMS)
    check_config(make_config("ccql", **{field: limit + 1}))  # without the catalogue size: not checked
    with pytest.raises(InvalidOptionError, match=rf"{field} \(catalogue of {N_ITEMS} items\) must be .* <= {limit}"):
        check_config(make_config("ccql", **{field: limit + 1}), N_ITEMS)


def test_building_an_agent_checks_its_config_against_the_action_size():
    algo = make_config("ccql", n_items=N_ITEMS, n_negatives=N_ITEMS).create(device="cpu:0")
    with pytest.raises(InvalidOptionError, match="n_negatives"):
        algo.create_impl((10,), N_ITEMS)
