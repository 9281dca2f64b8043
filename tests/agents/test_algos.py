"""The SASRec agents as d3rlpy algorithms (agents/double_q.py and one module per agent)."""

from __future__ import annotations

import d3rlpy
import numpy as np
import pytest
import torch
from d3rlpy.dataset import MDPDataset, TransitionMiniBatch
from d3rlpy.logging import NoopAdapterFactory

from agents import AGENTS, SASRecCCQLConfig, SASRecEncoderFactory, SQNConfig, make_config
from agents.losses import cross_entropy

N_ITEMS = 40
STATE_SIZE = 5
OURS = ["sasrec", "sqn", "ac", "snqn", "sa2c", "co", "ccql", "ccql_ref"]
TWO_PHASES = {"ac", "sa2c", "co", "ccql_ref"}


pytestmark = pytest.mark.usefixtures("one_thread")


def sessions(n_sessions: int, seed: int) -> dict[str, np.ndarray]:
    """Sessions where the next item is (item + 1) % n with probability 0.9, else uniform; right-padded states."""
    rng = np.random.default_rng(seed)
    rows: dict[str, list] = {"observations": [], "actions": [], "rewards": [], "terminals": []}
    for _ in range(n_sessions):
        length = int(rng.integers(3, 10))
        item, history = int(rng.integers(N_ITEMS)), []
        for t in range(length):
            state = np.full(STATE_SIZE, N_ITEMS, dtype=np.int32)
            recent = history[-STATE_SIZE:]
            state[: len(recent)] = recent
            purchase = rng.random() < 0.1
            rows["observations"].append(state)
            rows["actions"].append(item)
            rows["rewards"].append(1.0 if purchase else 0.2)
            rows["terminals"].append(t == length - 1)
            history.append(item)
            item = (item + 1) % N_ITEMS if rng.random() < 0.9 else int(rng.integers(N_ITEMS))
    return {key: np.asarray(value) for key, value in rows.items()}


@pytest.fixture(scope="module")
def train() -> dict[str, np.ndarray]:
    return sessions(300, seed=0)


@pytest.fixture(scope="module")
def dataset(train) -> MDPDataset:
    return to_mdp(train)


def to_mdp(rows: dict[str, np.ndarray]) -> MDPDataset:
    return MDPDataset(
        rows["observations"],
        rows["actions"][:, None],
        rows["rewards"].astype(np.float32),
        rows["terminals"],
        action_size=N_ITEMS,
    )


def config(name: str, **overrides):
    """A tiny, fast config of agent ``name``; two-phase agents switch after 100 steps."""
    values = {"hidden_size": 16, "batch_size": 64, "n_items": N_ITEMS}
    if name in TWO_PHASES:
        values["switch_step"] = 100
    if name.startswith("ccql"):
        values["learning_rate"] = 0.01
    return make_config(name, "synthetic", **{**values, **overrides})


def fit(algo, dataset: MDPDataset, n_steps: int, per_epoch: int | None = None) -> list:
    return algo.fit(
        dataset,
        n_steps=n_steps,
        n_steps_per_epoch=per_epoch or n_steps,
        show_progress=False,
        logger_adapter=NoopAdapterFactory(),
    )


def hit_rate(top: np.ndarray, targets: np.ndarray) -> float:
    return float((top == targets[:, None]).any(axis=1).mean())


def batch_of(dataset: MDPDataset, size: int = 32) -> TransitionMiniBatch:
    return TransitionMiniBatch.from_transitions([dataset.sample_transition() for _ in range(size)])


def parameters(network: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in network.parameters()]


def changed(before: list[torch.Tensor], network: torch.nn.Module) -> bool:
    return any(not torch.equal(b, p) for b, p in zip(before, network.parameters()))


