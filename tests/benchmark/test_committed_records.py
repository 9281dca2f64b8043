"""The committed results folders keep their config hashes: every trained agent they record, rebuilt from its
recorded class and parameters, is described today exactly as it was (so the same command resumes them)."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest

from agents.step_switches import config_from_record
from recgym.benchmark.specs import ResolvedAgent, describe_agent
from recgym.benchmark.store import config_hash

RESULTS = Path(__file__).resolve().parents[2] / "docs" / "results"
FOLDERS = sorted(path for path in RESULTS.glob("*/config.json") if not (path.parent / "tune.db").exists())
"""Benchmark folders (a ``recgym tune`` folder records agent names and search spaces, checked by its own test)."""
TUNE_FOLDERS = sorted(path for path in RESULTS.glob("*/config.json") if (path.parent / "tune.db").exists())


@pytest.mark.parametrize("path", FOLDERS, ids=lambda path: path.parent.name)
def test_recorded_agents_are_described_as_they_were(path: Path) -> None:
    recorded = json.loads(path.read_text())
    assert config_hash(recorded["config"]) == recorded["config_hash"]
    for label, agent in recorded["config"]["agents"].items():
        if "class" not in agent:  # a baseline
            continue
        module, name = agent["class"].split(":")
        config = config_from_record(getattr(importlib.import_module(module), name), agent["params"])
        described = describe_agent(ResolvedAgent(label, agent["spec"], config))
        assert described == agent, f"{label}: recorded {agent}, described today {described}"


@pytest.mark.parametrize("path", TUNE_FOLDERS, ids=lambda path: path.parent.name)
def test_recorded_tune_folders_keep_their_hash(path: Path) -> None:
    recorded = json.loads(path.read_text())
    assert config_hash(recorded["config"]) == recorded["config_hash"]
