"""SASRec: the supervised baseline, cross-entropy on the next item with one network (reference-protocol §3.2)."""

from __future__ import annotations

import dataclasses

from d3rlpy.base import DeviceArg, register_learnable

from agents.double_q import SASRecAlgoBase, SASRecBaseConfig, SASRecImpl

__all__ = ["SASRec", "SASRecConfig"]


@dataclasses.dataclass()
class SASRecConfig(SASRecBaseConfig):
    r"""Config of SASRec trained with cross-entropy only.

    .. math::

        L = \mathbb{E}_{(s, a) \sim D} [-\log \mathrm{softmax}(W_{ce} h(s))_a]

    References:
        * Kang and McAuley, Self-Attentive Sequential Recommendation, ICDM 2018.

    Args:
        batch_size: mini-batch size.
        gamma: unused (no bootstrapping); kept because every d3rlpy config has it.
        learning_rate: Adam learning rate.
        optim_factory: d3rlpy optimiser factory (fused Adam by default, :class:`agents.double_q.FusedAdamFactory`).
        encoder_factory: state encoder; a :class:`agents.SASRecEncoderFactory` gets ``n_items`` from the action size.
        score_head: evaluation head; only ``"ce"`` (there is no Q head).
        clip_grad_norm: clip the gradient norm to this value (None: no clipping).
        clip_grad_value: clamp every gradient element to [-v, v] (None: no clamping).
        seed: seed of the agent's own random draws (None: drawn from torch's global RNG, so ``d3rlpy.seed`` fixes it).
        log_every: read the logged losses every this many steps (1: every step). Above 1 nothing in the step waits
            for the device; must divide ``n_steps_per_epoch``; a non-finite step is skipped on the device and
            reported at the window's end (:mod:`agents.step_log`). It does not change what is trained.
        fused_heads: compute the CE loss and the double-Q selector's greedy item blockwise, without materialising
            a (B, n_items) matrix (:mod:`agents.fused_heads`): faster, bounded in memory on large catalogues, equal
            to float rounding (so not bit-identical to the default).
        sampled_softmax: train the CE head on this many negatives per batch, shared by its rows, with the log-Q
            correction (:mod:`agents.sampled_softmax`; None: the full softmax). Scoring stays full-catalogue.
        sampled_proposal: the negatives' proposal, ``"uniform"`` or ``"popularity"`` (training item counts + 1).
        autocast_dtype: ``"bfloat16"``: run each update's forward under ``torch.autocast`` in bfloat16 (the encoder's
            and the unfused heads' matmuls; layer norms, softmaxes and losses stay float32, as do the backward, the
            weights, the optimiser and scoring). Fast where the hardware has bfloat16 units (recent GPUs, CPUs with
            AMX or AVX-512 BF16), emulated and slower elsewhere; the fused and sampled heads compute in float32.
            None: float32 throughout.
    """

    def create(self, device: DeviceArg = False, enable_ddp: bool = False) -> SASRec:
        return SASRec(self, device, enable_ddp)

    @staticmethod
    def get_type() -> str:
        return "sasrec"


class SASRec(SASRecAlgoBase):
    impl_class = SASRecImpl


register_learnable(SASRecConfig)
