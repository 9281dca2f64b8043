"""Loss functions against hand-computed values on tiny tensors, plus gradient checks."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from agents.losses import (
    advantage_weights,
    apply_actor_weight,
    cql_loss,
    cross_entropy,
    info_nce,
    negative_td_loss,
    propensity_weights,
    td_loss,
)


def t(values, grad: bool = False) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32, requires_grad=grad)


def test_cross_entropy() -> None:
    logits = t([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]], grad=True)
    loss = cross_entropy(logits, torch.tensor([2, 1]))
    expected = [math.log(math.e + math.e**2 + math.e**3) - 3.0, math.log(3.0)]
    torch.testing.assert_close(loss, t(expected))
    loss.sum().backward()
    assert torch.isfinite(logits.grad).all()


def test_td_loss_uses_selector_argmax_target_value_and_done_mask() -> None:
    q_sa = t([1.0, 2.0], grad=True)
    next_target = t([[1.0, 5.0, 3.0], [4.0, 4.0, 4.0]], grad=True)
    next_selector = t([[0.0, 0.0, 9.0], [0.0, 0.0, 0.0]], grad=True)
    loss = td_loss(q_sa, t([0.2, 1.0]), t([0.0, 1.0]), next_target, next_selector, gamma=0.5)
    # row 0: a* = 2 (selector), y = 0.2 + 0.5 * 3 = 1.7 -> 0.5 * 0.7^2; row 1: done, y = 1 -> 0.5 * 1^2
    torch.testing.assert_close(loss, t([0.245, 0.5]))
    loss.sum().backward()
    torch.testing.assert_close(q_sa.grad, t([1.0 - 1.7, 2.0 - 1.0]))
    assert next_target.grad is None and next_selector.grad is None


def test_td_loss_accepts_column_rewards() -> None:
    loss = td_loss(t([[1.0]]), t([[0.2]]), t([[0.0]]), t([[3.0, 1.0]]), t([[1.0, 0.0]]), gamma=0.5)
    torch.testing.assert_close(loss, t([0.5 * 0.7**2]))


def test_negative_td_loss_sums_over_negatives_without_done_mask() -> None:
    q_neg = t([[0.5, -1.0], [2.0, 0.0]], grad=True)
    q_target = t([[1.0, 5.0, 3.0], [2.0, 0.0, 1.0]], grad=True)
    q_selector = t([[0.0, 0.0, 9.0], [0.0, 7.0, 0.0]])
    loss = negative_td_loss(q_neg, -1.0, q_target, q_selector, gamma=0.5)
    # row 0: y = -1 + 0.5 * 3 = 0.5 -> 0 + 0.5 * 1.5^2; row 1: y = -1 + 0.5 * 0 = -1 -> 0.5 * 3^2 + 0.5 * 1^2
    torch.testing.assert_close(loss, t([1.125, 5.0]))
    loss.sum().backward()
    torch.testing.assert_close(q_neg.grad, t([[0.0, -1.5], [3.0, 1.0]]))
    assert q_target.grad is None


def test_advantage_weights() -> None:
    q_pos = t([3.0, 0.0, 30.0], grad=True)
    q_neg = t([[1.0, 2.0], [3.0, 3.0], [0.0, 0.0]], grad=True)
    # means over {pos, negs}: 2, 2, 10
    torch.testing.assert_close(advantage_weights(q_pos, q_neg), t([1.0, 0.0, 10.0]))
    torch.testing.assert_close(advantage_weights(q_pos, q_neg, clip_min=None), t([1.0, -2.0, 20.0]))
    torch.testing.assert_close(advantage_weights(q_pos, q_neg, clip_min=-1.0, clip_max=5.0), t([1.0, -1.0, 5.0]))
    assert not advantage_weights(q_pos, q_neg).requires_grad


def test_actor_weight_rules() -> None:
    q = t([2.0, -1.0, 0.5], grad=True)
    torch.testing.assert_close(apply_actor_weight(q, "per_sample"), t([2.0, -1.0, 0.5]))
    torch.testing.assert_close(apply_actor_weight(q, "clipped"), t([2.0, 0.0, 0.5]))  # the negative Q̂ gets 0
    torch.testing.assert_close(apply_actor_weight(q, "batch_mean"), t([0.5, 0.5, 0.5]))  # (2 - 1 + 0.5) / 3
    assert not any(apply_actor_weight(q, rule).requires_grad for rule in ("per_sample", "clipped", "batch_mean"))
    with pytest.raises(ValueError, match="actor weight rule"):
        apply_actor_weight(q, "mean")


def test_batch_mean_weight_is_mean_q_times_mean_ce_in_value_and_gradient() -> None:
    """The reference AC/CO/CCQL loss mean(Q̂)·mean(CE) (reference-protocol §3.6), by hand on two samples."""
    logits = t([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]], grad=True)
    actions = torch.tensor([2, 1])
    q = t([2.0, -1.0])  # mean 0.5
    loss = (cross_entropy(logits, actions) * apply_actor_weight(q, "batch_mean")).mean()
    ce = [math.log(math.e + math.e**2 + math.e**3) - 3.0, math.log(3.0)]
    assert loss.item() == pytest.approx(0.5 * (ce[0] + ce[1]) / 2, rel=1e-6)
    loss.backward()
    # d mean(CE) / d logits_i = (softmax_i - onehot_i) / B, times mean(Q̂) = 0.5, B = 2
    total = math.e + math.e**2 + math.e**3
    softmax = [[math.e / total, math.e**2 / total, math.e**3 / total], [1 / 3, 1 / 3, 1 / 3]]
    onehot = [[0.0, 0.0, 1.0], [0.0, 1.0, 0.0]]
    expected = [[0.25 * (p - o) for p, o in zip(ps, os)] for ps, os in zip(softmax, onehot)]
    torch.testing.assert_close(logits.grad, t(expected))


def test_clipped_weight_stops_the_gradient_of_a_negative_q_sample() -> None:
    logits = t([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]], grad=True)
    actions = torch.tensor([2, 1])
    ce = cross_entropy(logits, actions)
    (ce * apply_actor_weight(t([2.0, -1.0]), "clipped")).mean().backward()
    total = math.e + math.e**2 + math.e**3
    row0 = [2.0 / 2 * v for v in (math.e / total, math.e**2 / total, math.e**3 / total - 1.0)]
    torch.testing.assert_close(logits.grad, t([row0, [0.0, 0.0, 0.0]]))


def test_propensity_weights() -> None:
    logits = t([[0.0, math.log(3.0)], [0.0, math.log(3.0)], [0.0, math.log(3.0)]], grad=True)
    actions = torch.tensor([1, 0, 1])
    # pi = [0.25, 0.75] in every row
    mu = np.array([0.5, 0.5])
    torch.testing.assert_close(propensity_weights(logits, actions, mu, smooth=1.0), t([1.5, 0.5, 1.5]))
    torch.testing.assert_close(
        propensity_weights(logits, actions, torch.tensor(mu), smooth=0.5), t([1.5**0.5, 0.5**0.5, 1.5**0.5])
    )
    torch.testing.assert_close(propensity_weights(logits, actions, mu, smooth=0.0), t([1.0, 1.0, 1.0]))
    # rows 0, 2: 0.75 / 0 clips to 10; row 1: pi(0) = 1 / (1 + e^10) ~ 4.5e-5, / 0.95, clips to 0.1
    sharp = t([[0.0, math.log(3.0)], [-5.0, 5.0], [0.0, math.log(3.0)]])
    clipped = propensity_weights(sharp, actions, np.array([0.95, 0.0]), smooth=1.0)
    torch.testing.assert_close(clipped, t([10.0, 0.1, 10.0]))
    custom = propensity_weights(logits, actions, np.array([0.05, 0.95]), smooth=1.0, clip=(0.0, 4.0))
    torch.testing.assert_close(custom, t([0.75 / 0.95, 4.0, 0.75 / 0.95]))
    assert not clipped.requires_grad


def test_cql_loss_value_and_gradient_sign() -> None:
    q_pos = t([1.0, -2.0], grad=True)
    q_neg = t([[0.0, 2.0], [-1.0, -3.0]], grad=True)
    loss = cql_loss(q_pos, q_neg, temperature=0.5)
    expected = [
        0.5 * math.log(math.exp(2.0) + math.exp(0.0) + math.exp(4.0)) - 1.0,
        0.5 * math.log(math.exp(-4.0) + math.exp(-2.0) + math.exp(-6.0)) + 2.0,
    ]
    torch.testing.assert_close(loss, t(expected))
    loss.sum().backward()
    assert (q_pos.grad < 0).all() and (q_neg.grad > 0).all()
    assert loss.min() >= 0  # logsumexp is at least the logged action's term


def _nt_xent_loop(z: list[list[float]], z_aug: list[list[float]], temperature: float) -> float:
    views = [[x / math.sqrt(sum(v * v for v in row)) for x in row] for row in z + z_aug]
    n, b = len(views), len(z)
    total = 0.0
    for i in range(n):
        sims = {j: sum(a * c for a, c in zip(views[i], views[j])) / temperature for j in range(n) if j != i}
        total += -sims[(i + b) % n] + math.log(sum(math.exp(s) for s in sims.values()))
    return total / n


def test_info_nce_matches_loop() -> None:
    z = [[1.0, 0.0], [0.0, 1.0], [1.0, -1.0]]
    z_aug = [[1.0, 1.0], [0.0, 2.0], [-1.0, 0.5]]
    zt, zat = t(z, grad=True), t(z_aug, grad=True)
    loss = info_nce(zt, zat, temperature=0.5)
    assert loss.shape == ()
    assert loss.item() == pytest.approx(_nt_xent_loop(z, z_aug, 0.5), rel=1e-5)
    assert info_nce(zat, zt, temperature=0.5).item() == pytest.approx(loss.item(), rel=1e-5)
    loss.backward()
    assert torch.isfinite(zt.grad).all() and torch.isfinite(zat.grad).all()


def test_info_nce_prefers_matching_views() -> None:
    z = torch.eye(4)
    assert info_nce(z, 3.0 * z).item() < info_nce(z, z.roll(1, dims=0)).item()
