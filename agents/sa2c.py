"""SA2C: SNQN whose second phase weights each sample's CE by its advantage and propensity (reference §3.5)."""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
from d3rlpy.base import DeviceArg, register_learnable
from d3rlpy.types import NDArray, Shape
from dataclasses_json import config as json_config

from agents.double_q import SASRecAlgoBase, SASRecModules, UpdateStep
from agents.losses import advantage_weights, propensity_weights
from agents.snqn import SNQNConfig, SNQNImpl
from recgym.errors import InvalidOptionError

__all__ = ["SA2C", "SA2CConfig"]


def _optional_array_field() -> NDArray | None:
    """An optional numpy field that serialises None (d3rlpy's own optional numpy field cannot)."""
    return dataclasses.field(
        default=None,
        metadata=json_config(
            encoder=lambda v: None if v is None else np.asarray(v).tolist(),
            decoder=lambda v: None if v is None else np.asarray(v, dtype=np.float64),
        ),
    )


@dataclasses.dataclass()
class SA2CConfig(SNQNConfig):
    r"""Config of SA2C (Xin et al. 2022): SNQN, then advantage-weighted CE with fresh optimisers.

    .. math::

        L_1 = \mathbb{E}[\mathrm{CE} + w (L_{TD} + L_{neg})], \quad
        L_2 = \mathbb{E}[A(s, a) \cdot \rho(s, a) \cdot \mathrm{CE} + w (L_{TD} + L_{neg})]

        A = \mathrm{clip}(Q(s, a) - \tfrac{1}{K+1}(Q(s, a) + \sum_k Q(s, a^-_k)), c_{min}, c_{max}), \quad
        \rho = \mathrm{clip}(\pi(a|s) / \mu(a), 0.1, 10)^{\eta}

    A and ρ are per sample and stop-gradient; π is the softmax of the CE head, μ the behaviour (popularity) policy.
    The default η = 0 disables the propensity, as the reference does. ``actor_weight`` applies to A·ρ as it applies
    to Q̂ in :class:`agents.SQNConfig` (default ``"per_sample"``, the published SA2C).

    References:
        * Xin et al., Supervised Advantage Actor-Critic for Recommender Systems, WSDM 2022.

    Args:
        batch_size, gamma, learning_rate, optim_factory, encoder_factory, score_head, clip_grad_norm, clip_grad_value,
        seed, log_every, fused_heads, sampled_softmax, sampled_proposal, autocast_dtype, td_weight, learning_rate_2,
        actor_weight, n_negatives, reward_negative, sampled_q_targets: as :class:`agents.SNQNConfig`.
        switch_step: first gradient step of the advantage-weighted phase.
        advantage_clip_min: lower clip of A (None: no clipping at all).
        advantage_clip_max: upper clip of A.
        propensity_smooth: η; 0 turns the propensity off.
        behaviour_probs: μ, (n_items,) item probabilities of the logging policy
            (e.g. ``SessionDataset.item_popularity``); required when η > 0.
    """

    switch_step: int | None = 15000
    advantage_clip_min: float | None = 0.0
    advantage_clip_max: float = 10.0
    propensity_smooth: float = 0.0
    behaviour_probs: NDArray | None = _optional_array_field()

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.propensity_smooth > 0 and self.behaviour_probs is None:
            raise InvalidOptionError(
                "SA2CConfig: propensity_smooth > 0 needs behaviour_probs (e.g. dataset.item_popularity)"
            )

    def create(self, device: DeviceArg = False, enable_ddp: bool = False) -> SA2C:
        return SA2C(self, device, enable_ddp)

    @staticmethod
    def get_type() -> str:
        return "sa2c"


class SA2CImpl(SNQNImpl):
    _config: SA2CConfig

    def __init__(
        self, observation_shape: Shape, action_size: int, modules: SASRecModules, config: SA2CConfig, device: str
    ):
        super().__init__(observation_shape, action_size, modules, config, device)
        probs = config.behaviour_probs
        if probs is not None and len(probs) != action_size:
            raise ValueError(f"SA2CConfig.behaviour_probs has {len(probs)} entries for {action_size} items")
        self._behaviour_probs = None if probs is None else torch.as_tensor(probs, dtype=torch.float32, device=device)

    def actor_weights(self, step: UpdateStep) -> torch.Tensor:
        """A·ρ per sample, detached."""
        config = self._config
        clip_min, clip_max = config.advantage_clip_min, config.advantage_clip_max
        weights = advantage_weights(step.q_logged, step.q_negative, clip_min, clip_max)
        if config.propensity_smooth > 0:
            assert self._behaviour_probs is not None
            weights = weights * propensity_weights(
                step.ce_logits, step.actions, self._behaviour_probs, config.propensity_smooth
            )
        return weights


class SA2C(SASRecAlgoBase):
    impl_class = SA2CImpl


register_learnable(SA2CConfig)
