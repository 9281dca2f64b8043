"""CL4SRec: SASRec trained with CE plus a contrastive term between two augmented views of each state, no RL."""

from __future__ import annotations

import dataclasses

from d3rlpy.base import DeviceArg, register_learnable

from agents.augment import random_augment
from agents.double_q import LossTerms, SASRecAlgoBase, SASRecBaseConfig, SASRecImpl, UpdateStep
from agents.losses import info_nce

__all__ = ["CL4SRec", "CL4SRecConfig", "CL4SRecImpl"]

VIEW_AUGMENTATIONS = ("crop", "mask", "reorder")


@dataclasses.dataclass()
class CL4SRecConfig(SASRecBaseConfig):
    r"""Config of CL4SRec: the supervised SASRec objective plus a contrastive one between two augmented views.

    .. math::

        L = \mathrm{CE}(W_{ce} h(s), a) + \lambda \cdot \mathrm{NTXent}_{\tau}(h(\mathrm{aug}_1(s)), h(\mathrm{aug}_2(s)))

    Each view's augmentation is drawn per state from crop, mask and reorder (:func:`agents.augment.random_augment`);
    both views are encoded by the one network with gradient; the CE term reads the unaugmented state.

    References:
        * Xie et al., Contrastive Learning for Sequential Recommendation, ICDE 2022.

    Args:
        batch_size, gamma, learning_rate, optim_factory, encoder_factory, score_head, clip_grad_norm, clip_grad_value,
        seed, log_every, fused_heads, sampled_softmax, sampled_proposal, autocast_dtype: as
        :class:`agents.SASRecConfig`.
        contrastive_weight: λ.
        contrastive_temperature: τ of the cosine NT-Xent.
        crop_ratio: share of the prefix a crop keeps (η).
        mask_prob: probability that mask drops an item (γ).
        reorder_ratio: share of the prefix a reorder shuffles (β).
    """

    contrastive_weight: float = 0.1
    contrastive_temperature: float = 0.07
    crop_ratio: float = 0.6
    mask_prob: float = 0.3
    reorder_ratio: float = 0.6

    def create(self, device: DeviceArg = False, enable_ddp: bool = False) -> CL4SRec:
        return CL4SRec(self, device, enable_ddp)

    @staticmethod
    def get_type() -> str:
        return "cl4srec"


class CL4SRecImpl(SASRecImpl):
    _config: CL4SRecConfig

    def loss_terms(self, step: UpdateStep, phase2: bool) -> LossTerms:
        """CE + λ·NT-Xent between two random views."""
        config = self._config
        states = step.batch.observations.long()
        ratios = {"crop_ratio": config.crop_ratio, "mask_prob": config.mask_prob, "reorder_ratio": config.reorder_ratio}
        views = [
            step.main(random_augment(states, self.action_size, VIEW_AUGMENTATIONS, self.generator, **ratios))
            for _ in range(2)
        ]
        contrastive = info_nce(views[0], views[1], config.contrastive_temperature)
        return {**super().loss_terms(step, phase2), "contrastive_loss": (contrastive, config.contrastive_weight)}


class CL4SRec(SASRecAlgoBase):
    impl_class = CL4SRecImpl


register_learnable(CL4SRecConfig)
