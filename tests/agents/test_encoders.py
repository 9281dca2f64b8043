"""SASRecEncoder: padding invariance, multi-head attention against a loop reference, d3rlpy integration."""

from __future__ import annotations

import math

import d3rlpy
import numpy as np
import pytest
import torch

import recgym
from agents import SASRecEncoder, SASRecEncoderFactory
from agents.encoders.sasrec import _LN_EPS
from recgym.evaluation.offline import PopularityPolicy

N_ITEMS, PAD = 30, 30


def _encoder(state_size: int = 6, n_heads: int = 1, n_blocks: int = 1, hidden: int = 8) -> SASRecEncoder:
    torch.manual_seed(0)
    return SASRecEncoder(N_ITEMS, state_size, hidden_size=hidden, n_blocks=n_blocks, n_heads=n_heads).eval()


def _layer_norm(x: torch.Tensor, norm: torch.nn.LayerNorm) -> torch.Tensor:
    mean = x.mean()
    var = ((x - mean) ** 2).mean()
    return (x - mean) / torch.sqrt(var + _LN_EPS) * norm.weight + norm.bias


def _reference(encoder: SASRecEncoder, row: list[int], n_heads: int) -> torch.Tensor:
    """The documented block form, one position, one head and one key at a time (eval mode, real items only)."""
    length = len(row)
    d = encoder.hidden_size
    head = d // n_heads
    e = [encoder.item_embedding.weight[item] + encoder.position_embedding.weight[t] for t, item in enumerate(row)]
    for block in encoder.blocks:
        att = block.attention
        q = [_layer_norm(x, block.attention_norm) for x in e]
        queries = [att.query(x) for x in q]
        keys, values = [att.key(x) for x in e], [att.value(x) for x in e]
        new = []
        for i in range(length):
            out = []
            for h in range(n_heads):
                part = slice(h * head, (h + 1) * head)
                scores = [float(queries[i][part] @ keys[j][part]) / math.sqrt(head) for j in range(i + 1)]
                top = max(scores)
                weights = [math.exp(s - top) for s in scores]
                total = sum(weights)
                out.append(sum(w / total * values[j][part] for j, w in enumerate(weights)))
            a = torch.cat(out) + q[i]
            n = _layer_norm(a, block.ffn_norm)
            new.append(block.ffn(n) + n)
        e = new
    return _layer_norm(e[-1], encoder.final_norm)


@pytest.mark.parametrize("n_heads", [1, 2, 4])
def test_matches_loop_reference(n_heads: int) -> None:
    encoder = _encoder(n_heads=n_heads, n_blocks=2)
    rows = [[3, 7, 1], [5], [2, 9, 4, 4, 8, 0]]
    states = torch.tensor([r + [PAD] * (6 - len(r)) for r in rows])
    with torch.no_grad():
        out = encoder(states)
        expected = torch.stack([_reference(encoder, r, n_heads) for r in rows])
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-4)


def test_heads_change_the_function() -> None:
    one, two = _encoder(n_heads=1), _encoder(n_heads=2)
    two.load_state_dict(one.state_dict())
    states = torch.tensor([[3, 7, 1, 2, PAD, PAD]])
    with torch.no_grad():
        assert not torch.allclose(one(states), two(states))


def test_padding_is_invisible() -> None:
    encoder = _encoder()
    states = torch.tensor([[3, 7, PAD, PAD, PAD, PAD], [1, 2, 3, 4, 5, PAD]])
    with torch.no_grad():
        full = encoder(states)
        # the pad row's weights never reach the output
        encoder.item_embedding.weight[PAD] = torch.randn(encoder.hidden_size)
        torch.testing.assert_close(encoder(states), full)


def test_rows_are_independent() -> None:
    encoder = _encoder()
    states = torch.tensor([[3, 7, PAD, PAD, PAD, PAD], [1, 2, 3, 4, 5, 6]])
    with torch.no_grad():
        torch.testing.assert_close(encoder(states)[:1], encoder(states[:1]))


def test_all_pad_state_gives_final_norm_bias() -> None:
    encoder = _encoder()
    with torch.no_grad():
        encoder.final_norm.bias.normal_()
        out = encoder(torch.full((2, 6), PAD))
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out, encoder.final_norm.bias.expand(2, -1))


def test_float_ids_and_training_mode() -> None:
    encoder = _encoder()
    states = torch.tensor([[3, 7, 1, PAD, PAD, PAD], [PAD] * 6])
    with torch.no_grad():
        torch.testing.assert_close(encoder(states.float()), encoder(states))
    encoder.train()
    out = encoder(states.float())
    out.sum().backward()
    assert torch.isfinite(out).all()
    assert all(torch.isfinite(p.grad).all() for p in encoder.parameters() if p.grad is not None)
    assert torch.count_nonzero(encoder.item_embedding.weight.grad[PAD]) == 0


