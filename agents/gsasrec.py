"""gSASRec: SASRec trained with sampled negatives and the generalised binary cross-entropy (gBCE), no RL."""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from d3rlpy.base import DeviceArg, register_learnable

from agents.double_q import LossTerms, SASRecAlgoBase, SASRecBaseConfig, SASRecImpl, UpdateStep
from agents.negatives import sample_negatives
from agents.sampled_softmax import item_bias

__all__ = ["GSASRec", "GSASRecConfig", "GSASRecImpl", "gbce"]


@dataclasses.dataclass()
class GSASRecConfig(SASRecBaseConfig):
    r"""Config of gSASRec: the SASRec network trained on K uniform negatives per row with gBCE.

    .. math::

        L = -\beta \log \sigma(s^+) - \sum_{k=1}^{K} \log(1 - \sigma(s^-_k)), \qquad
        \beta = \alpha \left(t \left(1 - \tfrac{1}{\alpha}\right) + \tfrac{1}{\alpha}\right) = 1 - t (1 - \alpha),
        \qquad \alpha = \tfrac{K}{n_{items} - 1}

    ``s`` are the CE head's logits of the logged item and of the negatives. Sampling negatives makes BCE-trained
    scores overconfident on popular items; raising the positive's probability to the power β counters it: ``t = 0``
    is plain BCE with negative sampling, ``t = 1`` fully calibrates the sigmoid to the full-catalogue probability.
    Scoring uses the full head, so it ranks the whole catalogue like SASRec.

    References:
        * Petrov and Macdonald, gSASRec: Reducing Overconfidence in Sequential Recommendation Trained with Negative
          Sampling, RecSys 2023.

    Args:
        batch_size, gamma, learning_rate, optim_factory, encoder_factory, score_head, clip_grad_norm, clip_grad_value,
        seed, log_every, fused_heads, sampled_softmax, sampled_proposal, autocast_dtype: as
        :class:`agents.SASRecConfig` (the CE-only switches do not change the gBCE loss).
        n_negatives: K, uniform negatives per row (never the row's logged item; duplicates allowed).
        calibration: t in [0, 1].
    """

    n_negatives: int = 256
    calibration: float = 0.75

    def create(self, device: DeviceArg = False, enable_ddp: bool = False) -> GSASRec:
        return GSASRec(self, device, enable_ddp)

    @staticmethod
    def get_type() -> str:
        return "gsasrec"


def gbce(positive: torch.Tensor, negative: torch.Tensor, beta: float) -> torch.Tensor:
    """Per-row gBCE, (B,): ``-beta log σ(positive) - Σ_k log σ(-negative_k)`` for logits (B,) and (B, K)."""
    return -beta * F.logsigmoid(positive) - F.logsigmoid(-negative).sum(dim=1)


class GSASRecImpl(SASRecImpl):
    _config: GSASRecConfig

    @property
    def beta(self) -> float:
        """β = 1 − t (1 − α), α = K / (n_items − 1) the share of the other items a row samples."""
        alpha = self._config.n_negatives / (self.action_size - 1)
        return 1.0 - self._config.calibration * (1.0 - alpha)

    def loss_terms(self, step: UpdateStep, phase2: bool) -> LossTerms:
        """gBCE of the logged item against K uniform negatives."""
        head = step.main.ce_head
        negatives = sample_negatives(step.actions, self.action_size, self._config.n_negatives, self.generator)
        # the weights through F.embedding (its backward sums repeated rows in a fixed order); the positive's bias is
        # indexed, as in the committed gsasrec studies (another gather would change their rounding)
        positive = (
            torch.einsum("bd,bd->b", step.state, F.embedding(step.actions, head.weight)) + head.bias[step.actions]
        )
        negative = torch.einsum("bd,bkd->bk", step.state, F.embedding(negatives, head.weight))
        negative = negative + item_bias(negatives, head.bias)
        return {"gbce_loss": (gbce(positive, negative, self.beta), 1.0)}


class GSASRec(SASRecAlgoBase):
    impl_class = GSASRecImpl


register_learnable(GSASRecConfig)
