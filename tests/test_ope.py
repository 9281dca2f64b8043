"""Off-policy estimators: hand-computed values on a toy log, unbiasedness by Monte-Carlo against an exactly computed
value, the clustered bootstrap against its closed form, and the real Open Bandit Dataset sample."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recgym import ope
from recgym.errors import InvalidOptionError

OBD = Path(__file__).resolve().parents[2] / "shared" / "data" / "obd-small"

# two episodes of two steps; every number below is worked out by hand from these
REWARDS = np.array([[1.0, 0.0], [0.0, 2.0]])
TARGET = np.array([[0.5, 1.0], [0.2, 0.5]])
LOGGED = np.array([[0.25, 0.5], [0.4, 0.5]])  # w = [[2, 2], [0.5, 1]], rho = [[2, 4], [0.5, 0.5]]
Q_LOGGED = np.array([[0.5, 1.0], [1.0, 1.0]])
VALUES = np.array([[0.8, 0.5], [0.6, 1.5]])


def test_each_estimator_on_a_hand_computed_log():
    assert ope.ips(REWARDS, TARGET, LOGGED, gamma=0.5).value == pytest.approx((4 * 1 + 0.5 * 1) / 2)
    assert ope.snips(REWARDS, TARGET, LOGGED, gamma=0.5).value == pytest.approx((4 + 0.5) / 4.5)
    assert ope.pdis(REWARDS, TARGET, LOGGED, gamma=0.5).value == pytest.approx(
        (2 * 1 + 0.5 * 0.5 * 2) / 2
    )  # gamma * rho_1 * r
    # episode 1: 2 * (1 - 0.5) + 0.8 + 0.5 * (4 * (0 - 1) + 2 * 0.5); episode 2: 0.5 * (0 - 1) + 0.6 + 0.5 * (0.5 * 1 + 0.5 * 1.5)
    dr = ope.dr(REWARDS, TARGET, LOGGED, Q_LOGGED, VALUES, gamma=0.5)
    assert dr.value == pytest.approx((0.3 + 0.725) / 2)
    # step 0: (2 * 0.5 + 0.5 * -1) / 2.5 + (0.8 + 0.6) / 2; step 1: (4 * -1 + 0.5 * 1) / 4.5 + (2 * 0.5 + 0.5 * 1.5) / 2.5
    sndr = ope.sndr(REWARDS, TARGET, LOGGED, Q_LOGGED, VALUES, gamma=0.5)
    assert sndr.value == pytest.approx(0.2 + 0.7 + 0.5 * (-3.5 / 4.5 + 0.7))
    assert ope.dm(VALUES).value == pytest.approx(0.7)
    assert ope.slate_ips(REWARDS, TARGET, LOGGED).value == pytest.approx((2 * 1 + 1 * 2) / 2)
    assert ope.slate_ips(REWARDS, TARGET, LOGGED, interaction="cascade").value == pytest.approx((2 * 1 + 0.5 * 2) / 2)


def test_padded_steps_count_for_nothing():
    mask = np.array([[True, True], [True, False]])
    rewards, target, logged = REWARDS.copy(), TARGET.copy(), LOGGED.copy()
    rewards[1, 1], target[1, 1], logged[1, 1] = 99.0, 0.0, 0.0  # garbage where the second episode has ended
    # episode 2 is one step long: its return is 0 and its weight 0.5
    assert ope.ips(rewards, target, logged, mask=mask, gamma=0.5).value == pytest.approx((4 * 1 + 0.5 * 0) / 2)
    assert ope.snips(rewards, target, logged, mask=mask).value == pytest.approx(4 / 4.5)


def test_the_action_distribution_of_each_rule():
    scores = np.array([[1.0, 3.0, 3.0, 0.0]])
    np.testing.assert_array_equal(ope.action_distribution(scores), [[0, 1, 0, 0]])  # tie: the lower id
    np.testing.assert_array_equal(ope.action_distribution(scores, "top_k", k=2), [[0, 0.5, 0.5, 0]])
    soft = ope.action_distribution(scores, "softmax", temperature=2.0)
    expected = np.exp(scores / 2.0) / np.exp(scores / 2.0).sum()
    np.testing.assert_allclose(soft, expected, rtol=1e-12)
    q = np.array([[0.0, 1.0, 2.0, 3.0]])
    assert ope.expected_values(soft, q)[0] == pytest.approx(float((expected * q).sum()))


def _two_step_logs(n_logs: int, n_episodes: int, seed: int) -> tuple[dict[str, np.ndarray], float]:
    """Logs of a two-state, three-action, two-step MDP, and the target policy's exact value (gamma 0.9)."""
    rng = np.random.default_rng(seed)
    mean_reward = np.array([[0.1, 0.5, 0.9], [0.7, 0.2, 0.4]])  # Bernoulli reward of (state, action)
    logging = np.array([[0.6, 0.3, 0.1], [0.2, 0.2, 0.6]])
    target = np.array([[0.1, 0.2, 0.7], [0.8, 0.1, 0.1]])
    gamma = 0.9

    def next_state(state, action):
        return (state + action) % 2

    value = 0.0
    for s0 in (0, 1):
        for a0 in range(3):
            s1 = next_state(s0, a0)
            later = sum(target[s1, a1] * mean_reward[s1, a1] for a1 in range(3))
            value += 0.5 * target[s0, a0] * (mean_reward[s0, a0] + gamma * later)

    n = n_logs * n_episodes
    states = np.empty((n, 2), dtype=np.int64)
    actions = np.empty((n, 2), dtype=np.int64)
    states[:, 0] = rng.integers(0, 2, n)
    for t in range(2):
        if t:
            states[:, 1] = next_state(states[:, 0], actions[:, 0])
        cumulative = logging[states[:, t]].cumsum(axis=1)
        actions[:, t] = (rng.random(n)[:, None] > cumulative).sum(axis=1)
    rewards = (rng.random((n, 2)) < mean_reward[states, actions]).astype(np.float64)
    wrong_q = np.full((2, 3), 0.3)  # a poor model: DR must stay unbiased, DM is as wrong as it
    arrays = {
        "rewards": rewards,
        "target": target[states, actions],
        "propensities": logging[states, actions],
        "q_logged": wrong_q[states, actions],
        "values": ope.expected_values(target[states], wrong_q[states]),
    }
    return {name: array.reshape(n_logs, n_episodes, 2) for name, array in arrays.items()}, value