@pytest.mark.parametrize("name", OURS)
def test_fit_beats_popularity(name: str, train, dataset) -> None:
    d3rlpy.seed(0)
    val = sessions(100, seed=1)
    algo = config(name).create()
    fit(algo, dataset, n_steps=300)
    scores = algo.scores(val["observations"])
    assert scores.shape == (len(val["actions"]), N_ITEMS) and scores.dtype == torch.float32
    agent_hr = hit_rate(torch.topk(scores, 10, dim=1).indices.numpy(), val["actions"])
    popular = np.argsort(-np.bincount(train["actions"], minlength=N_ITEMS), kind="stable")[:10]
    popularity_hr = hit_rate(np.tile(popular, (len(val["actions"]), 1)), val["actions"])
    assert agent_hr > popularity_hr + 0.3, (agent_hr, popularity_hr)


@pytest.mark.parametrize("name", OURS)
def test_predict_and_recommend_follow_scores(name: str, dataset) -> None:
    algo = config(name).create()
    fit(algo, dataset, n_steps=5)
    observations = to_mdp(sessions(5, seed=2)).episodes[0].observations
    scores = algo.scores(observations)
    assert torch.equal(scores, algo.scores(torch.as_tensor(observations)))  # eval mode: no dropout
    np.testing.assert_array_equal(algo.predict(observations), scores.argmax(dim=1).numpy())
    np.testing.assert_array_equal(algo.recommend(observations, 3), torch.topk(scores, 3, dim=1).indices.numpy())


def test_scores_reject_ids_of_another_catalogue(dataset) -> None:
    algo = config("sasrec").create()
    fit(algo, dataset, n_steps=1)
    pad_id, width = algo.impl.action_size, algo.impl.observation_shape[0]
    with pytest.raises(ValueError, match=f"items 0..{pad_id - 1} and the pad id {pad_id}"):
        algo.scores(np.array([[pad_id + 1] * width]))
    assert algo.scores(np.full((1, width), pad_id)).shape == (1, pad_id)
    # another dataset's state width, or a larger catalogue's ids through d3rlpy's own predict: one line each
    with pytest.raises(ValueError, match=f"states of shape \\(1, 3\\), but this model reads \\(batch, {width}\\)"):
        algo.scores(np.full((1, 3), pad_id))
    with pytest.raises(ValueError, match=f"states hold item ids in \\[0, {pad_id + 5}\\]"):
        algo.predict(np.array([[0] * (width - 1) + [pad_id + 5]], dtype=np.float32))


def test_a_built_model_refuses_to_train_on_another_catalogue_or_state_width(train, dataset) -> None:
    algo = config("sasrec").create()
    fit(algo, dataset, n_steps=1)
    smaller = {**train, "actions": train["actions"] % 30, "observations": np.minimum(train["observations"], 30)}
    other_catalogue = MDPDataset(smaller["observations"], smaller["actions"][:, None], train["rewards"].astype(np.float32),
                                 train["terminals"], action_size=30)  # fmt: skip
    with pytest.raises(
        ValueError, match="was built for 40 items and states of 5, the dataset has 30 items and states of 5"
    ):
        fit(algo, other_catalogue, n_steps=1)
    narrow = to_mdp({**train, "observations": train["observations"][:, :3]})
    with pytest.raises(ValueError, match="the dataset has 40 items and states of 3"):
        fit(algo, narrow, n_steps=1)


def test_recgym_scores_d3rlpy_algorithms_only_on_states_of_their_shape(dataset) -> None:
    from recgym.evaluation.scoring import recommend

    algo = d3rlpy.algos.DQNConfig(encoder_factory=SASRecEncoderFactory(n_items=N_ITEMS, hidden_size=8)).create()
    algo.build_with_dataset(dataset)
    assert recommend(algo, np.full((2, STATE_SIZE), N_ITEMS), 3).shape == (2, 3)
    with pytest.raises(ValueError, match=f"states of shape \\(2, 3\\), but this model reads \\(batch, {STATE_SIZE}\\)"):
        recommend(algo, np.full((2, 3), N_ITEMS), 3)
    with pytest.raises(ValueError, match=f"states hold item ids in \\[0, {N_ITEMS + 7}\\]"):
        recommend(algo, np.array([[0, 1, 2, 3, N_ITEMS + 7]]), 3)


