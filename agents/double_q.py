"""The shared core of the SASRec agents: networks, the random-swap double-Q update and the d3rlpy algorithm base.

Every agent is a d3rlpy Config + Algo + Impl. The Impl subclasses :class:`SASRecImpl` and only names its loss terms
(:meth:`SASRecImpl.loss_terms`) and, for two-phase agents, its raw per-sample actor weights
(:meth:`SASRecImpl.actor_weights`), which the config's ``actor_weight`` rule turns into the phase-2 CE weights; the
maths lives in :mod:`agents.losses`.

Double-Q (reference-protocol §3.1, fixes §7.18): two full networks N1 and N2 (encoder, Q head, CE head), each with its
own optimiser(s). At every step a seeded coin picks the main network; only main is updated and the other is the
target. Bootstrap values come from both networks in eval mode (no dropout) without gradient.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Generator, Iterable, Iterator
from contextlib import contextmanager
from functools import cached_property
from typing import Any, ClassVar, cast

import numpy as np
import torch
import torch.nn.functional as F
from d3rlpy.algos.qlearning.base import QLearningAlgoBase, QLearningAlgoImplBase
from d3rlpy.base import LearnableConfig
from d3rlpy.constants import ActionSpace
from d3rlpy.dataset import ReplayBufferBase
from d3rlpy.models import EncoderFactory, make_encoder_field
from d3rlpy.models.torch import compute_output_size
from d3rlpy.optimizers import AdamFactory, OptimizerFactory, make_optimizer_field, register_optimizer_factory
from d3rlpy.optimizers.optimizers import OptimizerWrapper
from d3rlpy.torch_utility import Modules, TorchMiniBatch, eval_api
from d3rlpy.types import Shape
from torch import nn
from torch.optim import Adam

from agents.augment import augment
from agents.encoders import ItemEncoderFactory, SASRecEncoderFactory, in_update
from agents.fused_heads import linear_cross_entropy, linear_max
from agents.losses import ACTOR_WEIGHTS, apply_actor_weight, cross_entropy, negative_td_loss, td_loss
from agents.negatives import sample_negatives
from agents.sampled_softmax import PROPOSALS, draw_sampled_negatives, log_proposal, sampled_cross_entropy, sampled_max
from agents.step_log import StepLog
from agents.step_switches import step_switch
from agents.validation import check_config
from recgym.checks import check_states
from recgym.contract import bind_contract, contract_of
from recgym.errors import InvalidOptionError
from recgym.ranking import top_k

__all__ = [
    "DoubleQConfig",
    "DoubleQImpl",
    "FusedAdamFactory",
    "LossTerms",
    "SASRecAlgoBase",
    "SASRecBaseConfig",
    "SASRecImpl",
    "SASRecModules",
    "SASRecNetwork",
    "UpdateStep",
]

Observations = np.ndarray | torch.Tensor

COIN_BLOCK = 1024
"""Coins of the random-swap double Q drawn per host call."""


@dataclasses.dataclass()
class FusedAdamFactory(AdamFactory):
    """d3rlpy's :class:`~d3rlpy.optimizers.AdamFactory` with torch's fused kernel: the same Adam update in one pass
    per tensor, faster on CPU for the item-sized embedding and head matrices."""

    def create_optimizer(self, named_modules: Iterable[tuple[str, nn.Module]], lr: float) -> Adam:
        parameters = list(dict.fromkeys(p for _, module in named_modules for p in module.parameters()))
        return Adam(
            parameters,
            lr=lr,
            betas=self.betas,
            eps=self.eps,
            weight_decay=self.weight_decay,
            amsgrad=self.amsgrad,
            fused=True,
        )

    @staticmethod
    def get_type() -> str:
        return "fused_adam"


register_optimizer_factory(FusedAdamFactory)


def _fused_adam_field() -> OptimizerFactory:
    return dataclasses.field(metadata=make_optimizer_field().metadata, default_factory=FusedAdamFactory)


def _sasrec_encoder_field() -> EncoderFactory:
    """A registered encoder field (serialised by d3rlpy) whose default is the SASRec encoder."""
    return dataclasses.field(metadata=make_encoder_field().metadata, default_factory=SASRecEncoderFactory)


AUTOCAST_DTYPES = (None, "bfloat16")
"""``autocast_dtype`` values: float32 throughout, or bfloat16 matmuls in the update (float16 needs loss scaling)."""


class SASRecNetwork(nn.Module):
    """A state encoder with a CE head Linear(d, n_items) and, for RL agents, a Q head Linear(d, n_items)."""

    def __init__(self, encoder: nn.Module, hidden_size: int, n_items: int, with_q_head: bool):
        super().__init__()
        self.encoder = encoder
        self.ce_head = nn.Linear(hidden_size, n_items)
        self.q_head = nn.Linear(hidden_size, n_items) if with_q_head else None
        for head in (self.ce_head, self.q_head):
            if head is not None:
                nn.init.normal_(head.weight, std=0.01)
                nn.init.zeros_(head.bias)

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        """(B, L) ids -> (B, d) states."""
        return self.encoder(observations)

    def q_of(self, states: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Q of (B, K) item ids from (B, d) states, (B, K): gathers K head rows instead of scoring every item."""
        assert self.q_head is not None
        # embedding's backward sums repeated rows in a fixed order; indexing's (index_put_ with accumulate) uses
        # parallel atomic adds on CPU, whose order, and so the float result, changes from run to run.
        weight = F.embedding(items, self.q_head.weight)  # (B, K, d)
        bias = F.embedding(items, self.q_head.bias.unsqueeze(-1)).squeeze(-1)
        return torch.einsum("bkd,bd->bk", weight, states) + bias


