"""Presets and make_config (agents/presets.py)."""

from __future__ import annotations

import dataclasses

import pytest
from d3rlpy.algos import DiscreteCQLConfig

from agents import (
    AGENTS,
    ENCODERS,
    PRESETS,
    CL4SRecConfig,
    FMLPEncoderFactory,
    GRU4RecEncoderFactory,
    GSASRecConfig,
    SA2CConfig,
    SASRecCCQLConfig,
    SASRecCOConfig,
    SASRecConfig,
    SASRecEncoderFactory,
    SNQNConfig,
    SQNConfig,
    make_config,
)
from agents.d3rlpy_presets import D3RLPY_ALGOS
from recgym.errors import InvalidOptionError

ENCODER_KEYS = {"hidden_size", "n_blocks", "n_heads", "dropout", "n_items"}
AGENT_NAMES = sorted(set(AGENTS) - set(D3RLPY_ALGOS))


def test_agents_names_their_configs() -> None:
    assert {
        "sasrec": SASRecConfig,
        "sqn": SQNConfig,
        "ac": SQNConfig,
        "snqn": SNQNConfig,
        "sa2c": SA2CConfig,
        "co": SASRecCOConfig,
        "ccql": SASRecCCQLConfig,
        "ccql_ref": SASRecCCQLConfig,
        "cl4srec": CL4SRecConfig,
        "fmlp": SASRecConfig,
        "gsasrec": GSASRecConfig,
        **D3RLPY_ALGOS,
    } == AGENTS
    assert D3RLPY_ALGOS["discrete_cql"] is DiscreteCQLConfig
    assert set(PRESETS) == {"rc15", "retailrocket", "synthetic"}
    assert all(set(preset) == set(AGENTS) - set(D3RLPY_ALGOS) for preset in PRESETS.values())


@pytest.mark.parametrize("name", sorted(D3RLPY_ALGOS))
def test_d3rlpy_algorithms_get_the_sasrec_encoder_and_the_d3rlpy_preset(name: str) -> None:
    config = make_config(name, "retailrocket", n_items=100, hidden_size=16, batch_size=32)
    assert type(config) is D3RLPY_ALGOS[name]
    assert config.batch_size == 32 and config.gamma == 0.5  # the override, then the preset
    encoders = [getattr(config, f) for f in ("encoder_factory", "actor_encoder_factory", "critic_encoder_factory")
                if hasattr(config, f)]  # fmt: skip
    assert encoders and all(e == SASRecEncoderFactory(n_items=100, hidden_size=16) for e in encoders)


@pytest.mark.parametrize("dataset", sorted(PRESETS))
@pytest.mark.parametrize("name", AGENT_NAMES)
def test_every_preset_value_reaches_the_config(name: str, dataset: str) -> None:
    config = make_config(name, dataset, n_items=1000)
    assert type(config) is AGENTS[name]
    backbone = ENCODERS[PRESETS[dataset][name].get("encoder", "sasrec")]
    for key, value in PRESETS[dataset][name].items():
        if key == "encoder":
            continue
        holder = config.encoder_factory if key in ENCODER_KEYS else config
        assert getattr(holder, key) == value, key
    assert type(config.encoder_factory) is backbone and config.encoder_factory.n_items == 1000


def test_a_preset_draw_of_negatives_is_capped_by_a_small_catalogue_and_an_explicit_one_is_not() -> None:
    assert make_config("gsasrec", n_items=100).n_negatives == 99  # the preset's 256 do not fit 99 other items
    assert make_config("snqn", n_items=100).n_negatives == 10
    assert make_config("gsasrec", n_items=100, n_negatives=500).n_negatives == 500  # refused when checked for a run


@pytest.mark.parametrize("backbone", sorted(ENCODERS))
@pytest.mark.parametrize("name", AGENT_NAMES + ["discrete_sac"])
def test_every_agent_runs_on_every_backbone(name: str, backbone: str) -> None:
    config = make_config(name, n_items=100, encoder=backbone, hidden_size=16)
    fields = [f for f in ("encoder_factory", "actor_encoder_factory", "critic_encoder_factory") if hasattr(config, f)]
    assert all(getattr(config, f) == ENCODERS[backbone](n_items=100, hidden_size=16) for f in fields)
    config.create(device="cpu:0").create_impl((10,), 100)  # the networks build


CANONICAL = ["sasrec", "sqn", "snqn", "sa2c", "co", "ccql", "cl4srec"]
"""The agent whose name is its config class's; ``ac``, ``ccql_ref`` and ``fmlp`` are variants of a class."""


@pytest.mark.parametrize("name", CANONICAL)
def test_class_defaults_equal_the_rc15_preset(name: str) -> None:
    """A config built by hand (``SASRecCOConfig()``) is the agent of the presets, not a different one."""
    default = AGENTS[name]()
    for key, value in PRESETS["rc15"][name].items():
        owner = default if hasattr(default, key) else default.encoder_factory
        assert getattr(owner, key) == value, f"{name}.{key}: class default {getattr(owner, key)!r}, preset {value!r}"


def test_fmlp_and_cl4srec_presets() -> None:
    fmlp = make_config("fmlp")
    assert type(fmlp) is SASRecConfig and fmlp.encoder_factory == FMLPEncoderFactory()
    assert fmlp.learning_rate == 0.001 and fmlp.encoder_factory.n_blocks == 2
    cl4srec = make_config("cl4srec", "retailrocket")
    assert cl4srec.encoder_factory == SASRecEncoderFactory() and cl4srec.contrastive_weight == 0.1
    assert make_config("fmlp", encoder="gru").encoder_factory == GRU4RecEncoderFactory()


