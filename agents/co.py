"""SASRec-CO: SASRec-AC plus a contrastive term between the state and an augmented state (reference-protocol §3.7)."""

from __future__ import annotations

import dataclasses

from d3rlpy.base import DeviceArg, register_learnable

from agents.double_q import DoubleQConfig, DoubleQImpl, LossTerms, SASRecAlgoBase, UpdateStep
from agents.losses import info_nce
from recgym.errors import InvalidOptionError

__all__ = ["SASRecCO", "SASRecCOConfig", "SASRecCOImpl"]

AUGMENTATIONS = ("permutation", "crop", "mask")


@dataclasses.dataclass()
class SASRecCOConfig(DoubleQConfig):
    r"""Config of SASRec-CO: SASRec-AC (:class:`agents.SQNConfig` with a switch) plus a contrastive objective.

    .. math::

        L = L_{AC} + \lambda_{co} \cdot \mathrm{NTXent}_{\tau_c}(h(s), h(\mathrm{aug}(s)))

    The contrastive term is the cosine NT-Xent (SimCLR) over the batch, both views encoded by the main network with
    gradient; the augmentation acts on the valid prefix only and is seeded.

    References:
        * Oord et al., Representation Learning with Contrastive Predictive Coding, 2018.

    Args:
        batch_size, gamma, learning_rate, optim_factory, encoder_factory, score_head, clip_grad_norm, clip_grad_value,
        seed, log_every, fused_heads, sampled_softmax, sampled_proposal, autocast_dtype, td_weight, learning_rate_2,
        n_negatives, sampled_q_targets: as :class:`agents.SQNConfig`.
        actor_weight: the phase-2 weight rule, default ``"batch_mean"`` (the ``co`` preset's, see
            :data:`agents.presets.PHASE2_WEIGHT`).
        switch_step: first gradient step of the Q-weighted CE phase (None: no switch).
        contrastive_weight: λ_co.
        contrastive_temperature: τ_c of the NT-Xent.
        augmentation: ``"permutation"``, ``"crop"`` or ``"mask"`` (see :func:`agents.augment.augment`).
    """

    learning_rate_2: float = 0.01
    switch_step: int | None = 30000
    actor_weight: str = "batch_mean"
    contrastive_weight: float = 1.0
    contrastive_temperature: float = 0.07
    augmentation: str = "permutation"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.augmentation not in AUGMENTATIONS:
            raise InvalidOptionError(f"augmentation must be one of {AUGMENTATIONS}, got {self.augmentation!r}")

    def create(self, device: DeviceArg = False, enable_ddp: bool = False) -> SASRecCO:
        return SASRecCO(self, device, enable_ddp)

    @staticmethod
    def get_type() -> str:
        return "sasrec_co"


class SASRecCOImpl(DoubleQImpl):
    _config: SASRecCOConfig

    def loss_terms(self, step: UpdateStep, phase2: bool) -> LossTerms:
        config = self._config
        contrastive = info_nce(step.state, step.augmented_state(config.augmentation), config.contrastive_temperature)
        return {**super().loss_terms(step, phase2), "contrastive_loss": (contrastive, config.contrastive_weight)}


class SASRecCO(SASRecAlgoBase):
    impl_class = SASRecCOImpl


register_learnable(SASRecCOConfig)