@dataclasses.dataclass(frozen=True)
class SASRecModules(Modules):
    """Networks and optimisers saved by d3rlpy's checkpointer; network2 and the phase-2 optimisers are optional."""

    network1: SASRecNetwork
    network2: SASRecNetwork | None
    optim1: OptimizerWrapper
    optim2: OptimizerWrapper | None
    optim1_phase2: OptimizerWrapper | None
    optim2_phase2: OptimizerWrapper | None


@dataclasses.dataclass()
class SASRecBaseConfig(LearnableConfig):
    """Fields shared by every SASRec agent (the agent configs document them)."""

    batch_size: int = 256
    gamma: float = 0.5
    learning_rate: float = 0.01
    optim_factory: OptimizerFactory = _fused_adam_field()
    encoder_factory: EncoderFactory = _sasrec_encoder_field()
    score_head: str = "ce"
    clip_grad_norm: float | None = None
    clip_grad_value: float | None = None
    seed: int | None = None
    # how a step runs, not what it learns (agents.step_switches)
    log_every: int = step_switch(1, same_numbers=True)
    fused_heads: bool = step_switch(True, before=False)
    sampled_softmax: int | None = step_switch(None)
    sampled_proposal: str = step_switch("uniform")
    autocast_dtype: str | None = step_switch(None)

    def __post_init__(self) -> None:
        check_config(self)  # the numbers: one validator, agents.validation
        if self.score_head not in ("ce", "q"):
            raise InvalidOptionError(f"score_head must be 'ce' or 'q', got {self.score_head!r}")
        if self.sampled_proposal not in PROPOSALS:
            raise InvalidOptionError(f"sampled_proposal must be one of {PROPOSALS}, got {self.sampled_proposal!r}")
        if self.autocast_dtype not in AUTOCAST_DTYPES:
            raise InvalidOptionError(f"autocast_dtype must be one of {AUTOCAST_DTYPES}, got {self.autocast_dtype!r}")


@dataclasses.dataclass()
class DoubleQConfig(SASRecBaseConfig):
    """Fields shared by the two-network agents (the agent configs document them)."""

    td_weight: float = 1.0
    switch_step: int | None = None
    learning_rate_2: float = 0.001
    actor_weight: str = "per_sample"
    n_negatives: int = 10
    sampled_q_targets: int | None = step_switch(None)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.actor_weight not in ACTOR_WEIGHTS:
            raise InvalidOptionError(f"actor_weight must be one of {ACTOR_WEIGHTS}, got {self.actor_weight!r}")