@pytest.mark.parametrize("name", OURS)
def test_save_and_load_learnable_give_identical_scores(name: str, dataset, tmp_path) -> None:
    algo = config(name).create()
    fit(algo, dataset, n_steps=10)
    algo.save(str(tmp_path / "model.d3"))
    loaded = d3rlpy.load_learnable(str(tmp_path / "model.d3"))
    assert type(loaded.config) is AGENTS[name]
    observations = dataset.episodes[0].observations
    assert torch.equal(algo.scores(observations), loaded.scores(observations))


def test_same_seed_reproduces_losses(dataset) -> None:
    def losses(seed: int) -> list[dict[str, float]]:
        d3rlpy.seed(seed)
        results = fit(config("ccql", switch_step=4, negative_td=True).create(), dataset, n_steps=8, per_epoch=2)
        return [{k: v for k, v in metrics.items() if not k.startswith("time")} for _, metrics in results]

    first = losses(3)
    assert first == losses(3)
    assert first != losses(4)


def test_config_seed_fixes_the_coin(dataset) -> None:
    """With the same ``seed`` field the coin picks the same main networks whatever the global RNG."""

    def mains(global_seed: int) -> list[int]:
        d3rlpy.seed(global_seed)
        algo = config("sqn", seed=11).create()
        algo.build_with_dataset(dataset)
        return [algo.impl.draw_main() for _ in range(20)]

    assert mains(0) == mains(1)
    assert set(mains(0)) == {0, 1}


@pytest.mark.parametrize("poison", ["reward", "learning_rate"])
def test_non_finite_loss_stops_training_before_the_update(poison: str, train) -> None:
    rows = dict(train)
    overrides = {}
    if poison == "reward":
        rows["rewards"] = np.full_like(rows["rewards"], np.nan)
    else:
        overrides = {"learning_rate": 1e30}
    algo = config("sqn", **overrides).create()
    data = to_mdp(rows)
    algo.build_with_dataset(data)
    before = [parameters(n) for n in (algo.impl.modules.network1, algo.impl.modules.network2)]
    with pytest.raises(FloatingPointError, match=r"non-finite loss at step \d+: .*td_loss=nan"):
        fit(algo, data, n_steps=50)
    if poison == "reward":  # fails at step 0: nothing was updated
        assert not changed(before[0], algo.impl.modules.network1)
        assert not changed(before[1], algo.impl.modules.network2)


def test_only_the_main_network_changes_in_a_step(dataset) -> None:
    algo = config("sqn", seed=5).create()
    algo.build_with_dataset(dataset)
    coin = torch.Generator().manual_seed(5)  # the Impl's coin is seeded with the config seed
    networks = (algo.impl.modules.network1, algo.impl.modules.network2)
    for _ in range(6):
        main = int(torch.randint(2, (1,), generator=coin).item())
        before = [parameters(n) for n in networks]
        algo.update(batch_of(dataset))
        assert changed(before[main], networks[main])
        assert not changed(before[1 - main], networks[1 - main])


def test_phase_switch_changes_optimiser_and_learning_rate(dataset) -> None:
    algo = config("sqn", switch_step=3, learning_rate=0.01, learning_rate_2=0.001).create()
    algo.build_with_dataset(dataset)
    modules = algo.impl.modules
    phase1, phase2 = (modules.optim1, modules.optim2), (modules.optim1_phase2, modules.optim2_phase2)
    assert [o.optim.param_groups[0]["lr"] for o in phase1 + phase2] == [0.01, 0.01, 0.001, 0.001]

    def adam_steps(optims) -> int:
        return sum(int(o.optim.state[o.optim.param_groups[0]["params"][0]].get("step", 0)) for o in optims)

    logs = [algo.update(batch_of(dataset)) for _ in range(3)]
    assert adam_steps(phase1) == 3 and adam_steps(phase2) == 0
    assert all("actor_weight_mean" not in log for log in logs)
    logs = [algo.update(batch_of(dataset)) for _ in range(4)]
    assert adam_steps(phase1) == 3 and adam_steps(phase2) == 4
    assert all("actor_weight_mean" in log for log in logs)


