"""Tests of recgym/benchmark/training_state.py: a run interrupted during training goes on from its last evaluation
and ends with the numbers and weights of an uninterrupted run, for recgym's agents (both phases, coins, negatives)
and for d3rlpy's own algorithms."""

from __future__ import annotations

import json
import random

import numpy as np
import pandas as pd
import pytest
import torch

import recgym.benchmark.runner as runner
from recgym.benchmark import run_benchmark
from recgym.benchmark.training_state import (
    TRAINING_STATE_FILE,
    read_training_state,
    restore_training_state,
    save_training_state,
)

AGENTS = {"sa2c": "sa2c", "ccql_ref": "ccql_ref", "dqn": "d3rlpy.algos:DQNConfig"}
OPTIONS = {"hidden_size": 8, "batch_size": 16, "sa2c.switch_step": 4, "ccql_ref.switch_step": 4}
SETTINGS = dict(seeds=[3], steps=8, eval_every=2, top_n_checkpoints=2, progress=False)


class Interrupted(KeyboardInterrupt):
    """What a Ctrl-C or the end of a session does to a run: nothing after it runs."""


def bench(dataset, out, labels=tuple(AGENTS), **settings):
    options = {k: v for k, v in OPTIONS.items() if "." not in k or k.partition(".")[0] in labels}
    return run_benchmark(
        dataset, {label: AGENTS[label] for label in labels}, out=out, **SETTINGS, **settings, agent_options=options
    )


def interrupt_after(monkeypatch, n_saves: int) -> None:
    """Make the n-th saved training state of the next run its last act."""
    saves = []

    def save_then_stop(*args, **kwargs):
        save_training_state(*args, **kwargs)
        saves.append(None)
        if len(saves) == n_saves:
            raise Interrupted

    monkeypatch.setattr(runner, "save_training_state", save_then_stop)


def best_weights(out, label: str) -> dict[str, torch.Tensor]:
    result = json.loads((out / "runs" / label / "seed3" / "result.json").read_text())
    path = out / "runs" / label / "seed3" / "checkpoints" / f"step{result['selected_steps'][0]}.pt"
    return torch.load(path, weights_only=True)["modules"]


@pytest.fixture(scope="module")
def uninterrupted(one_thread, tiny_dataset, tmp_path_factory):
    return bench(tiny_dataset, tmp_path_factory.mktemp("whole") / "out")


@pytest.mark.parametrize("n_saves", [2, 3], ids=["before-the-switch", "after-the-switch"])
def test_an_interrupted_run_ends_as_an_uninterrupted_one(uninterrupted, tiny_dataset, tmp_path, monkeypatch, n_saves):
    out = tmp_path / "out"
    for label in AGENTS:  # every run is interrupted once, then the command is run again
        interrupt_after(monkeypatch, n_saves)
        with pytest.raises(Interrupted):
            bench(tiny_dataset, out / label, [label])
        assert (out / label / "runs" / label / "seed3" / TRAINING_STATE_FILE).is_file()
        monkeypatch.undo()
        resumed = bench(tiny_dataset, out / label, [label])
        whole = uninterrupted.curves[uninterrupted.curves.agent == label].reset_index(drop=True)
        pd.testing.assert_frame_equal(resumed.curves, whole[resumed.curves.columns])
        run = out / label / "runs" / label / "seed3"
        result = json.loads((run / "result.json").read_text())
        assert result["resumed_at"] == [2 * n_saves]
        assert not (run / TRAINING_STATE_FILE).exists()
        expected = json.loads((uninterrupted.out_dir / "runs" / label / "seed3" / "result.json").read_text())
        assert result["test"] == expected["test"] and result["selected_steps"] == expected["selected_steps"]
        weights, expected_weights = best_weights(out / label, label), best_weights(uninterrupted.out_dir, label)
        for module in expected_weights:
            for name, tensor in expected_weights[module].items():
                assert torch.equal(weights[module][name], tensor), (label, module, name)


