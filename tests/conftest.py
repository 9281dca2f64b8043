"""Fixtures shared by the whole suite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real data samples beside the repository (``../shared/data``); skips when absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data samples not found at {SHARED_DATA} (only present beside the CI checkout)")
    return SHARED_DATA


@pytest.fixture(scope="module")
def one_thread() -> Iterator[None]:
    """One intra-op thread: small models run faster on it than on two busy cores, and every parallel benchmark
    unit gets one too, so their numbers are comparable."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(autouse=True)
def restore_structlog() -> Iterator[None]:
    """``--quiet`` configures structlog for the whole process; every test gets d3rlpy's configuration back after it."""
    import structlog

    saved = structlog.get_config()
    yield
    structlog.configure(**saved)