def test_reference_values() -> None:
    rc15, rr = make_config("ccql_ref", "rc15"), make_config("ccql_ref", "retailrocket")
    assert (rc15.learning_rate, rc15.learning_rate_2, rc15.switch_step, rc15.batch_size) == (0.005, 0.001, 15000, 256)
    assert (rc15.reward_negative, rc15.clip_grad_value, rc15.encoder_factory.hidden_size) == (-1.0, 1.0, 64)
    assert (rr.learning_rate, rr.learning_rate_2, rr.switch_step, rr.batch_size, rr.reward_negative) == (
        0.01,
        0.01,
        50000,
        512,
        -3.0,
    )
    sa2c = make_config("sa2c", "retailrocket")
    assert (sa2c.learning_rate, sa2c.learning_rate_2, sa2c.switch_step) == (0.005, 0.001, 15000)
    co = make_config("co", "rc15")
    assert (co.learning_rate, co.learning_rate_2, co.switch_step) == (0.01, 0.01, 30000)
    for dataset in PRESETS:  # SASRec_ac.py: switch 30000, lr = lr_2 = 0.01, no dataset override
        ac = make_config("ac", dataset)
        assert (ac.learning_rate, ac.learning_rate_2, ac.switch_step) == (0.01, 0.01, 30000)
        # the actor-weight study's choice for the two-phase AC / CO / CCQL; SQN, SNQN, SA2C keep per-sample weights
        assert ac.actor_weight == make_config("co", dataset).actor_weight == "batch_mean"
        assert make_config("ccql_ref", dataset).actor_weight == "batch_mean"
        assert make_config("sa2c", dataset).actor_weight == make_config("snqn", dataset).actor_weight == "per_sample"
    assert make_config("sqn").switch_step is None and make_config("sasrec").encoder_factory.hidden_size == 64


@pytest.mark.parametrize("dataset", sorted(PRESETS))
def test_ccql_is_the_paper_objective_and_ccql_ref_its_reference_schedule(dataset: str) -> None:
    """The two differ only in the second phase (switch, learning rate, weight rule): Eq. 4 for the whole run vs the
    reference's phases."""
    paper, reference = make_config("ccql", dataset), make_config("ccql_ref", dataset)
    assert paper.switch_step is None and reference.switch_step is not None
    names = [field.name for field in dataclasses.fields(paper)]
    differing = {name for name in names if getattr(paper, name) != getattr(reference, name)}
    assert differing <= {"switch_step", "learning_rate_2", "actor_weight"}


def test_overrides_go_to_the_config_or_the_encoder() -> None:
    config = make_config("snqn", "rc15", learning_rate=0.1, hidden_size=8, dropout=0.0, switch_step=5)
    assert (config.learning_rate, config.switch_step) == (0.1, 5)
    assert (config.encoder_factory.hidden_size, config.encoder_factory.dropout) == (8, 0.0)
    assert config.encoder_factory.n_heads == 1


def test_an_encoder_factory_override_replaces_the_preset_encoder() -> None:
    factory = SASRecEncoderFactory(hidden_size=12, n_blocks=2)
    assert make_config("sqn", encoder_factory=factory).encoder_factory == factory
    assert make_config("sqn", encoder_factory=factory, dropout=0.3).encoder_factory == dataclasses.replace(
        factory, dropout=0.3
    )


def test_presets_are_not_mutated() -> None:
    before = {dataset: {name: dict(values) for name, values in preset.items()} for dataset, preset in PRESETS.items()}
    make_config("ccql", "rc15", learning_rate=1.0, hidden_size=4)
    assert before == PRESETS


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: make_config("no_such_agent"), "unknown agent 'no_such_agent'"),
        (lambda: make_config("sqn", "movielens"), "unknown preset 'movielens'"),
        (lambda: make_config("sqn", learning_rte=0.1), r"SQNConfig has no field\(s\) \['learning_rte'\]"),
        (lambda: make_config("discrete_cql"), "discrete_cql needs the number of items"),
        (lambda: make_config("sqn", encoder="lstm"), "unknown encoder 'lstm'"),
        (
            lambda: make_config("sqn", encoder="gru", dropout=0.2),
            r"GRU4RecEncoderFactory has no field\(s\) \['dropout'\]",
        ),
        (lambda: make_config("dqn", n_items=5, encoder="gru", n_heads=2), "GRU4RecEncoderFactory has no field"),
        (lambda: make_config("sqn", encoder="gru", encoder_factory=SASRecEncoderFactory()), "not both"),
    ],
)
def test_bad_options_raise(call, message: str) -> None:
    with pytest.raises(InvalidOptionError, match=message):
        call()


def test_configs_validate_their_choices() -> None:
    with pytest.raises(ValueError, match="score_head"):
        SQNConfig(score_head="policy")
    with pytest.raises(ValueError, match="actor_weight"):
        SASRecCOConfig(actor_weight="clip")
    with pytest.raises(ValueError, match="augmentation"):
        SASRecCOConfig(augmentation="shuffle")
    with pytest.raises(ValueError, match="behaviour_probs"):
        SA2CConfig(propensity_smooth=1.0)