def test_a_state_saved_every_second_evaluation_resumes_past_lost_checkpoint_deletions(
    uninterrupted, tiny_dataset, tmp_path, monkeypatch
):
    saved_steps = []
    monkeypatch.setattr(runner, "save_training_state", lambda *args: saved_steps.append(args[4]["step"]))
    bench(tiny_dataset, tmp_path / "counted", ["sa2c"], state_every=2)
    assert saved_steps == [4, 8]
    monkeypatch.undo()

    def keep_the_latest(curve, select_by, top_n):  # a rule under which step 6 deletes step 2, listed by the state
        return sorted(curve.step, reverse=True)[:top_n]

    def stop_at_step_6(step, settings):
        if step == 6:
            raise Interrupted
        return saves_state(step, settings)

    saves_state = runner._saves_state
    monkeypatch.setattr(runner, "select_steps", keep_the_latest)
    monkeypatch.setattr(runner, "_saves_state", stop_at_step_6)
    out = tmp_path / "out"
    with pytest.raises(Interrupted):
        bench(tiny_dataset, out, ["sa2c"], state_every=2)
    assert sorted((out / "runs/sa2c/seed3/checkpoints").glob("step*.pt")) == [
        out / "runs/sa2c/seed3/checkpoints" / f"step{step}.pt" for step in (4, 6)
    ]
    monkeypatch.setattr(runner, "_saves_state", saves_state)
    resumed = bench(tiny_dataset, out, ["sa2c"], state_every=2)
    whole = uninterrupted.curves[uninterrupted.curves.agent == "sa2c"].reset_index(drop=True)
    pd.testing.assert_frame_equal(resumed.curves, whole[resumed.curves.columns])
    result = json.loads((out / "runs/sa2c/seed3/result.json").read_text())
    assert result["resumed_at"] == [4] and result["selected_steps"] == [8, 6]


def test_without_saved_states_an_interrupted_run_starts_over(uninterrupted, tiny_dataset, tmp_path, monkeypatch):
    def stop_at_step_4(step, settings):  # after the evaluation of step 2 went by without a save
        if step == 4:
            raise Interrupted
        return saves_state(step, settings)

    saves_state = runner._saves_state
    monkeypatch.setattr(runner, "_saves_state", stop_at_step_4)
    with pytest.raises(Interrupted):
        bench(tiny_dataset, tmp_path / "out", ["dqn"], state_every=0)
    monkeypatch.undo()
    assert not (tmp_path / "out/runs/dqn/seed3" / TRAINING_STATE_FILE).exists()
    monkeypatch.setattr(runner, "save_training_state", lambda *args: pytest.fail("state_every=0 saves no state"))
    resumed = bench(tiny_dataset, tmp_path / "out", ["dqn"], state_every=0)
    whole = uninterrupted.curves[uninterrupted.curves.agent == "dqn"].reset_index(drop=True)
    pd.testing.assert_frame_equal(resumed.curves, whole[resumed.curves.columns])
    assert json.loads((tmp_path / "out/runs/dqn/seed3/result.json").read_text())["resumed_at"] == []


def test_an_uninterrupted_run_keeps_no_state(uninterrupted):
    assert not list(uninterrupted.out_dir.glob(f"runs/*/seed*/{TRAINING_STATE_FILE}"))
    results = [json.loads(p.read_text()) for p in uninterrupted.out_dir.glob("runs/*/seed*/result.json")]
    assert [r["resumed_at"] for r in results] == [[]] * len(AGENTS)


def test_the_state_restores_every_generator(one_thread, tiny_dataset, tmp_path):
    from agents import SA2CConfig

    algo = SA2CConfig(batch_size=8, seed=0).create()
    algo.build_with_dataset(tiny_dataset.to_d3rlpy("train"))
    impl = algo.impl
    impl.draw_main()  # a coin block is drawn and one coin used: the rest must survive the state

    def draws():
        return (
            random.random(), np.random.rand(), torch.rand(1).item(), [impl.draw_main() for _ in range(5)],
            torch.rand(1, generator=impl.generator).item(), torch.rand(1, generator=impl.candidate_generator).item(),
        )  # fmt: skip

    path = tmp_path / TRAINING_STATE_FILE
    save_training_state(path, algo, "digest", "cpu", {"step": 0})
    first = draws()
    assert restore_training_state(algo, read_training_state(path, "digest", "cpu")) == {"step": 0}
    assert draws() == first


def test_a_state_of_another_config_float_setting_or_a_damaged_one_starts_the_run_over(tiny_dataset, tmp_path):
    from agents import SASRecConfig

    algo = SASRecConfig(batch_size=8).create()
    algo.build_with_dataset(tiny_dataset.to_d3rlpy("train"))
    path = tmp_path / TRAINING_STATE_FILE
    save_training_state(path, algo, "digest", "cpu", {})
    with pytest.warns(UserWarning, match="belongs to config digest, not other"):
        assert read_training_state(path, "other", "cpu") is None
    threads = torch.get_num_threads()
    torch.set_num_threads(threads + 1)  # BLAS splits its sums otherwise: other floats
    try:
        with pytest.warns(UserWarning, match=f"'torch_threads': {threads}, .*floats differ"):
            assert read_training_state(path, "digest", "cpu") is None
    finally:
        torch.set_num_threads(threads)
    assert read_training_state(path, "digest", "cpu") is not None
    path.write_bytes(b"partial")
    with pytest.warns(UserWarning, match="cannot be read"):
        assert read_training_state(path, "digest", "cpu") is None
    assert read_training_state(tmp_path / "absent.pt", "digest", "cpu") is None
