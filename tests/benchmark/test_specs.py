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
STEPS = 100_000  # long enough for every preset's step counts: the d3rlpy preset copies its target every 2,000 steps


def resolve(agents, steps=STEPS, eval_every=1000, **options):
    return resolve_agents(
        agents,
        preset="synthetic",
        n_items=N_ITEMS,
        state_size=STATE_SIZE,
        steps=steps,
        eval_every=eval_every,
        agent_options=options,
    )


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


def test_knn_baselines_take_their_settings_by_label_and_in_grids():
    resolved = resolve(["vsknn", "sknn", "sasrec"], **{"vsknn.k": 50, "vsknn.weighting": "log"})
    assert resolved["vsknn"].options == {"k": 50, "weighting": "log"} and resolved["sknn"].options == {}
    assert describe_agent(resolved["vsknn"]) == {"spec": "vsknn", "baseline": "vsknn",
                                                 "options": {"k": 50, "weighting": "log"}}  # fmt: skip
    assert describe_agent(resolved["sknn"]) == {"spec": "sknn", "baseline": "sknn"}  # earlier folders' hashes kept
    gridded = resolve_agents(["vsknn"], preset="synthetic", n_items=N_ITEMS, state_size=STATE_SIZE, steps=STEPS,
                             eval_every=1000, grid={"vsknn.k": [20, 200]})  # fmt: skip
    assert {label: agent.options for label, agent in gridded.items()} == {"vsknn-k=20": {"k": 20},
                                                                          "vsknn-k=200": {"k": 200}}  # fmt: skip