def test_importance_estimators_are_unbiased_and_their_intervals_cover_the_exact_value():
    logs, truth = _two_step_logs(n_logs=300, n_episodes=1000, seed=0)
    quick = ope.Bootstrap(n_resamples=200)
    estimates: dict[str, list[ope.Estimate]] = {"ips": [], "pdis": [], "dr": [], "snips": [], "sndr": [], "dm": []}
    for i in range(300):
        log = {name: array[i] for name, array in logs.items()}
        common = (log["rewards"], log["target"], log["propensities"])
        estimates["ips"].append(ope.ips(*common, gamma=0.9, interval=quick))
        estimates["pdis"].append(ope.pdis(*common, gamma=0.9, interval=quick))
        estimates["snips"].append(ope.snips(*common, gamma=0.9, interval=quick))
        model = (log["q_logged"], log["values"])
        estimates["dr"].append(ope.dr(*common, *model, gamma=0.9, interval=quick))
        estimates["sndr"].append(ope.sndr(*common, *model, gamma=0.9, interval=quick))
        estimates["dm"].append(ope.dm(log["values"], interval=quick))
    for name in ("ips", "pdis", "dr"):
        values = np.array([estimate.value for estimate in estimates[name]])
        standard_error = values.std(ddof=1) / math.sqrt(len(values))
        assert abs(values.mean() - truth) < 4 * standard_error, name
    for name in ("ips", "pdis", "dr", "snips", "sndr"):
        coverage = np.mean([estimate.low <= truth <= estimate.high for estimate in estimates[name]])
        assert coverage > 0.88, (name, coverage)  # nominal 0.95; at 200 episodes IPS's percentile interval gave 0.82
    dm = np.array([estimate.value for estimate in estimates["dm"]])
    assert abs(dm.mean() - truth) > 0.2  # the wrong model's bias: the check above has power
    # per-decision weighting lowers the variance of trajectory-wise IS
    assert np.std([e.value for e in estimates["pdis"]]) < np.std([e.value for e in estimates["ips"]])


