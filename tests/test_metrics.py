"""recgym.evaluation.metrics against brute-force Python loops and hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from recgym.evaluation.metrics import RankCounts
from recgym.ranking import target_ranks, top_k


def brute_force_slate(row: list[float], k: int) -> list[int]:
    """Higher score first, equal scores by lower item id: the documented tie rule."""
    return sorted(range(len(row)), key=lambda item: (-row[item], item))[:k]


@pytest.mark.parametrize("n_items,k,levels", [(7, 3, 3), (12, 5, 2), (30, 10, 0), (6, 9, 2), (50, 20, 4), (5, 5, 1)])
def test_top_k_and_ranks_match_brute_force(n_items: int, k: int, levels: int) -> None:
    rng = np.random.default_rng(n_items * 100 + k)
    # levels > 0: integer scores with many ties (also across the k-th place); 0: continuous scores
    raw = rng.integers(0, levels, (200, n_items)) if levels else rng.normal(size=(200, n_items))
    scores = torch.as_tensor(raw, dtype=torch.float32)
    targets = torch.as_tensor(rng.integers(0, n_items, 200))
    slates = top_k(scores, k)
    ranks = target_ranks(scores, targets, k)
    for row, slate, target, rank in zip(scores.tolist(), slates.tolist(), targets.tolist(), ranks.tolist()):
        expected = brute_force_slate(row, k)
        assert slate == expected
        assert rank == (expected.index(target) + 1 if target in expected else 0)


def test_top_k_handles_infinities_and_integer_scores() -> None:
    scores = torch.tensor([[-math.inf, 1.0, -math.inf, math.inf, -math.inf]])
    assert top_k(scores, 4).tolist() == [[3, 1, 0, 2]]
    assert top_k(torch.tensor([[2, 2, 5, 2]]), 2).tolist() == [[2, 0]]


def test_all_equal_scores_recommend_lowest_ids() -> None:
    assert top_k(torch.zeros(2, 10), 3).tolist() == [[0, 1, 2], [0, 1, 2]]
    assert target_ranks(torch.zeros(3, 10), torch.tensor([0, 2, 3]), 3).tolist() == [1, 3, 0]


def test_nan_scores_are_rejected() -> None:
    scores = torch.rand(3, 8)
    scores[2, 5] = math.nan
    with pytest.raises(ValueError, match="NaN.*row 2"):
        top_k(scores, 2)


@pytest.mark.parametrize("bad_k", [0, -1])
def test_bad_k_is_rejected(bad_k: int) -> None:
    with pytest.raises(ValueError, match="k must be"):
        top_k(torch.rand(2, 4), bad_k)


def test_hand_computed_metrics() -> None:
    # clicks at ranks 1, 3, miss; purchases at rank 2 and miss; rewards 0.2 per click, 1.0 per purchase
    counts = RankCounts(max_k=3)
    counts.update(torch.tensor([1, 3, 0]), torch.tensor([0, 0, 0]), torch.tensor([0.25, 0.25, 0.25]))
    counts.update(torch.tensor([2, 0]), torch.tensor([1, 1]), torch.tensor([1.0, 1.0]))
    m = counts.metrics((1, 2, 3))
    assert m["click/hr@1"] == 1 / 3 and m["click/hr@2"] == 1 / 3 and m["click/hr@3"] == 2 / 3
    assert m["click/ndcg@3"] == pytest.approx((1.0 + 0.5) / 3, abs=1e-15)  # 1/log2(2) + 1/log2(4)
    assert m["purchase/hr@1"] == 0.0 and m["purchase/hr@2"] == 0.5
    assert m["purchase/ndcg@2"] == pytest.approx(1 / math.log2(3) / 2, abs=1e-15)
    assert m["reward@1"] == 0.25 and m["reward@2"] == 1.25 and m["reward@3"] == 1.5
    assert (m["n_click_events"], m["n_purchase_events"], m["n_events"]) == (3, 2, 5)


def test_event_type_without_events_gives_nan() -> None:
    counts = RankCounts(max_k=2)
    counts.update(torch.tensor([1]), torch.tensor([0]), torch.tensor([0.2]))
    m = counts.metrics((2,))
    assert math.isnan(m["purchase/hr@2"]) and math.isnan(m["purchase/ndcg@2"])
    assert m["click/hr@2"] == 1.0


def test_accumulation_does_not_depend_on_batching() -> None:
    rng = np.random.default_rng(0)
    n = 1000
    ranks = torch.as_tensor(rng.integers(0, 21, n))
    types = torch.as_tensor(rng.integers(0, 2, n))
    rewards = torch.where(types == 1, 1.0, 0.2).float()
    whole = RankCounts(20)
    whole.update(ranks, types, rewards)
    pieces = RankCounts(20)
    for start in range(0, n, 37):
        pieces.update(ranks[start : start + 37], types[start : start + 37], rewards[start : start + 37])
    assert whole.metrics((5, 10, 20)) == pieces.metrics((5, 10, 20))
    hits_at_20 = (ranks > 0).numpy()
    expected_reward = math.fsum(float(r) for r, hit in zip(rewards.numpy(), hits_at_20) if hit)
    assert whole.metrics((20,))["reward@20"] == expected_reward


def test_bad_inputs_to_counts_are_rejected() -> None:
    counts = RankCounts(5)
    with pytest.raises(ValueError, match="event types"):
        counts.update(torch.tensor([1]), torch.tensor([2]), torch.tensor([1.0]))
    with pytest.raises(ValueError, match="ranks"):
        counts.update(torch.tensor([6]), torch.tensor([0]), torch.tensor([1.0]))
    with pytest.raises(ValueError, match="k must be in"):
        counts.metrics((6,))
