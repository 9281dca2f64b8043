"""``recgym diff``: what differs between two runs, against the configs that made them."""

from __future__ import annotations

import pytest

from recgym.benchmark import run_benchmark
from recgym.benchmark.results import describe_run, diff_runs
from recgym.benchmark.specs import BenchmarkError
from recgym.cli import main


@pytest.fixture(scope="module")
def folder(tiny_dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("diff")
    run_benchmark(
        tiny_dataset, ["sasrec", "sqn"], seeds=2, steps=1, eval_every=1, progress=False,
        agent_options={"hidden_size": 8, "sqn.gamma": 0.7}, out=out,
    )  # fmt: skip
    return out


def test_two_seeds_of_one_agent_differ_in_the_seed_only(folder):
    assert diff_runs(folder / "runs/sasrec/seed0", folder / "runs/sasrec/seed1") == [("seed", 0, 1)]
    described = describe_run(folder / "runs/sqn/seed0")
    assert described["agent.params.gamma"] == 0.7 and described["steps"] == 1 and described["float.device"] == "cpu"


def test_two_agents_differ_in_their_agent_fields(folder, capsys):
    differences = dict(
        (key, (a, b)) for key, a, b in diff_runs(folder / "runs/sasrec/seed0", folder / "runs/sqn/seed0")
    )
    assert differences["agent.spec"] == ("sasrec", "sqn")
    assert differences["agent.params.gamma"][1] == 0.7
    assert not any(
        key.startswith(("dataset", "steps", "float")) for key in differences
    )  # the same folder, the same CPU
    assert main(["diff", str(folder / "runs/sasrec/seed0"), str(folder / "runs/sqn/seed0")]) == 0
    assert 'agent.spec: "sasrec" -> "sqn"' in capsys.readouterr().out


def test_not_a_run_folder_is_one_line(folder, capsys):
    with pytest.raises(BenchmarkError, match="not a run folder"):
        describe_run(folder)
    assert main(["diff", str(folder / "runs/sasrec/seed0"), str(folder / "runs/dqn/seed0")]) == 2
    assert "has no agent 'dqn'" in capsys.readouterr().err
