"""Loss terms of the SASRec agents as pure functions (reference-protocol §3); callers weight and reduce them.

Every function returns one value per sample, shape (B,), except :func:`info_nce`, which is a batch scalar.
Targets, advantages and propensities are computed without gradient.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "ACTOR_WEIGHTS",
    "advantage_weights",
    "apply_actor_weight",
    "cql_loss",
    "cross_entropy",
    "info_nce",
    "negative_td_loss",
    "propensity_weights",
    "td_loss",
]


ACTOR_WEIGHTS = ("per_sample", "clipped", "batch_mean")
"""The phase-2 weight rules of :func:`apply_actor_weight`."""


def _flat(x: torch.Tensor) -> torch.Tensor:
    """(B,) or (B, 1) -> (B,): d3rlpy batches carry rewards and terminals as (B, 1)."""
    return x.reshape(-1)


def _greedy_value(q_target: torch.Tensor, q_selector: torch.Tensor) -> torch.Tensor:
    """Double-Q bootstrap value: the target's Q at the selector's argmax, (B,), no gradient."""
    best = q_selector.detach().argmax(dim=-1, keepdim=True)
    return q_target.detach().gather(-1, best).squeeze(-1)


def cross_entropy(logits: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """Supervised next-item loss -log softmax(logits)[a], (B,)."""
    return F.cross_entropy(logits, _flat(actions).long(), reduction="none")


def td_loss(
    q_sa: torch.Tensor,
    rewards: torch.Tensor,
    terminals: torch.Tensor,
    next_q_target: torch.Tensor,
    next_q_selector: torch.Tensor,
    gamma: float,
) -> torch.Tensor:
    """One-step double-Q TD loss ½(y − Q(s,a))², y = r + γ(1 − done)·Q_target(s′, argmax Q_selector(s′,·))."""
    with torch.no_grad():
        not_done = 1.0 - _flat(terminals).to(q_sa.dtype)
        y = _flat(rewards).to(q_sa.dtype) + gamma * not_done * _greedy_value(next_q_target, next_q_selector)
    return 0.5 * (y - _flat(q_sa)) ** 2


def negative_td_loss(
    q_neg: torch.Tensor,
    reward_negative: float,
    q_target: torch.Tensor,
    q_selector: torch.Tensor,
    gamma: float,
) -> torch.Tensor:
    """SNQN loss of K sampled negative actions, Σ_k ½(y − Q(s,a⁻_k))², (B,).

    Bootstrap on the current state s, with no done mask: no interaction happened for a negative action.
    """
    with torch.no_grad():
        y = reward_negative + gamma * _greedy_value(q_target, q_selector)
    return (0.5 * (y.unsqueeze(-1) - q_neg) ** 2).sum(dim=-1)


def advantage_weights(
    q_pos: torch.Tensor, q_neg: torch.Tensor, clip_min: float | None = 0.0, clip_max: float = 10.0
) -> torch.Tensor:
    """SA2C advantage A = Q(s,a) − mean(Q(s,a), Q(s,a⁻_1..K)), detached, (B,).

    Clipped to [clip_min, clip_max] unless clip_min is None (then unclipped).
    """
    q_pos = _flat(q_pos).detach()
    q_all = torch.cat([q_pos.unsqueeze(-1), q_neg.detach()], dim=-1)
    advantage = q_pos - q_all.mean(dim=-1)
    if clip_min is not None:
        advantage = advantage.clamp(clip_min, clip_max)
    return advantage


def apply_actor_weight(weights: torch.Tensor, rule: str) -> torch.Tensor:
    """Phase-2 CE weights by ``rule`` from each sample's raw weight w (Q̂(s, a), or SA2C's A·ρ), detached, (B,).

    ``"per_sample"``: w_i. ``"clipped"``: max(w_i, 0), so no sample's CE is ascended. ``"batch_mean"``: mean(w) for
    every sample, so mean_i(weight_i · CE_i) = mean(w) · mean(CE), the reference AC / CO / CCQL loss
    (reference-protocol §3.6).
    """
    weights = _flat(weights).detach()
    if rule == "per_sample":
        return weights
    if rule == "clipped":
        return weights.clamp_min(0.0)
    if rule == "batch_mean":
        return weights.mean().expand_as(weights)
    raise ValueError(f"actor weight rule must be one of {ACTOR_WEIGHTS}, got {rule!r}")


def propensity_weights(
    policy_logits: torch.Tensor,
    actions: torch.Tensor,
    behaviour_probs: torch.Tensor | np.ndarray,
    smooth: float,
    clip: tuple[float, float] = (0.1, 10.0),
) -> torch.Tensor:
    """SA2C off-policy correction clip(π(a|s) / μ(a), *clip) ** smooth, detached; smooth = 0 gives all ones.

    μ is the behaviour policy (item popularity); items with μ = 0 get the upper clip.
    """
    actions = _flat(actions).long()
    mu = torch.as_tensor(behaviour_probs, dtype=policy_logits.dtype, device=policy_logits.device)
    with torch.no_grad():
        pi = policy_logits.softmax(dim=-1).gather(-1, actions.unsqueeze(-1)).squeeze(-1)
        ratio = pi / mu[actions].clamp_min(torch.finfo(mu.dtype).tiny)
        return ratio.clamp(*clip) ** smooth


def cql_loss(q_pos: torch.Tensor, q_neg: torch.Tensor, temperature: float = 0.5) -> torch.Tensor:
    """Conservative term τ·logsumexp([Q(s,a), Q(s,a⁻_1..K)] / τ) − Q(s,a), (B,).

    Its gradient pushes the sampled negatives down and the logged action up; α is applied by the caller.
    """
    q_pos = _flat(q_pos)
    q_all = torch.cat([q_pos.unsqueeze(-1), q_neg], dim=-1)
    return temperature * torch.logsumexp(q_all / temperature, dim=-1) - q_pos


def info_nce(z: torch.Tensor, z_aug: torch.Tensor, temperature: float = 0.07) -> torch.Tensor:
    """Symmetric cosine NT-Xent (SimCLR): each of the 2B views picks its partner among the other 2B − 1; scalar."""
    batch = z.shape[0]
    views = F.normalize(torch.cat([z, z_aug], dim=0), dim=-1)
    similarity = views @ views.T / temperature
    self_pairs = torch.eye(2 * batch, dtype=torch.bool, device=z.device)
    similarity = similarity.masked_fill(self_pairs, float("-inf"))
    partner = (torch.arange(2 * batch, device=z.device) + batch) % (2 * batch)
    return F.cross_entropy(similarity, partner)