@pytest.mark.parametrize(
    ("agents", "options", "message"),
    [
        (["vsknn"], {"vsknn.k": 0}, "agent vsknn: k must be a finite integer >= 1, got 0"),
        (["vsknn"], {"vsknn.similarity": "euclid"}, "agent vsknn: unknown similarity 'euclid'"),
        (["popularity"], {"popularity.k": 5}, "popularity is a baseline and takes no training options"),
        (["vsknn"], {"vsknn.learning_rate": 0.1}, r"the kNN baselines take k, sample_size, similarity, weighting"),
        (["sasrec"], {"foo.bar": 1}, "no agent is labelled 'foo'"),
        (["sasrec"], {"sasrec.no_such_field": 1}, "has no field 'no_such_field'"),
        (["sasrec"], {"no_such_field": 1}, "no trained agent of this run has a field 'no_such_field'"),
        (["sasrec", "random"], {"random.learning_rate": 0.1}, "random is a baseline and takes no training options"),
        (["sasrec"], {"hidden_size": "abc"}, "hidden_size must be int, got 'abc'"),
        (["sasrec"], {"hidden_size": 2.5}, "hidden_size must be int"),
        (["sasrec"], {"learning_rate": "fast"}, "learning_rate must be"),
        (["sasrec"], {"hidden_size": -4}, "hidden_size must be a finite integer >= 1, got -4"),
        (["sasrec"], {"hidden_size": 0}, "hidden_size must be a finite integer >= 1, got 0"),
        (["sasrec"], {"dropout": 1.5}, "dropout must be a finite number >= 0 and < 1, got 1.5"),
        (["sasrec"], {"batch_size": 0}, "batch_size must be a finite integer >= 1, got 0"),
        (["sqn"], {"gamma": 2.0}, "agent sqn: gamma must be a finite number >= 0 and <= 1, got 2.0"),
        (["dqn"], {"gamma": -0.5}, "agent dqn: gamma must be"),
        (["ccql"], {"n_negatives": 0}, "agent ccql: n_negatives must be a finite integer >= 1, got 0"),
        (["ccql"], {"n_negatives": 100_000}, r"n_negatives \(catalogue of 50 items\) must be a finite integer <= 49"),
        (["sasrec"], {"sampled_softmax": 51}, r"sampled_softmax \(catalogue of 50 items\) must be .* <= 50"),
        (["sasrec"], {"log_every": 7}, "log_every=7 must divide eval_every=1000"),
        (["sa2c"], {"switch_step": STEPS}, f"switch_step={STEPS} is not inside a run of {STEPS} steps"),
        (["dqn"], {"target_update_interval": STEPS}, "the target network would stay as it was"),
        (["sasrec"], {"hidden_size": 3, "n_heads": 2}, "fails to build or update on a toy batch: hidden_size=3 is not"),
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
        ["ccql", "sasrec", "popularity"], preset="synthetic", n_items=N_ITEMS, state_size=STATE_SIZE, steps=STEPS,
        eval_every=1000, agent_options={"ccql.cql_alpha": 0.5},
        grid={"ccql.n_negatives": [10, 30], "td_weight": [0.0, 0.9]},
    )  # fmt: skip
    assert list(resolved) == [
        "ccql-n_negatives=10-td_weight=0.0",
        "ccql-n_negatives=10-td_weight=0.9",
        "ccql-n_negatives=30-td_weight=0.0",
        "ccql-n_negatives=30-td_weight=0.9",
        "sasrec",
        "popularity",
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
        resolve_agents(
            ["ccql"],
            preset="synthetic",
            n_items=N_ITEMS,
            state_size=STATE_SIZE,
            steps=STEPS,
            eval_every=1000,
            grid=grid,
        )


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


def test_step_switches_are_recorded_only_away_from_the_path_older_runs_took():
    default, materialised = resolve({"sqn": "sqn"})["sqn"], resolve({"sqn": "sqn"}, fused_heads=False)["sqn"]
    assert describe_agent(default)["params"]["fused_heads"] is True  # the default path, newer than older runs
    assert "fused_heads" not in describe_agent(materialised)["params"]  # the path every older run took
    assert "log_every" not in describe_agent(resolve({"sqn": "sqn"}, log_every=2)["sqn"])["params"]  # same numbers
    sampled = resolve({"sqn": "sqn"}, sampled_q_targets=32)["sqn"]
    assert "sampled_q_targets" not in describe_agent(default)["params"]
    assert describe_agent(sampled)["params"]["sampled_q_targets"] == 32
    lowered = resolve({"sqn": "sqn"}, autocast_dtype="bfloat16")["sqn"]
    assert "autocast_dtype" not in describe_agent(default)["params"]
    assert describe_agent(lowered)["params"]["autocast_dtype"] == "bfloat16"


@pytest.mark.parametrize("steps", [1000, 15_000, 15_001])
def test_preset_step_counts_are_fitted_to_the_run(steps):
    """A preset's switch at or after the end of the run keeps its fraction of the reference run (agents.budget);
    one inside the run is kept; the d3rlpy preset's target sync is every 2% of the run."""
    resolved = resolve(["sa2c", "ccql_ref", "co", "discrete_cql"], steps=steps, eval_every=steps)
    expected_sa2c = round(15_000 * steps / 216_000) if steps <= 15_000 else 15_000
    assert resolved["sa2c"].config.switch_step == expected_sa2c
    assert resolved["ccql_ref"].config.switch_step == expected_sa2c
    assert resolved["co"].config.switch_step == round(30_000 * steps / 216_000)  # 30,000 is after every run here
    assert resolved["discrete_cql"].config.target_update_interval == steps // 50


def test_an_explicit_step_count_inside_the_run_is_kept():
    resolved = resolve(["sa2c", "dqn"], steps=1000, eval_every=500, **{"switch_step": 999, "target_update_interval": 1})
    assert (resolved["sa2c"].config.switch_step, resolved["dqn"].config.target_update_interval) == (999, 1)


def test_a_user_d3rlpy_config_whose_target_never_syncs_is_refused():
    with pytest.raises(
        BenchmarkError, match="agent mine: target_update_interval=5000 is not below the run length 1000"
    ):
        resolve({"mine": DQNConfig(target_update_interval=5000)}, steps=1000, eval_every=500)


def test_every_trained_agent_is_updated_once_on_a_toy_batch_before_any_run(monkeypatch):
    import d3rlpy.algos

    def fail(self, batch):
        assert batch.observations.shape == (4, STATE_SIZE) and int(batch.actions.max()) < N_ITEMS
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr(d3rlpy.algos.DQN, "update", fail)
    with pytest.raises(BenchmarkError, match="^agent dqn: DQNConfig fails to build or update on a toy batch: boom$"):
        resolve(["sasrec", "dqn"])