PHASE2_CE = {
    "per_sample": lambda q, ce: (q * ce).mean(),
    "clipped": lambda q, ce: (q.clamp_min(0) * ce).mean(),
    "batch_mean": lambda q, ce: q.mean() * ce.mean(),
}


@pytest.mark.parametrize("rule", sorted(PHASE2_CE))
def test_phase_two_ce_follows_the_actor_weight_rule(rule: str, dataset) -> None:
    """After the switch the CE term is the rule's weighting of the main network's Q(s_i, a_i) and CE_i."""
    encoder = SASRecEncoderFactory(hidden_size=16, dropout=0.0)
    algo = config("ac", switch_step=0, seed=2, encoder_factory=encoder, actor_weight=rule).create()
    algo.build_with_dataset(dataset)
    batch = batch_of(dataset, 64)
    main_index = int(torch.randint(2, (1,), generator=torch.Generator().manual_seed(2)).item())
    main = (algo.impl.modules.network1, algo.impl.modules.network2)[main_index]
    with torch.no_grad():
        observations = torch.as_tensor(batch.observations)
        actions = torch.as_tensor(batch.actions).long().view(-1)
        state = main(observations)
        ce = cross_entropy(main.ce_head(state), actions)
        q = main.q_head(state).gather(1, actions[:, None]).view(-1)
    log = algo.update(batch)
    assert log["ce_loss"] == pytest.approx(float(PHASE2_CE[rule](q, ce)), rel=1e-5)
    assert log["actor_weight_negative_share"] == pytest.approx(float((q < 0).float().mean()))
    assert 0 < log["actor_weight_negative_share"] < 1  # fresh Q heads give both signs: the rules differ here
    assert len({round(float(weigh(q, ce)), 8) for weigh in PHASE2_CE.values()}) == 3


def test_ccql_logs_every_term_and_sums_them(dataset) -> None:
    algo = config("ccql", negative_td=True, td_weight=0.7, cql_alpha=0.3, contrastive_weight=0.2).create()
    algo.build_with_dataset(dataset)
    log = algo.update(batch_of(dataset))
    expected = {
        "loss",
        "ce_loss",
        "td_loss",
        "negative_td_loss",
        "cql_loss",
        "contrastive_loss",
        "q_logged_mean",
        "q_logged_max",
        "q_negative_mean",
        "q_negative_max",
    }
    assert expected <= set(log)
    total = log["ce_loss"] + 0.7 * (log["td_loss"] + log["negative_td_loss"]) + 0.3 * log["cql_loss"]
    assert log["loss"] == pytest.approx(total + 0.2 * log["contrastive_loss"], rel=1e-5)
    assert log["q_logged_max"] >= log["q_logged_mean"] and log["q_negative_max"] >= log["q_negative_mean"]


def test_ccql_defaults_are_the_paper_objective_with_the_reference_values() -> None:
    cfg = SASRecCCQLConfig()
    assert (cfg.learning_rate, cfg.learning_rate_2, cfg.switch_step, cfg.n_negatives) == (0.005, 0.001, None, 10)
    assert (cfg.cql_temperature, cfg.cql_alpha, cfg.contrastive_temperature) == (0.5, 0.01, 0.07)
    assert (cfg.augmentation, cfg.gamma, cfg.batch_size, cfg.clip_grad_value) == ("permutation", 0.5, 256, 1.0)
    assert (cfg.actor_weight, SQNConfig().switch_step) == ("per_sample", None)