class UpdateStep:
    """The tensors of one update, each computed on first use so an agent pays only for the terms it has.

    ``main`` runs in train mode with gradient; bootstrap values (``next_q``, ``current_q``) come from main and target
    in eval mode without gradient.
    """

    def __init__(self, impl: SASRecImpl, batch: TorchMiniBatch, main: SASRecNetwork, target: SASRecNetwork | None):
        self.impl = impl
        self.batch = batch
        self.main = main
        self.target = target
        self.actions = batch.actions.long().view(-1)

    @cached_property
    def state(self) -> torch.Tensor:
        return self.impl.encode(self.main, self.batch.observations)

    @cached_property
    def ce_logits(self) -> torch.Tensor:
        return self.main.ce_head(self.state)

    @cached_property
    def ce(self) -> torch.Tensor:
        head = self.main.ce_head
        if self.impl.sampled_softmax:  # M shared negatives with the log-Q correction (agents.sampled_softmax)
            negatives = draw_sampled_negatives(self.impl.log_proposal, self.impl.sampled_softmax, self.impl.generator)
            return sampled_cross_entropy(
                self.state, head.weight, head.bias, self.actions, negatives, self.impl.log_proposal
            )
        if self.impl.fused_heads:  # the same loss without the (B, n_items) logits (agents.fused_heads)
            return linear_cross_entropy(self.state, head.weight, head.bias, self.actions)
        return cross_entropy(self.ce_logits, self.actions)

    @cached_property
    def negatives(self) -> torch.Tensor:
        return sample_negatives(self.actions, self.impl.action_size, self.impl.n_negatives, self.impl.generator)

    @cached_property
    def q_logged(self) -> torch.Tensor:
        return self.main.q_of(self.state, self.actions.unsqueeze(-1)).squeeze(-1)

    @cached_property
    def q_negative(self) -> torch.Tensor:
        return self.main.q_of(self.state, self.negatives)

    @cached_property
    def _bootstrap_q(self) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
        """(target, selector) Q at s' and, when the agent needs it, at s, each (B, 1): the selector's greedy item only.

        Double Q needs the selector's (main's) Q of every item for its argmax, but the target's Q of that one item
        only, so the target never scores the whole catalogue. The losses' argmax over this one-item candidate set
        returns it, so ``td_loss`` / ``negative_td_loss`` give the full-catalogue double-Q value.
        """
        inputs = self.batch.next_observations
        if self.impl.bootstraps_current_state:
            inputs = torch.cat([inputs, self.batch.observations], dim=0)
        assert self.target is not None
        with _evaluating(self.main, self.target):
            q_selector, greedy = self._selector_max(self.impl.encode(self.main, inputs))
            q_target = self.target.q_of(self.impl.encode(self.target, inputs), greedy)
        size = self.batch.next_observations.shape[0]
        return (q_target[:size], q_selector[:size]), (q_target[size:], q_selector[size:])

    def _selector_max(self, states: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Main's greedy Q value and item at ``states``, (B, 1) each."""
        head = self.main.q_head
        assert head is not None
        if self.impl.sampled_q_targets:  # among M uniform candidates shared by the batch (agents.sampled_softmax)
            candidates = torch.randint(
                self.impl.action_size, (self.impl.sampled_q_targets,), generator=self.impl.candidate_generator,
                device=states.device,
            )  # fmt: skip
            values, greedy = sampled_max(states, head.weight, head.bias, candidates)
            return values.unsqueeze(-1), greedy.unsqueeze(-1)
        if self.impl.fused_heads:  # blockwise, without the (B, n_items) Q matrix (agents.fused_heads)
            values, greedy = linear_max(states, head.weight, head.bias)
            return values.unsqueeze(-1), greedy.unsqueeze(-1)
        q_selector = head(states)
        greedy = q_selector.argmax(dim=-1, keepdim=True)
        return q_selector.gather(-1, greedy), greedy

    @property
    def next_q(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(target, selector) Q(s', a*), (B, 1) each, a* the selector's greedy item."""
        return self._bootstrap_q[0]

    @property
    def current_q(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(target, selector) Q(s, a*), (B, 1) each; needs ``bootstraps_current_state``."""
        return self._bootstrap_q[1]

    @cached_property
    def td(self) -> torch.Tensor:
        q_target, q_selector = self.next_q
        return td_loss(self.q_logged, self.batch.rewards, self.batch.terminals, q_target, q_selector, self.impl.gamma)

    @cached_property
    def actor_weights(self) -> torch.Tensor:
        """The agent's raw phase-2 CE weights (Q̂ or A·ρ), detached, (B,)."""
        return self.impl.actor_weights(self)

    def negative_td(self, reward_negative: float) -> torch.Tensor:
        """Σ_k TD of the sampled negatives, bootstrapped on the current state, (B,)."""
        q_target, q_selector = self.current_q
        return negative_td_loss(self.q_negative, reward_negative, q_target, q_selector, self.impl.gamma)

    def augmented_state(self, kind: str) -> torch.Tensor:
        """Main's state of an augmented copy of the observations."""
        observations = augment(self.batch.observations.long(), self.impl.action_size, kind, self.impl.generator)
        return self.impl.encode(self.main, observations)


@contextmanager
def _evaluating(*networks: nn.Module) -> Iterator[None]:
    """Eval mode (no dropout) and no gradient inside, as part of an update; the networks' modes are restored after."""
    modes = [network.training for network in networks]
    for network in networks:
        network.eval()
    try:
        with torch.no_grad(), in_update():
            yield
    finally:
        for network, mode in zip(networks, modes):
            network.train(mode)


LossTerms = dict[str, tuple[torch.Tensor, float]]


class SASRecImpl(QLearningAlgoImplBase):
    """One update: sum the agent's weighted loss terms, refuse non-finite losses, step the main network only.

    This base trains one network with CE; :class:`DoubleQImpl` adds the second network, the coin and the phases.
    Subclasses extend :meth:`loss_terms` (name -> (per-sample or scalar loss, weight)).
    """

    _modules: SASRecModules
    _config: SASRecBaseConfig
    bootstraps_current_state: ClassVar[bool] = False

    def __init__(
        self, observation_shape: Shape, action_size: int, modules: SASRecModules, config: SASRecBaseConfig, device: str
    ):
        super().__init__(observation_shape=observation_shape, action_size=action_size, modules=modules, device=device)
        self._config = config
        seed = config.seed if config.seed is not None else int(torch.randint(2**31 - 1, (1,)).item())
        self._coin = torch.Generator().manual_seed(seed)
        self._coins: Iterator[int] = iter(())
        self.generator = torch.Generator(device=device).manual_seed(seed + 1)
        # the Q-target candidates have a stream of their own: turning them on leaves the negatives as they were
        self.candidate_generator = torch.Generator(device=device).manual_seed(seed + 2)
        self._log = StepLog(config.log_every)
        self._compiled: dict[nn.Module, Callable[[torch.Tensor], torch.Tensor]] = {}
        self._log_proposal: torch.Tensor | None = None
        if config.log_every > 1:
            for optim in (modules.optim1, modules.optim2, modules.optim1_phase2, modules.optim2_phase2):
                if optim is not None and not optim.optim.defaults.get("fused"):
                    raise ValueError(
                        f"log_every={config.log_every} needs the fused Adam optimiser (optim_factory="
                        "FusedAdamFactory(), the default), which skips a non-finite step on the device"
                    )

    @property
    def gamma(self) -> float:
        return self._config.gamma

    @property
    def fused_heads(self) -> bool:
        return self._config.fused_heads

    @property
    def sampled_softmax(self) -> int | None:
        return self._config.sampled_softmax

    @property
    def log_proposal(self) -> torch.Tensor:
        """log Q of the sampled softmax's proposal, (n_items,)."""
        if self._log_proposal is None:
            self._log_proposal = log_proposal(self._config.sampled_proposal, None, self.action_size, self.device)
        return self._log_proposal

    def set_item_counts(self, counts: np.ndarray) -> None:
        """Training item counts, for the popularity proposal of the sampled softmax."""
        kind = self._config.sampled_proposal
        self._log_proposal = log_proposal(kind, torch.as_tensor(counts), self.action_size, self.device)

    def get_rng_state(self) -> dict[str, Any]:
        """The Impl's own random state (the coin's generator and its undrawn coins, the negatives' and the Q-target
        candidates' generators), which a resumed run restores (:mod:`recgym.benchmark.training_state`)."""
        coins = list(self._coins)
        self._coins = iter(coins)
        return {
            "coin": self._coin.get_state(),
            "coins": coins,
            "generator": self.generator.get_state(),
            "candidate_generator": self.candidate_generator.get_state(),
        }

    def set_rng_state(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`get_rng_state` returned."""
        self._coin.set_state(state["coin"])
        self._coins = iter(state["coins"])
        self.generator.set_state(state["generator"])
        self.candidate_generator.set_state(state["candidate_generator"])

    def encode(self, network: SASRecNetwork, observations: torch.Tensor) -> torch.Tensor:
        """``network``'s (B, d) states of ``observations`` in a training step.

        With ``compile_graph=True`` the network runs through its ``torch.compile`` graph (forward and backward), one
        per network and mode, compiled at the first step that needs it; scoring and evaluation stay eager, so their
        varying batch sizes never recompile. Random ops (dropout) fall back to torch's own kernels, so the compiled
        step draws the same masks from the same generator as the eager one.
        """
        if not self._config.compile_graph:
            return network(observations)
        if network not in self._compiled:
            self._compiled[network] = torch.compile(network, dynamic=False, options={"fallback_random": True})
        return self._compiled[network](observations)

    def draw_main(self) -> int:
        """Index of the network to update: always N1 here."""
        return 0

    def in_phase2(self, grad_step: int) -> bool:
        return False

    def optimizer(self, main_index: int, phase2: bool) -> OptimizerWrapper:
        m = self._modules
        optim = ((m.optim1, m.optim2), (m.optim1_phase2, m.optim2_phase2))[phase2][main_index]
        assert optim is not None
        return optim

    def loss_terms(self, step: UpdateStep, phase2: bool) -> LossTerms:
        """CE on the logged item."""
        return {"ce_loss": (step.ce, 1.0)}

    def actor_weights(self, step: UpdateStep) -> torch.Tensor:
        """(B,) raw, detached weights of the per-sample CE in phase 2, before the ``actor_weight`` rule."""
        raise NotImplementedError(f"{type(self).__name__} has no second phase")

    def monitored(self, step: UpdateStep, phase2: bool) -> dict[str, torch.Tensor]:
        """Extra values to log (no gradient)."""
        return {}

    def inner_update(self, batch: TorchMiniBatch, grad_step: int) -> dict[str, float]:
        main_index = self.draw_main()
        network1, network2 = self._modules.network1, self._modules.network2
        main, target = (network1, network2) if main_index == 0 else (network2, network1)
        assert main is not None
        phase2 = self.in_phase2(grad_step)
        optim = self.optimizer(main_index, phase2)
        optim.zero_grad()
        with self._autocast():
            step = UpdateStep(self, batch, main, target)
            terms = self.loss_terms(step, phase2)
            means = {name: value.mean() for name, (value, _) in terms.items()}
            loss = cast(torch.Tensor, sum(weight * means[name] for name, (_, weight) in terms.items()))
            logged = {"loss": loss, **means, **self.monitored(step, phase2)}
        finite = self._log.add(grad_step, logged)
        values = self._log.read(grad_step) if self._log.due(grad_step) else {}  # raises before a non-finite update
        loss.backward()
        if self._config.clip_grad_value is not None:
            nn.utils.clip_grad_value_(main.parameters(), self._config.clip_grad_value)
        if self._config.clip_grad_norm is not None:
            nn.utils.clip_grad_norm_(main.parameters(), self._config.clip_grad_norm)
        if self._log.every > 1:  # not read this step: the fused Adam kernel skips it on the device if non-finite
            optim.optim.found_inf = (~finite).float()
        optim.step()
        return values

    def _autocast(self) -> torch.autocast:
        """The update's forward in ``autocast_dtype`` where torch's autocast lowers an op (matmuls, attention); the
        backward and the optimiser step stay in the parameters' float32."""
        dtype = self._config.autocast_dtype
        return torch.autocast(
            torch.device(self.device).type, dtype=getattr(torch, dtype or "bfloat16"), enabled=dtype is not None
        )

    @eval_api
    def scores(self, observations: torch.Tensor) -> torch.Tensor:
        """Scores of all items from N1's evaluation head, (B, n_items)."""
        network = self._modules.network1
        head = network.q_head if self._config.score_head == "q" else network.ce_head
        assert head is not None
        with torch.no_grad():
            return head(network(observations))

    def inner_predict_best_action(self, x: torch.Tensor) -> torch.Tensor:
        return self.scores(x).argmax(dim=1)

    def inner_sample_action(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner_predict_best_action(x)

    def inner_predict_value(self, x: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """N1's Q(s, a) from the gathered head rows; the CE logit for a network without Q head."""
        network = self._modules.network1
        action = action.long().view(-1, 1)
        with torch.no_grad():
            if network.q_head is None:
                return network.ce_head(network(x)).gather(1, action).view(-1)
            return network.q_of(network(x), action).view(-1)


class DoubleQImpl(SASRecImpl):
    """Random-swap double Q over N1 and N2 with CE + w·TD; from ``switch_step``, Q-weighted CE and fresh optimisers."""

    _config: DoubleQConfig

    @property
    def n_negatives(self) -> int:
        return self._config.n_negatives

    @property
    def sampled_q_targets(self) -> int | None:
        return self._config.sampled_q_targets

    def draw_main(self) -> int:
        """0 for N1, 1 for N2: the seeded coin of the random-swap double Q, on the host.

        Drawn in blocks of :data:`COIN_BLOCK` from a CPU generator: the same sequence as one draw per step (torch
        draws a block element by element), and no device is involved.
        """
        coin = next(self._coins, None)
        if coin is None:
            self._coins = iter(torch.randint(2, (COIN_BLOCK,), generator=self._coin).tolist())
            coin = next(self._coins)
        return coin

    def in_phase2(self, grad_step: int) -> bool:
        switch = self._config.switch_step
        return switch is not None and grad_step >= switch

    def loss_terms(self, step: UpdateStep, phase2: bool) -> LossTerms:
        """CE + w·TD; after the switch each sample's CE is scaled by its phase-2 weight."""
        ce = step.ce * self.phase2_weights(step) if phase2 else step.ce
        return {"ce_loss": (ce, 1.0), "td_loss": (step.td, self._config.td_weight)}

    def actor_weights(self, step: UpdateStep) -> torch.Tensor:
        """Q̂(s, a) of main, detached (SAC / SASRec-AC)."""
        return step.q_logged.detach()

    def phase2_weights(self, step: UpdateStep) -> torch.Tensor:
        """The raw actor weights under the config's ``actor_weight`` rule, (B,)."""
        return apply_actor_weight(step.actor_weights, self._config.actor_weight)

    def monitored(self, step: UpdateStep, phase2: bool) -> dict[str, torch.Tensor]:
        """Q of the logged and of sampled negative items (sampled for monitoring if the loss has none)."""
        with torch.no_grad():
            q_logged, q_negative = step.q_logged.detach(), step.q_negative.detach()
            values = {
                "q_logged_mean": q_logged.mean(),
                "q_logged_max": q_logged.max(),
                "q_negative_mean": q_negative.mean(),
                "q_negative_max": q_negative.max(),
            }
            if phase2:
                values["actor_weight_mean"] = self.phase2_weights(step).mean()
                values["actor_weight_negative_share"] = (step.actor_weights < 0).float().mean()
        return values


class SASRecAlgoBase(QLearningAlgoBase[SASRecImpl, SASRecBaseConfig]):
    """Builds the networks and optimisers and adds ``scores`` / ``recommend``; subclasses name their Impl."""

    impl_class: ClassVar[type[SASRecImpl]] = SASRecImpl

    def inner_create_impl(self, observation_shape: Shape, action_size: int) -> None:
        config = self._config
        check_config(config, action_size)
        double_q = isinstance(config, DoubleQConfig)
        if not double_q and config.score_head == "q":
            raise ValueError(f"{type(self).__name__} has no Q head; use score_head='ce'")
        factory = config.encoder_factory
        if isinstance(factory, ItemEncoderFactory):
            if factory.n_items not in (None, action_size):
                raise ValueError(f"encoder_factory.n_items={factory.n_items} is not the action size {action_size}")
            factory = dataclasses.replace(factory, n_items=action_size)
        networks = [
            self._create_network(factory, observation_shape, action_size, double_q) for _ in range(1 + double_q)
        ]

        def optimizers(learning_rate: float) -> list[OptimizerWrapper | None]:
            made = [config.optim_factory.create(n.named_modules(), lr=learning_rate, compiled=False) for n in networks]
            return made + [None] * (2 - len(made))

        phase1 = optimizers(config.learning_rate)
        two_phases = double_q and config.switch_step is not None
        phase2 = optimizers(config.learning_rate_2) if two_phases else [None, None]
        modules = SASRecModules(
            network1=networks[0],
            network2=networks[1] if double_q else None,
            optim1=phase1[0],
            optim2=phase1[1],
            optim1_phase2=phase2[0],
            optim2_phase2=phase2[1],
        )
        self._impl = self.impl_class(observation_shape, action_size, modules, config, self._device)

    def _create_network(
        self, factory: EncoderFactory, observation_shape: Shape, action_size: int, with_q_head: bool
    ) -> SASRecNetwork:
        encoder = factory.create(observation_shape)
        hidden_size = compute_output_size([observation_shape], encoder)
        return SASRecNetwork(encoder, hidden_size, action_size, with_q_head).to(self._device)

    def get_action_type(self) -> ActionSpace:
        return ActionSpace.DISCRETE

    def build_with_dataset(self, dataset: ReplayBufferBase) -> None:
        super().build_with_dataset(dataset)
        self._check_shapes(dataset)
        self._keep_contract(dataset)
        self._keep_item_counts(dataset)

    def fitter(
        self, dataset: ReplayBufferBase, n_steps: int, n_steps_per_epoch: int = 10000, *args: Any, **kwargs: Any
    ) -> Generator[tuple[int, dict[str, float]], None, None]:
        if n_steps_per_epoch % self._config.log_every:
            raise ValueError(
                f"log_every={self._config.log_every} must divide n_steps_per_epoch={n_steps_per_epoch}, so that "
                "each epoch's logged means cover exactly its steps"
            )
        self._check_shapes(dataset)
        self._keep_contract(dataset)
        if self._impl is None and self._config.sampled_proposal == "popularity":
            super().build_with_dataset(dataset)  # the networks now, so the item counts have an Impl to go to
        self._keep_item_counts(dataset)
        yield from super().fitter(dataset, n_steps, n_steps_per_epoch, *args, **kwargs)

    def _check_shapes(self, dataset: ReplayBufferBase) -> None:
        """Refuse (one line) to train a built model on data of another catalogue or state width."""
        if self._impl is None:
            return
        info = dataset.dataset_info
        width = info.observation_signature.shape[0][0]
        built = (self._impl.action_size, self._impl.observation_shape[0])
        if (info.action_size, width) != built:
            raise ValueError(
                f"this {type(self).__name__} was built for {built[0]} items and states of {built[1]}, the dataset has "
                f"{info.action_size} items and states of {width}: build a new model for it"
            )

    def predict(self, x: Observations) -> np.ndarray:
        """d3rlpy's ``predict`` (the argmax of :meth:`scores`), refusing another dataset's item ids in one line."""
        if self._impl is not None:
            check_states(x, self._impl.observation_shape[0], self._impl.action_size)
        return super().predict(x)

    def _keep_item_counts(self, dataset: ReplayBufferBase) -> None:
        """The training item counts, which the popularity proposal of the sampled softmax draws from."""
        if self._config.sampled_proposal == "popularity" and self._impl is not None:
            actions = np.concatenate([np.asarray(episode.actions).reshape(-1) for episode in dataset.episodes])
            self._impl.set_item_counts(np.bincount(actions.astype(np.int64), minlength=self._impl.action_size))

    def _keep_contract(self, dataset: ReplayBufferBase) -> None:
        """Carry the dataset contract of an MDPDataset made by ``SessionDataset.to_d3rlpy`` (recgym.contract); refuse
        to go on training on another dataset (``recgym.contract.bind_contract(algo, other)`` first to transfer)."""
        contract, own = contract_of(dataset), contract_of(self)
        if contract is None:
            return
        if own is not None and own != contract:
            raise InvalidOptionError(
                f"{type(self).__name__} was trained for another dataset ({own.describe()}) than this one "
                f"({contract.describe()}); recgym.contract.bind_contract(algo, dataset) first if the transfer is "
                "deliberate"
            )
        bind_contract(self, contract)

    def scores(self, observations: Observations) -> torch.Tensor:
        """(B, n_items) float32 item scores on the algo's device from N1's ``score_head``; no grad, eval mode."""
        assert self._impl is not None, "call fit or build_with_dataset first"
        x = torch.as_tensor(observations)
        check_states(x, self._impl.observation_shape[0], self._impl.action_size)
        return self._impl.scores(x.to(self._device))

    def recommend(self, observations: Observations, k: int) -> np.ndarray:
        """(B, k) item ids, best first; ties ordered as in the evaluator (:func:`recgym.evaluation.metrics.top_k`)."""
        return top_k(self.scores(observations), k).cpu().numpy()