def test_the_clustered_bootstrap_matches_the_closed_form_standard_error():
    rng = np.random.default_rng(1)
    n_clusters, size = 60, 5
    cluster_effect = np.repeat(rng.normal(0, 1, n_clusters), size)
    rewards = cluster_effect + rng.normal(0, 0.2, n_clusters * size)
    clusters = np.repeat(np.arange(n_clusters), size)
    ones = np.ones_like(rewards)
    estimate = ope.ips(rewards, ones, ones, clusters=clusters, interval=ope.Bootstrap(n_resamples=20_000))
    # the plug-in standard error of a mean of equal-size cluster means
    cluster_means = rewards.reshape(n_clusters, size).mean(axis=1)
    closed_form = cluster_means.std(ddof=0) / math.sqrt(n_clusters)
    assert estimate.n_clusters == n_clusters
    assert (estimate.high - estimate.low) / (2 * 1.959964 * closed_form) == pytest.approx(1.0, abs=0.05)
    naive = ope.ips(rewards, ones, ones, interval=ope.Bootstrap(n_resamples=20_000))
    assert naive.high - naive.low < 0.6 * (estimate.high - estimate.low)  # episodes as if independent: too narrow
    singletons = ope.ips(rewards, ones, ones, clusters=np.arange(len(rewards)), interval=ope.Bootstrap(n_resamples=500))
    assert singletons == ope.ips(rewards, ones, ones, interval=ope.Bootstrap(n_resamples=500))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: ope.ips(REWARDS, TARGET, None), "needs logging propensities; the log has none"),
        (lambda: ope.ips(REWARDS, TARGET, np.zeros((2, 2))), "4 logging propensities outside (0, 1]"),
        (lambda: ope.ips(REWARDS, TARGET, LOGGED * 3), "logging propensities outside (0, 1]"),
        (lambda: ope.ips(REWARDS, TARGET * 3, LOGGED), "target probabilities outside [0, 1]"),
        (lambda: ope.ips(REWARDS, TARGET[:, :1], LOGGED), "target probabilities has shape (2, 1)"),
        (lambda: ope.ips(REWARDS, TARGET, LOGGED, gamma=2), "gamma must be"),
        (lambda: ope.ips(REWARDS, TARGET, LOGGED, clusters=[1]), "clusters has 1 labels for 2 episodes"),
        (lambda: ope.snips(REWARDS, TARGET * 0, LOGGED), "self-normalised IPS is undefined"),
        (lambda: ope.slate_ips(REWARDS, TARGET, LOGGED, interaction="x"), "unknown interaction 'x'"),
        (lambda: ope.action_distribution(np.ones((1, 3)), "top_k", k=4), "k (of 3 actions) must be"),
        (lambda: ope.action_distribution(np.ones((1, 3)), "argmax"), "unknown rule 'argmax'"),
        (lambda: ope.Bootstrap(confidence=1.5), "confidence must be"),
    ],
)
def test_bad_input_is_one_line(call, message):
    with pytest.raises(InvalidOptionError) as error:
        call()
    assert message in str(error.value) and "\n" not in str(error.value)


def _obd(policy: str) -> pd.DataFrame:
    path = OBD / policy / "all.csv"
    if not path.is_file():
        pytest.skip(f"the Open Bandit Dataset sample is not at {path} (see ../shared/data/README.md)")
    return pd.read_csv(path, usecols=["item_id", "position", "click", "propensity_score"])


def test_the_uniform_policy_estimated_from_real_thompson_sampling_logs():
    """The OBD check's arithmetic: the uniform policy (1/80 on each item at each position) from BTS's logs."""
    uniform, bts = _obd("random"), _obd("bts")
    assert (uniform.propensity_score == 1 / 80).all()  # the uniform logger's propensities, as documented
    on_policy = ope.ips(uniform.click.to_numpy(), uniform.propensity_score.to_numpy(), uniform.propensity_score)
    assert on_policy.value == pytest.approx(uniform.click.mean(), rel=1e-12)  # weights 1: the on-policy mean
    clicks, logged = bts.click.to_numpy(), bts.propensity_score.to_numpy()
    estimate = ope.ips(clicks, np.full(len(bts), 1 / 80), logged)
    by_hand = sum(click / (80 * p) for click, p in zip(bts.click, bts.propensity_score)) / len(bts)
    assert estimate.value == pytest.approx(by_hand, rel=1e-12)
    assert estimate.low < estimate.value < estimate.high and estimate.n_episodes == 10_000


def test_the_bootstrap_in_chunks_draws_the_same_resamples(monkeypatch):
    rng = np.random.default_rng(2)
    rewards, clusters = rng.normal(size=500), rng.integers(0, 40, 500)
    ones = np.ones_like(rewards)
    whole = ope.ips(rewards, ones, ones, clusters=clusters, interval=ope.Bootstrap(n_resamples=300))
    monkeypatch.setattr(ope, "_CHUNK_CELLS", 7 * 500)  # 7 resamples per chunk
    assert ope.ips(rewards, ones, ones, clusters=clusters, interval=ope.Bootstrap(n_resamples=300)) == whole