def test_init_and_validation() -> None:
    encoder = _encoder(hidden=64)
    assert encoder.item_embedding.weight.shape == (N_ITEMS + 1, 64)
    assert encoder.item_embedding.weight[:-1].std().item() == pytest.approx(0.01, rel=0.1)
    with pytest.raises(ValueError, match="divisible"):
        SASRecEncoder(N_ITEMS, 6, hidden_size=10, n_heads=4)
    for width in (5, 7):  # another dataset's states: refused, not read as a window with more or fewer pads
        with pytest.raises(ValueError, match=rf"states of shape \(1, {width}\), but this model reads \(batch, 6\)"):
            encoder(torch.zeros(1, width))
    for training in (True, False):
        with pytest.raises(ValueError, match=r"reads \(batch, 6\)"):
            encoder.train(training)(torch.zeros(3, 5))
    with pytest.raises(ValueError, match=r"item ids in \[0, 31\].*items 0..29 and the pad id 30"):
        encoder.eval()(torch.tensor([[0, N_ITEMS + 1, PAD, PAD, PAD, PAD]]))
    encoder.eval()(torch.tensor([[0, N_ITEMS - 1, PAD, PAD, PAD, PAD]]))  # in range


def test_factory() -> None:
    factory = SASRecEncoderFactory(n_items=N_ITEMS, hidden_size=16, n_heads=2)
    assert SASRecEncoderFactory.get_type() == "sasrec"
    encoder = factory.create((6,))
    assert encoder.state_size == 6 and encoder.hidden_size == 16
    # d3rlpy measures the output width on torch.rand ids (all cast to item 0)
    assert d3rlpy.models.torch.encoders.compute_output_size([(6,)], encoder) == 16
    with pytest.raises(ValueError, match="n_items"):
        SASRecEncoderFactory().create((6,))


def test_discrete_cql_fit_save_load(tmp_path) -> None:
    rng = np.random.default_rng(0)
    n = 64
    states = rng.integers(0, N_ITEMS + 1, (n, 5)).astype(np.float32)
    dataset = d3rlpy.dataset.MDPDataset(
        states,
        rng.integers(0, N_ITEMS, n),
        rng.random(n).astype(np.float32),
        (np.arange(n) % 8 == 7).astype(np.float32),
        action_size=N_ITEMS,
    )
    factory = SASRecEncoderFactory(n_items=N_ITEMS, hidden_size=8, n_heads=2)
    algo = d3rlpy.algos.DiscreteCQLConfig(encoder_factory=factory, batch_size=8).create(device="cpu:0")
    algo.fit(
        dataset,
        n_steps=4,
        n_steps_per_epoch=4,
        show_progress=False,
        save_interval=100,
        logger_adapter=d3rlpy.logging.NoopAdapterFactory(),
    )
    algo.save(tmp_path / "cql.d3")
    loaded = d3rlpy.load_learnable(str(tmp_path / "cql.d3"))
    assert loaded.config.encoder_factory == factory
    np.testing.assert_array_equal(loaded.predict(states[:8]), algo.predict(states[:8]))
    # d3rlpy's own predict and fit, called directly, refuse another dataset's states with one line
    with pytest.raises(ValueError, match=r"states of shape \(8, 3\), but this model reads \(batch, 5\)"):
        algo.predict(states[:8, :3])
    beyond = states[:8].copy()
    beyond[0, 0] = N_ITEMS + 5
    with pytest.raises(ValueError, match=r"item ids in \[\d+, 35\], but this model knows items 0..29"):
        algo.predict(beyond)
    narrow = d3rlpy.dataset.MDPDataset(
        states[:, :3], rng.integers(0, N_ITEMS, n),
        np.zeros(n, np.float32), (np.arange(n) % 8 == 7).astype(np.float32), action_size=N_ITEMS,
    )  # fmt: skip
    with pytest.raises(ValueError, match=r"but this model reads \(batch, 5\)"):
        algo.fit(narrow, n_steps=1, n_steps_per_epoch=1, show_progress=False,
                 logger_adapter=d3rlpy.logging.NoopAdapterFactory())  # fmt: skip
    # ids of a larger catalogue in training: nothing is checked ahead, the lookup's own error becomes one line
    wide = d3rlpy.dataset.MDPDataset(
        np.full((n, 5), N_ITEMS + 7, np.float32),
        rng.integers(0, N_ITEMS, n),
        np.zeros(n, np.float32),
        (np.arange(n) % 8 == 7).astype(np.float32),
        action_size=N_ITEMS,
    )
    with pytest.raises(ValueError, match=r"item ids outside this model's items 0..29 and pad id 30"):
        algo.fit(wide, n_steps=1, n_steps_per_epoch=1, show_progress=False,
                 logger_adapter=d3rlpy.logging.NoopAdapterFactory())  # fmt: skip


# --- every backbone: padding, all-pad states, causality, factories, training, model files ---

from agents import ENCODERS, make_config  # noqa: E402
from agents.encoders import ItemEncoderFactory, with_backbone  # noqa: E402

CAUSAL = ("sasrec", "gru", "nextitnet")


