"""augment: each kind keeps right padding and stays within the valid prefix, checked row by row in plain Python."""

from __future__ import annotations

import itertools

import pytest
import torch

from agents.augment import augment

PAD = 50


def _states() -> torch.Tensor:
    rows = [[1, 2, 3, 4, 5, 6, 7, 8], [9, 9, 4], [11], [], [20, 21, 22, 23, 24]]
    return torch.tensor([r + [PAD] * (8 - len(r)) for r in rows])


def _prefix(row: torch.Tensor) -> list[int]:
    values = row.tolist()
    length = sum(v != PAD for v in values)
    assert values[length:] == [PAD] * (len(values) - length), f"not right-padded: {values}"
    return values[:length]


def _is_subsequence(part: list[int], whole: list[int]) -> bool:
    remaining = iter(whole)
    return all(item in remaining for item in part)


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_permutation_keeps_the_multiset() -> None:
    states = _states()
    out = augment(states, PAD, "permutation", _gen(0))
    assert out.shape == states.shape and out.dtype == states.dtype
    for row, new in zip(states, out):
        assert sorted(_prefix(new)) == sorted(_prefix(row))
    assert not torch.equal(out, states)


def test_permutation_reaches_every_order() -> None:
    states = torch.tensor([[1, 2, 3, PAD]]).repeat(600, 1)
    out = augment(states, PAD, "permutation", _gen(1))
    seen = {tuple(_prefix(r)) for r in out}
    assert seen == set(itertools.permutations([1, 2, 3]))


@pytest.mark.parametrize("ratio", [0.3, 0.6, 1.0])
def test_crop_is_a_contiguous_window(ratio: float) -> None:
    states = _states().repeat(20, 1)
    out = augment(states, PAD, "crop", _gen(2), crop_ratio=ratio)
    for row, new in zip(states, out):
        prefix, window = _prefix(row), _prefix(new)
        assert len(window) == (max(1, int(len(prefix) * ratio)) if prefix else 0)
        assert any(prefix[s : s + len(window)] == window for s in range(len(prefix) - len(window) + 1))


def test_crop_starts_vary() -> None:
    states = torch.tensor([[1, 2, 3, 4, 5, PAD]]).repeat(200, 1)
    out = augment(states, PAD, "crop", _gen(3), crop_ratio=0.4)
    assert {tuple(_prefix(r)) for r in out} == {(1, 2), (2, 3), (3, 4), (4, 5)}


def test_mask_drops_items_and_closes_up() -> None:
    states = _states().repeat(20, 1)
    out = augment(states, PAD, "mask", _gen(4), mask_prob=0.5)
    lengths = []
    for row, new in zip(states, out):
        prefix, kept = _prefix(row), _prefix(new)
        assert _is_subsequence(kept, prefix)
        assert (len(kept) >= 1) == bool(prefix)
        lengths.append(len(kept))
    assert sum(lengths) < int((states != PAD).sum())


def test_mask_extremes() -> None:
    states = _states()
    torch.testing.assert_close(augment(states, PAD, "mask", _gen(5), mask_prob=0.0), states)
    out = augment(states, PAD, "mask", _gen(5), mask_prob=1.0)
    for row, new in zip(states, out):
        kept = _prefix(new)
        assert len(kept) == min(1, len(_prefix(row)))
        assert set(kept) <= set(_prefix(row))


@pytest.mark.parametrize("kind", ["permutation", "crop", "mask"])
def test_seeded_all_pad_and_float_states(kind: str) -> None:
    states = _states()
    first = augment(states, PAD, kind, _gen(7))
    torch.testing.assert_close(first, augment(states, PAD, kind, _gen(7)))
    assert (first[3] == PAD).all()
    as_float = augment(states.float(), PAD, kind, _gen(7))
    assert as_float.dtype == torch.float32
    torch.testing.assert_close(as_float.long(), first)


def test_unknown_kind() -> None:
    with pytest.raises(ValueError, match="unknown augmentation"):
        augment(_states(), PAD, "reverse")  # type: ignore[arg-type]


def test_reorder_shuffles_one_contiguous_window_of_the_prefix() -> None:
    from agents.augment import augment as _augment

    pad = 99
    states = torch.tensor([list(range(10)), [5, 6, 7, 8, 9] + [pad] * 5, [pad] * 10, [3] + [pad] * 9] * 50)
    out = _augment(states, pad, "reorder", torch.Generator().manual_seed(0), reorder_ratio=0.5)
    for row, new in zip(states.tolist(), out.tolist()):
        length = sum(item != pad for item in row)
        assert sorted(new) == sorted(row) and new[length:] == row[length:]  # same items, pads untouched
        moved = [t for t in range(length) if new[t] != row[t]]
        if moved:  # the moved positions lie in one window of floor(0.5 * length) items
            assert moved[-1] - moved[0] < max(1, length // 2)
    assert (out != states).any()


def test_random_augment_gives_each_row_one_of_the_kinds() -> None:
    from agents.augment import random_augment

    pad = 99
    states = torch.tensor([[1, 2, 3, 4, 5, 6, pad, pad]] * 200)
    out = random_augment(states, pad, ("crop", "reorder"), torch.Generator().manual_seed(1), crop_ratio=0.5)
    lengths = (out != pad).sum(-1)
    cropped = lengths == 3
    assert 50 < int(cropped.sum()) < 150  # about half of the rows each
    assert ((lengths == 6) | cropped).all()
    assert all(sorted(row[:6]) == [1, 2, 3, 4, 5, 6] for row in out[~cropped].tolist())
