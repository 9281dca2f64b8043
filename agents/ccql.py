"""SASRec-CCQL: CE + w·TD + contrastive + α·CQL over the logged action and sampled negatives.

Without ``switch_step`` (the default) this is the paper's Eq. 4 for the whole run, agent name ``ccql``; with it, the
reference script's two-phase schedule, agent name ``ccql_ref`` (docs/compat.md, "CCQL: two schedules").
"""

from __future__ import annotations

import dataclasses

from d3rlpy.base import DeviceArg, register_learnable

from agents.co import SASRecCOConfig, SASRecCOImpl
from agents.double_q import LossTerms, SASRecAlgoBase, UpdateStep
from agents.losses import cql_loss

__all__ = ["SASRecCCQL", "SASRecCCQLConfig"]


@dataclasses.dataclass()
class SASRecCCQLConfig(SASRecCOConfig):
    r"""Config of SASRec-CCQL: SASRec-CO plus a conservative term on sampled negative actions.

    .. math::

        L = \mathrm{CE} + w L_{TD} + \lambda_{co} L_{CO}
            + \alpha \, \mathbb{E}_s[\tau \log \sum_{a' \in \{a, a^-_1..a^-_K\}} e^{Q(s, a') / \tau} - Q(s, a)]
            \; [+ \, w L_{neg}]

    The default (``switch_step=None``) is the paper's Eq. 4 for the whole run. With ``switch_step`` set, the reference
    script's schedule: from that step CE is weighted by the stop-gradient Q(s, a) under the ``actor_weight`` rule, as
    SASRec-AC, with fresh optimisers at ``learning_rate_2``. The conservative term is the paper's
    (reference-protocol §7.15), not the published code's (which never used its negatives). ``negative_td`` adds
    SNQN's negative-action TD.

    References:
        * Kumar et al., Conservative Q-Learning for Offline Reinforcement Learning, NeurIPS 2020.
        * Addressing Challenges in Reinforcement Learning for Recommender Systems with Conservative Objectives (paper).

    Args:
        batch_size, gamma, optim_factory, encoder_factory, score_head, clip_grad_norm, seed, log_every,
        fused_heads, sampled_softmax, sampled_proposal, autocast_dtype, td_weight, contrastive_weight,
        contrastive_temperature, augmentation: as :class:`agents.SASRecCOConfig`.
        actor_weight: the phase-2 weight rule, used only with a switch (``ccql_ref`` sets ``"batch_mean"``); the
            default ``"per_sample"`` is the one every recorded ``ccql`` run has, so their config hashes hold.
        learning_rate: Adam learning rate (of phase 1 when there is a switch).
        learning_rate_2: learning rate of the fresh phase-2 optimisers.
        switch_step: first gradient step of the Q-weighted CE phase (None: no switch, the paper's Eq. 4).
        clip_grad_value: clamp every gradient element to [-v, v] (the reference clamps at 1.0).
        n_negatives: K, uniform negatives per row (for CQL and the negative TD).
        sampled_q_targets: as :class:`agents.SQNConfig`.
        cql_alpha: α, weight of the conservative term.
        cql_temperature: τ of the conservative logsumexp.
        negative_td: add SNQN's negative-action TD (weight w).
        reward_negative: r⁻ of the negative TD.
    """

    learning_rate: float = 0.005
    learning_rate_2: float = 0.001
    switch_step: int | None = None
    actor_weight: str = "per_sample"
    clip_grad_value: float | None = 1.0
    cql_alpha: float = 0.01
    cql_temperature: float = 0.5
    negative_td: bool = False
    reward_negative: float = -1.0

    def create(self, device: DeviceArg = False, enable_ddp: bool = False) -> SASRecCCQL:
        return SASRecCCQL(self, device, enable_ddp)

    @staticmethod
    def get_type() -> str:
        return "sasrec_ccql"


class SASRecCCQLImpl(SASRecCOImpl):
    _config: SASRecCCQLConfig

    @property
    def bootstraps_current_state(self) -> bool:  # type: ignore[override]
        return self._config.negative_td

    def loss_terms(self, step: UpdateStep, phase2: bool) -> LossTerms:
        config = self._config
        terms = super().loss_terms(step, phase2)
        terms["cql_loss"] = (cql_loss(step.q_logged, step.q_negative, config.cql_temperature), config.cql_alpha)
        if config.negative_td:
            terms["negative_td_loss"] = (step.negative_td(config.reward_negative), config.td_weight)
        return terms


class SASRecCCQL(SASRecAlgoBase):
    impl_class = SASRecCCQLImpl


register_learnable(SASRecCCQLConfig)
