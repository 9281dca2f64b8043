"""sample_negatives: excludes the positive, uniform over the other items, seeded, on the actions' device."""

from __future__ import annotations

import pytest
import torch

from agents.negatives import sample_negatives


def test_never_the_positive_and_in_range() -> None:
    actions = torch.arange(7).repeat(300)
    negatives = sample_negatives(actions, n_items=7, n_negatives=10, generator=torch.Generator().manual_seed(0))
    assert negatives.shape == (2100, 10) and negatives.dtype == torch.long
    assert (negatives != actions.unsqueeze(-1)).all()
    assert negatives.min() >= 0 and negatives.max() <= 6


def test_uniform_over_the_other_items() -> None:
    actions = torch.full((5000,), 2)
    negatives = sample_negatives(actions, n_items=5, n_negatives=8, generator=torch.Generator().manual_seed(1))
    counts = torch.bincount(negatives.flatten(), minlength=5).double() / negatives.numel()
    assert counts[2] == 0
    # 40 000 draws: the standard error of each share is ~0.002
    torch.testing.assert_close(counts[[0, 1, 3, 4]], torch.full((4,), 0.25, dtype=torch.float64), atol=0.01, rtol=0)


def test_seeded_and_column_actions() -> None:
    actions = torch.tensor([[0], [3], [9]])
    first = sample_negatives(actions, 10, 4, torch.Generator().manual_seed(5))
    again = sample_negatives(actions.flatten(), 10, 4, torch.Generator().manual_seed(5))
    torch.testing.assert_close(first, again)
    assert first.shape == (3, 4)


def test_device_and_validation() -> None:
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for device in devices:
        actions = torch.tensor([1, 2], device=device)
        assert sample_negatives(actions, 4, 3).device == actions.device
        assert sample_negatives(actions, 4, 3, torch.Generator().manual_seed(0)).device == actions.device
    with pytest.raises(ValueError, match="at least 2 items"):
        sample_negatives(torch.tensor([0]), 1, 3)