def test_without_a_switch_ccql_never_enters_phase_two(dataset) -> None:
    algo = config("ccql").create()
    algo.build_with_dataset(dataset)
    logs = [algo.update(batch_of(dataset)) for _ in range(3)]
    assert algo.impl.modules.optim1_phase2 is None and all("actor_weight_mean" not in log for log in logs)


def test_discrete_cql_with_the_sasrec_encoder_fits_and_loads(dataset, tmp_path) -> None:
    algo = make_config("discrete_cql", n_items=N_ITEMS, hidden_size=16, batch_size=64).create()
    fit(algo, dataset, n_steps=20)
    algo.save(str(tmp_path / "cql.d3"))
    loaded = d3rlpy.load_learnable(str(tmp_path / "cql.d3"))
    observations = dataset.episodes[0].observations
    np.testing.assert_array_equal(algo.predict(observations), loaded.predict(observations))


def test_sa2c_propensity_weights_train_and_survive_save(train, dataset, tmp_path) -> None:
    popularity = np.bincount(train["actions"], minlength=N_ITEMS) / len(train["actions"])
    algo = config("sa2c", switch_step=0, propensity_smooth=1.0, behaviour_probs=popularity).create()
    algo.build_with_dataset(dataset)
    log = algo.update(batch_of(dataset))
    assert {"negative_td_loss", "actor_weight_mean"} <= set(log)
    algo.save(str(tmp_path / "sa2c.d3"))
    np.testing.assert_allclose(d3rlpy.load_learnable(str(tmp_path / "sa2c.d3")).config.behaviour_probs, popularity)


def test_score_head_q_ranks_by_n1_q_values(dataset) -> None:
    algo = config("sqn", score_head="q").create()
    fit(algo, dataset, n_steps=5)
    observations = dataset.episodes[0].observations
    actions = np.arange(len(observations)) % N_ITEMS
    scores = algo.scores(observations)
    values = algo.predict_value(observations, actions)
    np.testing.assert_allclose(values, scores[np.arange(len(actions)), actions].numpy(), rtol=1e-6)


def test_sasrec_has_no_q_head(dataset) -> None:
    with pytest.raises(ValueError, match="no Q head"):
        config("sasrec", score_head="q").create().build_with_dataset(dataset)


def test_td_terms_match_a_brute_force_double_q(dataset) -> None:
    """TD and negative TD against full-catalogue double Q computed by hand (dropout 0, so train == eval mode)."""
    seed, gamma = 9, 0.5
    algo = config("snqn", seed=seed, gamma=gamma, reward_negative=-0.3, dropout=0.0).create()
    algo.build_with_dataset(dataset)
    batch = batch_of(dataset, 64)
    networks = (algo.impl.modules.network1, algo.impl.modules.network2)
    main_index = int(torch.randint(2, (1,), generator=torch.Generator().manual_seed(seed)).item())
    main, target = networks[main_index], networks[1 - main_index]
    observations, next_observations = torch.as_tensor(batch.observations), torch.as_tensor(batch.next_observations)
    actions = torch.as_tensor(batch.actions).long().view(-1)
    rewards, terminals = torch.as_tensor(batch.rewards).view(-1), torch.as_tensor(batch.terminals).view(-1)
    negatives = torch.randint(0, N_ITEMS - 1, (64, 10), generator=torch.Generator().manual_seed(seed + 1))
    negatives = negatives + (negatives >= actions[:, None]).long()
    with torch.no_grad():
        q_main, q_target = main.q_head(main(observations)), target.q_head(target(observations))
        q_main_next, q_target_next = main.q_head(main(next_observations)), target.q_head(target(next_observations))
        expected_td, expected_negative = [], []
        for i in range(64):
            best_next = int(q_main_next[i].argmax())
            y = rewards[i] + gamma * (1 - terminals[i]) * q_target_next[i, best_next]
            expected_td.append(0.5 * (y - q_main[i, actions[i]]) ** 2)
            y_negative = -0.3 + gamma * q_target[i, int(q_main[i].argmax())]
            expected_negative.append(sum(0.5 * (y_negative - q_main[i, int(a)]) ** 2 for a in negatives[i]))
    log = algo.update(batch)
    assert log["td_loss"] == pytest.approx(float(torch.stack(expected_td).mean()), rel=1e-4)
    assert log["negative_td_loss"] == pytest.approx(float(torch.stack(expected_negative).mean()), rel=1e-4)


