"""Tests of recgym/benchmark/specs.py: labels, d3rlpy algorithms on the SASRec encoder, options and their errors."""

from __future__ import annotations

import json

import pytest
from d3rlpy.algos import DiscreteBCQConfig, DiscreteCQLConfig, DiscreteSACConfig, DQNConfig
from d3rlpy.models import DefaultEncoderFactory

from agents import SASRecEncoderFactory
from agents.d3rlpy_presets import D3RLPY_PRESET
from recgym.benchmark import BenchmarkError, parse_agents, resolve_agents
from recgym.benchmark.specs import describe_agent

N_ITEMS, STATE_SIZE = 50, 10


def resolve(agents, **options):
    return resolve_agents(agents, preset="synthetic", n_items=N_ITEMS, state_size=STATE_SIZE, agent_options=options)


def test_parse_agents_labels_specs():
    assert parse_agents("sasrec, bcq=d3rlpy.algos:DiscreteBCQConfig,d3rlpy.algos:DQNConfig,") == {
        "sasrec": "sasrec",
        "bcq": "d3rlpy.algos:DiscreteBCQConfig",
        "dqn": "d3rlpy.algos:DQNConfig",
    }
    assert parse_agents("a=d3rlpy.algos:DQNConfig,b=d3rlpy.algos:DQNConfig") == {
        "a": "d3rlpy.algos:DQNConfig",
        "b": "d3rlpy.algos:DQNConfig",
    }
    with pytest.raises(BenchmarkError, match="two agents are labelled 'dqn'"):
        parse_agents("d3rlpy.algos:DQNConfig,dqn")


def test_d3rlpy_module_specs_get_the_sasrec_encoder_and_the_preset():
    resolved = resolve({"bcq": "d3rlpy.algos:DiscreteBCQConfig", "sac": "discrete_sac"})
    bcq, sac = resolved["bcq"].config, resolved["sac"].config
    assert isinstance(bcq, DiscreteBCQConfig) and isinstance(sac, DiscreteSACConfig)
    for encoder in (bcq.encoder_factory, sac.actor_encoder_factory, sac.critic_encoder_factory):
        assert encoder == SASRecEncoderFactory(n_items=N_ITEMS, hidden_size=64, n_blocks=1, n_heads=1, dropout=0.1)
    assert (bcq.batch_size, bcq.gamma, bcq.learning_rate, bcq.target_update_interval) == (256, 0.5, 1e-3, 2000)
    assert (sac.actor_learning_rate, sac.critic_learning_rate, sac.temp_learning_rate) == (1e-3, 1e-3, 1e-3)
    assert bcq.action_flexibility == DiscreteBCQConfig().action_flexibility  # not in the preset: d3rlpy's value
    assert set(D3RLPY_PRESET) >= {"batch_size", "gamma", "learning_rate"}


def test_a_config_instance_keeps_its_values_and_gets_the_encoder_on_default_fields():
    given = DiscreteCQLConfig(batch_size=8, encoder_factory=DefaultEncoderFactory(dropout_rate=0.2))
    config = resolve({"mine": DQNConfig(batch_size=8), "kept": given})
    assert config["mine"].config.batch_size == 8
    assert isinstance(config["mine"].config.encoder_factory, SASRecEncoderFactory)
    assert config["kept"].config.encoder_factory == DefaultEncoderFactory(dropout_rate=0.2)  # the user's choice


def test_options_apply_to_every_agent_with_the_field_or_to_the_labelled_one():
    resolved = resolve(
        {"ccql": "ccql", "sa2c": "sa2c", "sasrec": "sasrec", "dqn": "d3rlpy.algos:DQNConfig", "pop": "popularity"},
        hidden_size=16, **{"ccql.switch_step": 700, "sa2c.switch_step": 900, "dqn.learning_rate": 0.1},
    )  # fmt: skip
    assert resolved["ccql"].config.switch_step == 700 and resolved["sa2c"].config.switch_step == 900
    assert resolved["dqn"].config.learning_rate == 0.1
    trained = [agent for agent in resolved.values() if agent.config is not None]
    assert {agent.config.encoder_factory.hidden_size for agent in trained} == {16}
    assert resolved["pop"].baseline == "popularity" and resolved["pop"].config is None
    assert describe_agent(resolved["pop"]) == {"spec": "popularity", "baseline": "popularity"}
    described = describe_agent(resolved["dqn"])
    assert described["class"] == "d3rlpy.algos.qlearning.dqn:DQNConfig"
    assert described["params"] == json.loads(resolved["dqn"].config.serialize())
    assert described["params"]["encoder_factory"]["type"] == "sasrec"


