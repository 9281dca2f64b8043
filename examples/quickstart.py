"""Quickstart: load a session dataset, train one agent briefly, evaluate it offline, replay sessions in Gymnasium.

python examples/quickstart.py                                    # under a minute on a CPU
python examples/quickstart.py --agent ccql --steps 5000 --n-sessions 20000 --n-items 5000 --device cuda
"""

from __future__ import annotations

import argparse

import gymnasium as gym
from d3rlpy.logging import NoopAdapterFactory

import recgym  # also registers the RecReplay-* environments
from agents import AGENTS, make_config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agent", default="sasrec", choices=sorted(AGENTS))
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--n-sessions", type=int, default=3000)
    parser.add_argument("--n-items", type=int, default=500)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    synthetic = {"n_sessions": args.n_sessions, "n_items": args.n_items}

    # 1. Data: sessions -> padded item-id states, 80/10/10 split by session, cached on first use.
    dataset = recgym.load_dataset("synthetic", **synthetic)
    print(dataset)

    # 2. An agent is a d3rlpy config (one preset per dataset); training is plain d3rlpy.
    algo = make_config(args.agent, dataset="synthetic", n_items=dataset.n_items).create(device=args.device)
    algo.fit(
        dataset.to_d3rlpy("train"),
        n_steps=args.steps,
        n_steps_per_epoch=args.steps,
        logger_adapter=NoopAdapterFactory(),
    )

    # 3. Offline evaluation on the test events: HR/NDCG@k per event type and the cumulative Reward@k.
    metrics = recgym.evaluate(algo, dataset, split="test")
    for key in ("reward@20", "purchase/hr@20", "purchase/ndcg@20", "click/hr@20", "click/ndcg@20"):
        print(f"{key:<18}{metrics[key]:.4f}")

    # 4. A safe model file (JSON config + weights, no pickle) reloads the same policy.
    recgym.save_model(algo, "quickstart-model.pt")
    assert recgym.evaluate(recgym.load_model("quickstart-model.pt"), dataset, split="test") == metrics

    # 5. The same test sessions as a Gymnasium environment: recommend a slate of 20, earn the logged reward on a hit.
    env = gym.make("RecReplay-Synthetic", split="test", slate_size=20, **synthetic)
    observation, info = env.reset(seed=0)
    for _ in range(3):
        session_return, done = 0.0, False
        while not done:
            slate = recgym.evaluation.recommend(algo, observation[None], 20)[0]
            observation, reward, terminated, truncated, info = env.step(slate)
            session_return += reward
            done = terminated or truncated
        print(f"session {info['session_id']}: return {session_return:.1f}")
        observation, info = env.reset()


if __name__ == "__main__":
    main()