@pytest.mark.parametrize("name", ["sasrec", "sa2c", "ccql_ref"])
def test_log_every_changes_no_weight_and_gives_the_same_epoch_means(name: str, dataset) -> None:
    def trained(log_every: int):
        d3rlpy.seed(3)
        switch = {"switch_step": 10} if name in TWO_PHASES else {}
        algo = config(name, seed=3, log_every=log_every, **switch).create()
        metrics = fit(algo, dataset, n_steps=20, per_epoch=10)
        return algo, metrics

    (every_step, per_step), (windowed, per_window) = trained(1), trained(5)
    for network in ("network1", "network2"):
        a, b = getattr(every_step.impl.modules, network), getattr(windowed.impl.modules, network)
        if a is not None:
            assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    for (epoch, by_step), (_, by_window) in zip(per_step, per_window):
        losses = [key for key in by_step if not key.startswith("time_")]
        assert losses and set(losses) <= set(by_window)
        for key in losses:  # the mean of two 5-step means is the 10-step mean, to float32 rounding
            assert by_window[key] == pytest.approx(by_step[key], rel=1e-5, abs=1e-6), (epoch, key)


@pytest.mark.parametrize("name", OURS)
def test_update_reads_device_values_only_at_the_end_of_a_log_window(name: str, dataset, monkeypatch) -> None:
    algo = config(name, log_every=4, **({"switch_step": 2} if name in TWO_PHASES else {})).create()
    algo.build_with_dataset(dataset)
    batches = [batch_of(dataset, 16) for _ in range(8)]
    algo.update(batches[0])  # step 0 draws the block of coins (a host-side CPU generator)
    reads = count_host_reads(monkeypatch)
    logged = [algo.update(batch) for batch in batches[1:7]]  # steps 1..6; the window ends at step 3
    monkeypatch.undo()
    assert reads == ["tolist"], reads  # one read, at step 3
    assert [bool(values) for values in logged] == [False, False, True, False, False, False]
    assert "loss" in logged[2]


def test_a_non_finite_step_is_skipped_on_the_device_and_reported_at_the_window_end(train) -> None:
    rows = {**train, "rewards": np.full_like(train["rewards"], np.nan)}
    algo = config("sqn", log_every=5).create()
    data = to_mdp(rows)
    algo.build_with_dataset(data)
    before = [parameters(n) for n in (algo.impl.modules.network1, algo.impl.modules.network2)]
    with pytest.raises(FloatingPointError, match=r"non-finite loss at step 0 \(no non-finite step updated any weight"):
        fit(algo, data, n_steps=10, per_epoch=10)
    assert algo.grad_step == 4  # steps 0-3 ran (each skipped); step 4, the window's last, raised before its update
    assert not changed(before[0], algo.impl.modules.network1)
    assert not changed(before[1], algo.impl.modules.network2)


def count_host_reads(monkeypatch) -> list[str]:
    """Patch the tensor methods that read a value on the host; the returned list records each call."""
    reads: list[str] = []
    for method in ("item", "tolist", "cpu", "numpy", "__bool__", "__float__", "__int__"):
        original = getattr(torch.Tensor, method)

        def counted(self, *args, _original=original, _method=method, **kwargs):
            reads.append(_method)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, method, counted)
    return reads