@pytest.mark.parametrize(
    ("agents", "options", "message"),
    [
        (["sasrec"], {"foo.bar": 1}, "no agent is labelled 'foo'"),
        (["sasrec"], {"sasrec.no_such_field": 1}, "has no field 'no_such_field'"),
        (["sasrec"], {"no_such_field": 1}, "no trained agent of this run has a field 'no_such_field'"),
        (["sasrec", "random"], {"random.learning_rate": 0.1}, "random is a baseline and takes no training options"),
        (["sasrec"], {"hidden_size": "abc"}, "hidden_size must be int, got 'abc'"),
        (["sasrec"], {"hidden_size": 2.5}, "hidden_size must be int"),
        (["sasrec"], {"learning_rate": "fast"}, "learning_rate must be"),
        (["sasrec"], {"hidden_size": -4}, "cannot build"),
        (["sasrec"], {"dropout": 1.5}, "cannot build"),
        (["sasrec"], {"batch_size": 0}, "batch_size must be >= 1"),
        (["nowhere:Config"], {}, "cannot import agent spec 'nowhere:Config'"),
        (["json:dumps"], {}, "not a d3rlpy LearnableConfig"),
        (["d3rlpy.algos:CQLConfig"], {}, "continuous-action algorithm"),
        (["d3rlpy.algos:DiscreteRandomPolicyConfig"], {}, "use the baseline agent 'random'"),
        (["no_such_agent"], {}, "unknown agent 'no_such_agent'"),
        ({"a/b": "sasrec"}, {}, "must match"),
    ],
)
def test_bad_specs_and_options_are_one_clear_error(agents, options, message):
    with pytest.raises(BenchmarkError, match=message):
        resolve(agents, **options)


def test_grid_crosses_points_into_labelled_rows_after_the_options():
    resolved = resolve_agents(
        ["ccql", "sasrec", "popularity"], preset="synthetic", n_items=N_ITEMS, state_size=STATE_SIZE,
        agent_options={"ccql.cql_alpha": 0.5}, grid={"ccql.n_negatives": [10, 30], "td_weight": [0.0, 0.9]},
    )  # fmt: skip
    assert list(resolved) == [
        "ccql-n_negatives=10-td_weight=0.0", "ccql-n_negatives=10-td_weight=0.9",
        "ccql-n_negatives=30-td_weight=0.0", "ccql-n_negatives=30-td_weight=0.9",
        "sasrec", "popularity",
    ]  # fmt: skip  (sasrec has no td_weight: untouched; a baseline is never gridded)
    row = resolved["ccql-n_negatives=30-td_weight=0.9"]
    assert (row.config.n_negatives, row.config.td_weight, row.config.cql_alpha) == (30, 0.9, 0.5)
    assert row.label == "ccql-n_negatives=30-td_weight=0.9" and row.spec == "ccql"


@pytest.mark.parametrize(
    ("grid", "message"),
    [
        ({"ccql.n_negatives": []}, "no values"),
        ({"ccql.n_negatives": [10, 10]}, "a value is repeated"),
        ({"nobody.gamma": [0.5]}, "no agent is labelled 'nobody'"),
        ({"no_field": [1]}, "no trained agent of this run has a field 'no_field'"),
        ({"ccql.n_negatives": ["ten"]}, "n_negatives must be int"),
        ({"ccql.augmentation": ["a/b"]}, "must match"),
    ],
)
def test_bad_grids_are_one_clear_error(grid, message):
    with pytest.raises(BenchmarkError, match=message):
        resolve_agents(["ccql"], preset="synthetic", n_items=N_ITEMS, state_size=STATE_SIZE, grid=grid)


def test_cli_grid_values_are_literals():
    from recgym.cli import parse_grid

    assert parse_grid("ccql.n_negatives=10,30,50") == ("ccql.n_negatives", [10, 30, 50])
    assert parse_grid("gamma=0,0.5") == ("gamma", [0, 0.5])
    assert parse_grid("augmentation=crop,mask") == ("augmentation", ["crop", "mask"])


def test_result_neutral_fields_are_not_part_of_the_record():
    default, windowed = resolve({"sqn": "sqn"})["sqn"], resolve({"sqn": "sqn"}, log_every=50)["sqn"]
    assert windowed.config.log_every == 50
    assert describe_agent(windowed) == describe_agent(default)  # so the config hash does not change either
    assert "log_every" not in describe_agent(default)["params"]


def test_fields_recorded_only_when_set_keep_older_hashes():
    default, fused = resolve({"sqn": "sqn"})["sqn"], resolve({"sqn": "sqn"}, fused_heads=True)["sqn"]
    assert "fused_heads" not in describe_agent(default)["params"]
    assert describe_agent(fused)["params"]["fused_heads"] is True  # it changes the numbers: recorded
    sampled = resolve({"sqn": "sqn"}, sampled_q_targets=64)["sqn"]
    assert "sampled_q_targets" not in describe_agent(default)["params"]
    assert describe_agent(sampled)["params"]["sampled_q_targets"] == 64
    lowered = resolve({"sqn": "sqn"}, autocast_dtype="bfloat16")["sqn"]
    assert "autocast_dtype" not in describe_agent(default)["params"]
    assert describe_agent(lowered)["params"]["autocast_dtype"] == "bfloat16"
