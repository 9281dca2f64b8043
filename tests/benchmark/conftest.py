"""Fixtures of the benchmark tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory):
    """A synthetic log small enough for runs of a few steps: 300 sessions, 50 items."""
    import recgym

    return recgym.load_dataset("synthetic", n_sessions=300, n_items=50, data_dir=tmp_path_factory.mktemp("data"))