def test_compile_graph_gives_the_eager_losses_and_reads_nothing_between_log_windows(dataset, monkeypatch) -> None:
    """CCQL (dropout on, so the masks must match too) for 100 steps eager and with compiled networks."""

    def trained(compile_graph: bool):
        d3rlpy.seed(3)
        algo = config("ccql", seed=3, log_every=5, compile_graph=compile_graph).create()
        return algo, fit(algo, dataset, n_steps=100, per_epoch=10)

    (_, eager), (compiled, with_graph) = trained(False), trained(True)
    assert compiled.impl._compiled  # the networks of the update ran through torch.compile
    for (epoch, expected), (_, got) in zip(eager, with_graph):
        losses = [key for key in expected if not key.startswith("time_")]
        for key in losses:
            assert got[key] == pytest.approx(expected[key], rel=1e-5, abs=1e-6), (epoch, key)
    batches = [batch_of(dataset, 64) for _ in range(4)]
    reads = count_host_reads(monkeypatch)
    logged = [compiled.update(batch) for batch in batches]  # steps 100..103 of a 5-step window ending at 104
    monkeypatch.undo()
    assert reads == [] and not any(logged)


def test_log_every_errors(dataset) -> None:
    with pytest.raises(ValueError, match="log_every must be a finite integer >= 1"):
        config("sasrec", log_every=0)
    with pytest.raises(ValueError, match="log_every=3 must divide n_steps_per_epoch=10"):
        fit(config("sasrec", log_every=3).create(), dataset, n_steps=10, per_epoch=10)
    algo = config("sqn", log_every=2, optim_factory=d3rlpy.optimizers.AdamFactory()).create()
    with pytest.raises(ValueError, match="log_every=2 needs the fused Adam optimiser"):
        algo.build_with_dataset(dataset)


def test_the_coin_blocks_give_the_sequence_of_one_draw_per_step(dataset) -> None:
    from agents.double_q import COIN_BLOCK

    algo = config("sqn", seed=9).create()
    algo.build_with_dataset(dataset)
    coin = torch.Generator().manual_seed(9)
    expected = [int(torch.randint(2, (1,), generator=coin).item()) for _ in range(COIN_BLOCK + 50)]
    assert [algo.impl.draw_main() for _ in range(COIN_BLOCK + 50)] == expected


@pytest.mark.parametrize("name", ["sasrec", "ccql"])
def test_bfloat16_autocast_lowers_the_matmuls_of_the_update_only(name: str, dataset) -> None:
    def one_update(autocast_dtype):
        d3rlpy.seed(5)
        # the materialised heads: the fused ones compute in float32 whatever the autocast
        algo = config(name, seed=5, dropout=0.0, autocast_dtype=autocast_dtype, fused_heads=False).create()
        algo.build_with_dataset(dataset)
        head_dtypes = []
        networks = [n for n in (algo.impl.modules.network1, algo.impl.modules.network2) if n is not None]
        for network in networks:  # the coin picks the main network
            network.ce_head.register_forward_hook(lambda module, inputs, output: head_dtypes.append(output.dtype))
        d3rlpy.seed(6)
        log = algo.update(batch_of(dataset, 64))
        scores = algo.impl.scores(torch.as_tensor(batch_of(dataset, 8).observations))
        return log, set(head_dtypes), scores.dtype, {p.dtype for n in networks for p in n.parameters()}

    full, full_heads, full_scores, full_params = one_update(None)
    low, low_heads, low_scores, low_params = one_update("bfloat16")
    assert full_heads == {torch.float32} and low_heads == {torch.bfloat16, torch.float32}  # update, then scoring
    assert low_scores == full_scores == torch.float32 and low_params == full_params == {torch.float32}
    for term in [key for key in full if key.endswith("_loss")]:
        assert low[term] != full[term] and low[term] == pytest.approx(full[term], rel=2e-2, abs=1e-3), term
    with pytest.raises(ValueError, match="autocast_dtype must be one of"):
        config(name, autocast_dtype="float16")
