"""Write your own d3rlpy algorithm on the SASRec encoder and benchmark it against SASRec-CCQL.

The algorithm: SASRec trained by behaviour cloning with label smoothing (the CE target puts 1 - eps on the logged
item and eps spread over all items). A d3rlpy algorithm is three pieces: a Config (hyperparameters, registered so
saved models reload), an Algo (builds networks and optimisers) and an Impl (one gradient step). ``scores`` is all
``recgym.evaluate`` needs to rank items.

    python examples/custom_algorithm.py                        # 1-2 minutes on a CPU
    python examples/custom_algorithm.py --seeds 5 --steps 3000 --eval-every 300 --n-sessions 20000

The same class runs from the command line once its module is importable:

    PYTHONPATH=examples recgym benchmark --dataset synthetic --agents ccql,custom_algorithm:SmoothBCConfig ...
"""

from __future__ import annotations

import argparse
import dataclasses

import torch
import torch.nn.functional as F
from d3rlpy.algos.qlearning.base import QLearningAlgoBase, QLearningAlgoImplBase
from d3rlpy.base import DeviceArg, LearnableConfig, register_learnable
from d3rlpy.constants import ActionSpace
from d3rlpy.optimizers import OptimizerFactory, OptimizerWrapper, make_optimizer_field
from d3rlpy.torch_utility import Modules, TorchMiniBatch
from torch import nn

import recgym
from agents import SASRecEncoderFactory, make_config
from recgym.benchmark import run_benchmark


@dataclasses.dataclass()
class SmoothBCConfig(LearnableConfig):
    """SASRec behaviour cloning with label-smoothed cross-entropy: L = CE_eps(W h(s), a)."""

    batch_size: int = 256
    learning_rate: float = 1e-3
    hidden_size: int = 64
    label_smoothing: float = 0.1
    optim_factory: OptimizerFactory = make_optimizer_field()  # Adam

    def create(self, device: DeviceArg = False, enable_ddp: bool = False) -> SmoothBC:
        return SmoothBC(self, device, enable_ddp)

    @staticmethod
    def get_type() -> str:
        return "smooth_bc"


@dataclasses.dataclass(frozen=True)
class SmoothBCModules(Modules):
    network: nn.Sequential  # SASRec encoder -> Linear(hidden, n_items)
    optim: OptimizerWrapper


class SmoothBCImpl(QLearningAlgoImplBase):
    _modules: SmoothBCModules

    def __init__(self, observation_shape, action_size, modules, label_smoothing: float, device: str):
        super().__init__(observation_shape, action_size, modules, device)
        self._label_smoothing = label_smoothing

    def inner_update(self, batch: TorchMiniBatch, grad_step: int) -> dict[str, float]:
        logits = self._modules.network(batch.observations)
        loss = F.cross_entropy(logits, batch.actions.view(-1).long(), label_smoothing=self._label_smoothing)
        self._modules.optim.zero_grad()
        loss.backward()
        self._modules.optim.step()
        return {"loss": loss.item()}

    def inner_predict_best_action(self, x: torch.Tensor) -> torch.Tensor:
        return self._modules.network(x).argmax(dim=1)

    def inner_sample_action(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner_predict_best_action(x)

    def inner_predict_value(self, x: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        return self._modules.network(x).gather(1, action.long().view(-1, 1)).view(-1)


class SmoothBC(QLearningAlgoBase[SmoothBCImpl, SmoothBCConfig]):
    def inner_create_impl(self, observation_shape, action_size: int) -> None:
        encoder = SASRecEncoderFactory(n_items=action_size, hidden_size=self._config.hidden_size)
        network = nn.Sequential(encoder.create(observation_shape), nn.Linear(self._config.hidden_size, action_size))
        network.to(self._device)
        lr = self._config.learning_rate
        optim = self._config.optim_factory.create(network.named_modules(), lr=lr, compiled=False)
        modules = SmoothBCModules(network=network, optim=optim)
        self._impl = SmoothBCImpl(observation_shape, action_size, modules, self._config.label_smoothing, self._device)

    def get_action_type(self) -> ActionSpace:
        return ActionSpace.DISCRETE

    def scores(self, observations) -> torch.Tensor:
        """(B, n_items) item scores for ``recgym.evaluate``: logits of the eval-mode network, no grad."""
        self._impl.modules.set_eval()
        with torch.no_grad():
            return self._impl.modules.network(torch.as_tensor(observations, device=self._device))


register_learnable(SmoothBCConfig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--eval-every", type=int, default=40)
    parser.add_argument("--n-sessions", type=int, default=2000)
    parser.add_argument("--n-items", type=int, default=300)
    parser.add_argument("--hidden-size", type=int, default=32)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", default="results/custom_algorithm")
    args = parser.parse_args()

    dataset = recgym.load_dataset("synthetic", n_sessions=args.n_sessions, n_items=args.n_items)
    print(dataset)
    agents = {
        "smooth_bc": SmoothBCConfig(hidden_size=args.hidden_size),
        "ccql": make_config("ccql", dataset="synthetic", n_items=dataset.n_items, hidden_size=args.hidden_size),
    }
    result = run_benchmark(
        dataset, agents, seeds=args.seeds, steps=args.steps, eval_every=args.eval_every,
        device=args.device, out=args.out,
    )  # fmt: skip
    print((result.out_dir / "results.md").read_text())
    print("figures:", *result.figures)


if __name__ == "__main__":
    main()