def _backbone(name: str, state_size: int = 6) -> torch.nn.Module:
    torch.manual_seed(0)
    return ENCODERS[name](n_items=N_ITEMS, hidden_size=8).create((state_size,)).eval()


@pytest.mark.parametrize("name", sorted(ENCODERS))
def test_every_encoder_ignores_padding(name: str) -> None:
    encoder = _backbone(name)
    states = torch.tensor([[3, 7, PAD, PAD, PAD, PAD], [1, 2, 3, 4, 5, PAD], [4, 4, 9, 0, 2, 8]])
    with torch.no_grad():
        full = encoder(states)
        torch.testing.assert_close(encoder(states[:1]), full[:1])  # rows are independent
        encoder.item_embedding.weight[PAD] = torch.randn(encoder.item_embedding.weight.shape[1])
        torch.testing.assert_close(encoder(states), full)  # the pad row never reaches the output
        torch.testing.assert_close(encoder(states.float()), full)


@pytest.mark.parametrize("name", sorted(ENCODERS))
def test_every_encoder_is_safe_on_all_pad_states(name: str) -> None:
    encoder = _backbone(name).train()
    states = torch.tensor([[PAD] * 6, [2, 5, PAD, PAD, PAD, PAD]]).float()
    out = encoder(states)
    out.sum().backward()
    assert torch.isfinite(out).all()
    assert all(torch.isfinite(p.grad).all() for p in encoder.parameters() if p.grad is not None)
    assert torch.count_nonzero(encoder.item_embedding.weight.grad[PAD]) == 0


@pytest.mark.parametrize("name", CAUSAL)
def test_causal_encoders_never_look_ahead(name: str) -> None:
    """Position t of a sequence is the state of its prefix of length t + 1, whatever follows."""
    encoder = _backbone(name)
    rng = np.random.default_rng(0)
    prefix = [3, 7, 1]
    rows = torch.tensor([prefix + list(rng.integers(0, N_ITEMS, 3)) for _ in range(4)])
    with torch.no_grad():
        ids, valid = rows, rows != PAD
        outputs = encoder.sequence(ids, valid)[:, len(prefix) - 1]
        state = encoder(torch.tensor([prefix + [PAD] * 3]))
    torch.testing.assert_close(outputs, state.expand(4, -1))


@pytest.mark.parametrize("name", sorted(ENCODERS))
def test_factories_fill_and_keep_their_fields(name: str) -> None:
    factory = ENCODERS[name](n_items=N_ITEMS, hidden_size=16)
    assert isinstance(factory, ItemEncoderFactory) and d3rlpy.models.torch.encoders.compute_output_size(
        [(6,)], factory.create((6,))
    ) == (16 * 3 + 16 if name == "caser" else 16)  # Caser: 16 filters x 3 heights + one vertical map
    with pytest.raises(ValueError, match="n_items"):
        ENCODERS[name]().create((6,))
    swapped = with_backbone(SASRecEncoderFactory(n_items=N_ITEMS, hidden_size=16, dropout=0.3), name)
    assert type(swapped) is ENCODERS[name] and (swapped.n_items, swapped.hidden_size) == (N_ITEMS, 16)
    config = make_config("sqn", encoder=name)  # n_items from the action size, as for SASRec
    algo = config.create(device="cpu:0")
    algo.create_impl((6,), N_ITEMS)
    assert algo.impl._modules.network1.encoder.pad_id == N_ITEMS


@pytest.fixture(scope="module")
def small_world(tmp_path_factory):
    return recgym.load_dataset("synthetic", n_sessions=1500, n_items=100, seed=0, data_dir=tmp_path_factory.mktemp("d"))


@pytest.mark.parametrize("agent", ["sasrec", "sqn"])
@pytest.mark.parametrize("name", sorted(ENCODERS))
def test_every_encoder_learns_above_popularity(name: str, agent: str, small_world, tmp_path) -> None:
    """A short run beats popularity clearly on click HR@10, and the model file reloads to the same scores."""
    d3rlpy.seed(0)
    algo = make_config(agent, n_items=small_world.n_items, encoder=name, batch_size=64, seed=0).create(device="cpu")
    algo.fit(
        small_world.to_d3rlpy("train"), n_steps=300, n_steps_per_epoch=300, show_progress=False,
        logger_adapter=d3rlpy.logging.NoopAdapterFactory(), save_interval=10**9,
    )  # fmt: skip
    trained = recgym.evaluate(algo, small_world, "val")["click/hr@10"]
    popular = recgym.evaluate(PopularityPolicy(small_world), small_world, "val")["click/hr@10"]
    assert trained > 1.5 * popular, (trained, popular)
    loaded = recgym.load_model(recgym.save_model(algo, tmp_path / "model.pt"))
    assert loaded.config.encoder_factory == algo.config.encoder_factory
    observations = small_world.split("val").observations[:64]
    torch.testing.assert_close(loaded.scores(observations), algo.scores(observations))
