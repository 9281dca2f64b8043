"""SNQN: SQN plus TD on sampled negative actions bootstrapped on the current state (reference-protocol §3.4)."""

from __future__ import annotations

import dataclasses

from d3rlpy.base import DeviceArg, register_learnable

from agents.double_q import DoubleQConfig, DoubleQImpl, LossTerms, SASRecAlgoBase, UpdateStep

__all__ = ["SNQN", "SNQNConfig", "SNQNImpl"]


@dataclasses.dataclass()
class SNQNConfig(DoubleQConfig):
    r"""Config of SNQN (Xin et al. 2022): CE + w·(TD + negative TD).

    .. math::

        L = \mathbb{E}[\mathrm{CE}(s, a) + w (L_{TD} + \sum_{k=1}^K \tfrac12
            (r^- + \gamma Q_t(s, \arg\max_{a'} Q_m(s, a')) - Q_m(s, a^-_k))^2)]

    K negatives per row are drawn uniformly from the items other than the logged one; a negative had no interaction,
    so its bootstrap is on the current state s and is not masked by done. ``switch_step`` adds the Q-weighted CE phase
    of :class:`agents.SQNConfig` (None, the default, is the published SNQN).

    References:
        * Xin et al., Supervised Advantage Actor-Critic for Recommender Systems, WSDM 2022.

    Args:
        batch_size, gamma, learning_rate, optim_factory, encoder_factory, score_head, clip_grad_norm, clip_grad_value,
        seed, log_every, fused_heads, sampled_softmax, sampled_proposal, autocast_dtype, td_weight, switch_step,
        learning_rate_2, actor_weight: as :class:`agents.SQNConfig`.
        n_negatives: K, negatives per row.
        sampled_q_targets: as :class:`agents.SQNConfig`.
        reward_negative: r⁻, the reward of a negative action.
    """

    reward_negative: float = 0.0

    def create(self, device: DeviceArg = False, enable_ddp: bool = False) -> SNQN:
        return SNQN(self, device, enable_ddp)

    @staticmethod
    def get_type() -> str:
        return "snqn"


class SNQNImpl(DoubleQImpl):
    _config: SNQNConfig
    bootstraps_current_state = True

    def loss_terms(self, step: UpdateStep, phase2: bool) -> LossTerms:
        negative_td = step.negative_td(self._config.reward_negative)
        return {**super().loss_terms(step, phase2), "negative_td_loss": (negative_td, self._config.td_weight)}


class SNQN(SASRecAlgoBase):
    impl_class = SNQNImpl


register_learnable(SNQNConfig)
