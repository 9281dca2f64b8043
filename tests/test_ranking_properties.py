"""Property tests (hypothesis) of the ranking primitive and the metrics against brute-force Python.

Hypothesis searches the corners fixed seeds may miss: one item, k at or past the catalogue, every score equal, ties
straddling the k-th place, infinite scores, rows where the logged item is never ranked.
"""

from __future__ import annotations

import math

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from recgym.evaluation.metrics import RankCounts
from recgym.ranking import target_ranks, top_k

SCORES = st.sampled_from([0.0, 1.0, 2.0, -1.5, math.inf, -math.inf])  # few values: many ties


@st.composite
def ranked_batches(draw: st.DrawFn) -> tuple[list[list[float]], list[int], int]:
    n_items = draw(st.integers(1, 12))
    rows = draw(st.integers(1, 6))
    scores = [[draw(SCORES) for _ in range(n_items)] for _ in range(rows)]
    targets = [draw(st.integers(0, n_items - 1)) for _ in range(rows)]
    return scores, targets, draw(st.integers(1, 15))


def brute_force_slate(row: list[float], k: int) -> list[int]:
    return sorted(range(len(row)), key=lambda item: (-row[item], item))[:k]


@settings(max_examples=300, deadline=None)
@given(ranked_batches())
def test_top_k_is_the_documented_total_order(batch: tuple[list[list[float]], list[int], int]) -> None:
    scores, targets, k = batch
    slates = top_k(torch.tensor(scores), k).tolist()
    ranks = target_ranks(torch.tensor(scores), torch.tensor(targets), k).tolist()
    for row, target, slate, rank in zip(scores, targets, slates, ranks):
        expected = brute_force_slate(row, k)
        assert slate == expected
        assert rank == (expected.index(target) + 1 if target in expected else 0)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 5), st.integers(0, 1), st.floats(0, 10, allow_nan=False, allow_infinity=False)),
        min_size=1,
        max_size=40,
    ),
    st.lists(st.integers(1, 5), min_size=1, max_size=3, unique=True),
)
def test_metrics_match_their_definitions(events: list[tuple[int, int, float]], ks: list[int]) -> None:
    """HR@k: share of events ranked in 1..k; NDCG@k: mean of 1/log2(rank + 1) over them; Reward@k: their rewards."""
    counts = RankCounts(max_k=5)
    ranks, types, rewards = zip(*events)
    counts.update(torch.tensor(ranks), torch.tensor(types), torch.tensor(rewards, dtype=torch.float64))
    metrics = counts.metrics(tuple(sorted(ks)))
    for k in ks:
        for event_type, name in ((0, "click"), (1, "purchase")):
            mine = [rank for rank, kind, _ in events if kind == event_type]
            hits = [rank for rank in mine if 1 <= rank <= k]
            if not mine:
                assert math.isnan(metrics[f"{name}/hr@{k}"])
                continue
            assert metrics[f"{name}/hr@{k}"] == len(hits) / len(mine)
            assert math.isclose(metrics[f"{name}/ndcg@{k}"], sum(1 / math.log2(r + 1) for r in hits) / len(mine))
        expected_reward = sum(reward for rank, _, reward in events if 1 <= rank <= k)
        assert math.isclose(metrics[f"reward@{k}"], expected_reward, rel_tol=1e-12, abs_tol=1e-12)
