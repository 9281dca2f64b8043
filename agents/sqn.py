"""SQN and SASRec-AC: CE + w·TD on two double-Q networks, then optionally Q-weighted CE (reference §3.3, §3.6).

The agent names ``sqn`` (no switch) and ``ac`` (the reference ``SASRec_ac.py`` schedule) are presets of this config.
"""

from __future__ import annotations

import dataclasses

from d3rlpy.base import DeviceArg, register_learnable

from agents.double_q import DoubleQConfig, DoubleQImpl, SASRecAlgoBase

__all__ = ["SQN", "SQNConfig"]


@dataclasses.dataclass()
class SQNConfig(DoubleQConfig):
    r"""Config of SQN (Xin et al. 2020); with ``switch_step`` set, SASRec-AC (the SAC-style second phase).

    .. math::

        L_1 = \mathbb{E}[\mathrm{CE}(s, a) + w \cdot \tfrac12 (r + \gamma (1 - d) Q_t(s', \arg\max_{a'} Q_m(s', a'))
              - Q_m(s, a))^2]

        L_2 = \mathbb{E}[\hat Q_m(s, a) \cdot \mathrm{CE}(s, a) + w \cdot L_{TD}]

    Phase 2 (from ``switch_step``) weights each sample's CE by its stop-gradient Q under the ``actor_weight`` rule
    (by default its own Q, not the batch mean, reference §7.14) and trains with fresh optimisers at
    ``learning_rate_2``. Main/target: a seeded coin per step picks which of the two networks is updated; the other
    provides the bootstrap (eval mode, no gradient).

    References:
        * Xin et al., Self-Supervised Reinforcement Learning for Recommender Systems, SIGIR 2020.

    Args:
        batch_size: mini-batch size.
        gamma: discount factor.
        learning_rate: Adam learning rate of phase 1.
        optim_factory: d3rlpy optimiser factory (fused Adam by default), one optimiser per network and phase.
        encoder_factory: state encoder; a :class:`agents.SASRecEncoderFactory` gets ``n_items`` from the action size.
        score_head: evaluation head of N1, ``"ce"`` or ``"q"``.
        clip_grad_norm: clip the gradient norm to this value (None: no clipping).
        clip_grad_value: clamp every gradient element to [-v, v] (None: no clamping).
        seed: seed of the coin, negatives and augmentations (None: drawn from torch's global RNG at build time).
        log_every, fused_heads, sampled_softmax, sampled_proposal, autocast_dtype: as :class:`agents.SASRecConfig`.
        td_weight: w, weight of the TD loss.
        switch_step: first gradient step of phase 2 (None: SQN, no switch).
        learning_rate_2: learning rate of the fresh phase-2 optimisers.
        actor_weight: phase-2 weight rule (:func:`agents.losses.apply_actor_weight`): ``"per_sample"`` Q̂ᵢ, unclipped
            (default), ``"clipped"`` max(Q̂ᵢ, 0), or ``"batch_mean"`` mean(Q̂), the reference's mean(Q̂)·mean(CE).
        n_negatives: uniform negatives per row used for the ``q_negative_*`` logs.
        sampled_q_targets: take the double-Q greedy item among this many uniform candidates per step, shared by the
            batch (:func:`agents.sampled_softmax.sampled_max`), instead of the whole catalogue (None). The target's
            max is then a lower bound of the full one; for catalogues where scoring every item per step costs too much.
    """

    def create(self, device: DeviceArg = False, enable_ddp: bool = False) -> SQN:
        return SQN(self, device, enable_ddp)

    @staticmethod
    def get_type() -> str:
        return "sqn"


class SQN(SASRecAlgoBase):
    impl_class = DoubleQImpl


register_learnable(SQNConfig)
