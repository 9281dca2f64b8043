"""Worlds with consequences: each mechanic moves what it should, the presets, the planner and the headroom report."""

from __future__ import annotations

import dataclasses

import gymnasium as gym
import numpy as np
import pytest

from recgym.cli import main
from recgym.envs.mechanics import WORLD_PRESETS, WorldMechanics, world_mechanics
from recgym.envs.simulator import Outcome, Sessions
from recgym.errors import InvalidOptionError
from recgym.worlds import MyopicOraclePolicy, PlannerPolicy, headroom, make_world, planning, play

SMALL = {"n_sessions": 400, "n_items": 60}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("worlds")


def world(data_dir, preset="myopic", **mechanics):
    return make_world(preset, data_dir=data_dir, **SMALL, **mechanics)


def run_steps(simulator, slate_of, n_sessions=2000, steps=6, seed=0):
    """Step ``n_sessions`` sessions ``steps`` times with ``slate_of(sessions)``; every outcome, live rows only."""
    sessions, outcomes = simulator.start(seed, np.arange(n_sessions)), []
    for _ in range(steps):
        outcome, after = simulator.step(sessions, slate_of(sessions))
        outcomes.append(outcome)
        sessions = after.select(~outcome.done)
        if not len(sessions):
            break
    return outcomes


def test_presets_and_bad_mechanics_are_one_line_errors():
    assert WORLD_PRESETS["myopic"] == WorldMechanics(
        satiation=0, leave_annoyance=0, intent_gain=0, drift=0, clickbait=0, retention=0
    )
    assert all(value > 0 for value in dataclasses.astuple(WORLD_PRESETS["longterm"]))
    assert WORLD_PRESETS["longterm-v0"] == WorldMechanics(satiation=0.5, leave_annoyance=0.1, intent_gain=0.7, drift=1)
    assert world_mechanics("longterm", satiation=0.0).satiation == 0.0
    with pytest.raises(InvalidOptionError, match="unknown world 'far'; expected one of myopic, longterm, longterm-v0"):
        world_mechanics("far")
    with pytest.raises(InvalidOptionError, match="unknown mechanic\\(s\\) boredom"):
        world_mechanics("myopic", boredom=1.0)
    with pytest.raises(InvalidOptionError, match="satiation must be a finite number >= 0 and < 1, got 1.0"):
        WorldMechanics(satiation=1.0)
    with pytest.raises(InvalidOptionError, match="leave_annoyance must be a finite number >= 0 and <= 1"):
        WorldMechanics(leave_annoyance=-0.1)
    with pytest.raises(InvalidOptionError, match="clickbait must be a finite number >= 0, got -1"):
        WorldMechanics(clickbait=-1)


def test_clickbait_makes_the_worst_items_the_most_tempting(data_dir):
    baited, plain = world(data_dir, clickbait=1.0), world(data_dir)
    sessions = baited.start(0, np.arange(4000))
    quality = baited.quality[baited.raw_item_ids]
    worst, best = int(np.argmin(quality)), int(np.argmax(quality))
    expected = np.exp(-quality - 0.5)  # exp(-clickbait * q - clickbait ** 2 / 2)
    first = sessions.select(np.arange(1))
    np.testing.assert_allclose(baited.slate_values(first)[0] / plain.slate_values(first)[0], expected, rtol=1e-12)
    for item, more in ((worst, True), (best, False)):
        slate = np.full((4000, 1), item)
        ratio = baited.step(sessions, slate)[0].from_slate.mean() / plain.step(sessions, slate)[0].from_slate.mean()
        assert bool(ratio > 1.5) is more
    # the item's quality is the world's own draw: not the generator's, so the logs are those of every preset
    assert baited.dataset.train_fingerprint == plain.dataset.train_fingerprint


def test_retention_scales_the_odds_of_leaving_by_the_satisfaction(data_dir):
    kept = world(data_dir, retention=1.5)
    sessions = kept.start(0, np.arange(40_000))
    empty = np.full((40_000, 1), kept.pad_id)
    for _ in range(3):  # three organic clicks: no slate click, so the satisfaction is not shrunk (1 + 0 clicks)
        sessions = kept.step(sessions, empty)[1]
    hazard = kept._hazard[4]
    for satisfaction in (-1.0, 0.0, 1.0):
        moved = dataclasses.replace(sessions, satisfaction=np.full(40_000, satisfaction))
        left = kept.step(moved, empty)[0].done.mean()
        odds = np.exp(-1.5 * satisfaction)
        exact = hazard * odds / (1 - hazard + hazard * odds)
        assert left == pytest.approx(exact, abs=4 * np.sqrt(exact * (1 - exact) / 40_000))
    # a clicked recommendation adds its quality to the satisfaction, an organic click nothing
    item = int(np.argmax(kept.dataset.item_popularity))
    outcome, after = kept.step(sessions, np.full((40_000, 1), item))
    quality = kept.quality[kept.raw_item_ids[item]]
    np.testing.assert_array_equal(after.satisfaction, np.where(outcome.from_slate, quality, 0.0))


def test_satiation_wears_out_an_item_shown_again_and_again(data_dir):
    def slate_clicks(simulator):
        item = int(np.argmax(simulator.dataset.item_popularity))
        outcomes = run_steps(simulator, lambda s: np.full((len(s), 1), item))
        return np.mean([o.from_slate.mean() for o in outcomes[2:]])

    assert slate_clicks(world(data_dir, satiation=0.8)) < 0.7 * slate_clicks(world(data_dir))


def test_an_irrelevant_slate_ends_sessions_sooner_than_an_engaging_one(data_dir):
    annoyed, calm = world(data_dir, leave_annoyance=0.5), world(data_dir)

    def worst(sessions, k):  # the least popular item
        return np.argsort(annoyed.dataset.item_popularity)[:k][None].repeat(len(sessions), 0)

    def mean_length(simulator, policy):
        returns = play(simulator, policy, n_sessions=1000, seed=1, slate_size=1)
        return returns.mean() / simulator.reward_click  # about the clicks per session (purchases add a little)

    assert mean_length(annoyed, worst) < 0.8 * mean_length(calm, worst)
    assert mean_length(annoyed, worst) < mean_length(annoyed, MyopicOraclePolicy(annoyed))


def test_purchase_intent_builds_up_with_clicks_in_the_topic(data_dir):
    intent, plain = world(data_dir, intent_gain=1.0), world(data_dir)
    sessions = intent.start(0, np.arange(4))
    item = np.array([intent.raw_item_ids[0]] * 4)
    topic = intent.model.topic_of[item[0]]
    counts = sessions.topic_clicks.copy()
    counts[:, topic] = [0, 1, 2, 3]
    engaged = dataclasses.replace(sessions, topic_clicks=counts)
    probabilities = intent.purchase_probability(engaged, item, np.zeros(4, dtype=np.int64))
    assert np.all(np.diff(probabilities) > 0)
    assert probabilities[0] == plain.purchase_probability(engaged, item, np.zeros(4, dtype=np.int64))[0]


def test_drift_raises_the_slate_share_of_a_topic_the_user_clicked_into(data_dir):
    drifting = world(data_dir, drift=3.0)
    item = int(np.argmax(drifting.dataset.item_popularity))
    raw = drifting.raw_item_ids[item]
    sessions = drifting.start(0, np.arange(3000))
    counts = sessions.topic_slate_clicks.copy()
    counts[:, drifting.model.topic_of[raw]] = 2
    drawn = dataclasses.replace(sessions, topic_slate_clicks=counts)
    slate = np.full((3000, 1), item)
    before = drifting.step(sessions, slate)[0].from_slate.mean()
    after = drifting.step(drawn, slate)[0].from_slate.mean()
    assert after > 1.5 * before
    # two slate clicks in the topic: the weight is 1 + 3 * 2 / 3 = 3 times the organic one, and no more
    ratio = drifting.slate_values(drawn)[:, item] / drifting.slate_values(sessions)[:, item]
    np.testing.assert_allclose(ratio, 3.0, rtol=1e-12)


def test_myopic_world_is_the_default_world(data_dir):
    default = make_world(data_dir=data_dir, **SMALL)
    explicit = world(data_dir, satiation=0.0, leave_annoyance=0.0, intent_gain=0.0, drift=0.0, clickbait=0.0,
                     retention=0.0)  # fmt: skip
    policy = MyopicOraclePolicy(default)
    for simulator in (default, explicit):
        np.testing.assert_array_equal(
            play(simulator, policy, n_sessions=300, seed=2, slate_size=5),
            play(default, policy, n_sessions=300, seed=2, slate_size=5),
        )


def test_the_online_env_runs_a_world_by_name(data_dir):
    env = gym.make("RecOnline-Synthetic", world="longterm", data_dir=data_dir, slate_size=3, **SMALL)
    assert env.unwrapped.simulator.mechanics == WORLD_PRESETS["longterm"]
    observation, _ = env.reset(seed=0)
    _, reward, *_ = env.step(np.array([0, 1, 2]))
    assert reward >= env.unwrapped.simulator.reward_click


def test_a_planner_of_one_candidate_is_its_base_the_myopic_oracle_without_retention(data_dir):
    for simulator in (world(data_dir, "longterm-v0"), world(data_dir, "longterm")):
        planner = PlannerPolicy(simulator, candidates=1, rollouts=2, horizon=2, search_sessions=50)
        base = planner.base(4)
        assert (base.tilt == 0) is (simulator.mechanics.retention == 0)
        np.testing.assert_array_equal(
            play(simulator, planner, n_sessions=200, seed=3, slate_size=4),
            play(simulator, base, n_sessions=200, seed=3, slate_size=4),
        )


def test_the_planner_bases_itself_on_the_tilt_that_earns_most_and_tilting_pays_where_clicks_bait(data_dir):
    simulator = world(data_dir, clickbait=0.5, retention=3.0)
    planner = PlannerPolicy(simulator, tilts=(1.0, 2.0), search_sessions=300, seed=5)
    family = [MyopicOraclePolicy(simulator, tilt) for tilt in (0.0, 1.0, 2.0)]
    earned = {policy.tilt: play(simulator, policy, n_sessions=2000, seed=11, slate_size=3).mean() for policy in family}
    assert max(earned[1.0], earned[2.0]) > 1.1 * earned[0.0]  # the conflict exists: clicks now against users kept
    base = planner.base(3)
    assert base.tilt == max(earned, key=earned.get)  # the search (300 sessions of its own stream) finds the best
    assert planner.base(3) is base  # searched once per slate size
    with pytest.raises(
        InvalidOptionError, match="tilt=1.0 weighs items by their retention effect: this world has none"
    ):
        MyopicOraclePolicy(world(data_dir), 1.0)
    np.testing.assert_array_equal(
        base(simulator.start(0, np.arange(5)), 3),
        family[[0.0, 1.0, 2.0].index(base.tilt)](simulator.start(0, np.arange(5)), 3),
    )


def test_headroom_reports_every_policy_on_the_same_sessions(data_dir):
    simulator = world(data_dir, "longterm")
    report = headroom(simulator, n_sessions=300, seed=0, slate_size=4, planner={"candidates": 4, "rollouts": 4})
    for name in ("planner", "myopic", "popularity", "empty"):
        low, high = report[f"{name}_ci"]
        assert low <= report[name] <= high
    empty = play(simulator, None, n_sessions=300, seed=0, slate_size=4)
    assert report["empty"] == pytest.approx(empty.mean())
    assert report["headroom"] == pytest.approx((report["planner"] - report["myopic"]) / report["myopic"])
    # in the myopic world looking ahead cannot pay: the planner keeps the myopic slate unless rollouts show a gain
    flat = headroom(world(data_dir), n_sessions=300, seed=0, slate_size=4, planner={"candidates": 4, "rollouts": 4})
    assert flat["headroom_ci"][0] <= 0.0 <= flat["headroom_ci"][1]


def test_cli_prints_the_headroom_table_and_refuses_an_unknown_world(data_dir, capsys):
    options = ["-o", "n_items=60", "-o", "n_sessions=400", "--data-dir", str(data_dir)]
    budget = ["--sessions", "100", "--slate-size", "3", "--candidates", "2", "--rollouts", "2"]
    assert main(["worlds", "headroom", "--world", "longterm", *budget, *options]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("world longterm: mean return per session over 100 simulated sessions")
    assert [line.split()[0] for line in lines[1:]] == ["planner", "myopic", "popularity", "empty", "headroom"]
    assert main(["worlds", "headroom", "--world", "far", *options]) == 2
    assert (
        capsys.readouterr().err
        == "recgym: error: unknown world 'far'; expected one of myopic, longterm, longterm-v0 or a fitted world's file\n"
    )


class BaitWorld:
    """A toy world whose optimum is worked out by hand. Two items; the user clicks the first item shown, if any.
    Item 0 (the bait) earns 1 and ends the session; item 1 earns 0.6 and, at the first step only, keeps the user for
    a second step. An empty slate earns 0 and ends it. Best: item 1, then item 0 = 1.6; the myopic oracle shows the
    bait at once = 1.0."""

    n_items, pad_id = 2, 2

    def start(self, seed, index):
        n = len(index)
        empty = np.zeros((n, 0), dtype=np.int64)
        counts = np.zeros((n, 1), dtype=np.int64)
        keys = np.arange(n, dtype=np.uint64) + np.uint64(seed)
        return Sessions(
            keys, np.asarray(index), empty, np.zeros(n, dtype=np.int64), empty, counts, counts.copy(), np.zeros(n)
        )

    def slate_values(self, sessions):
        return np.tile([1.0, 0.6], (len(sessions), 1))

    def step(self, sessions, slates):
        first = slates[:, 0]
        shown = first < self.pad_id
        reward = np.select([first == 0, first == 1], [1.0, 0.6], 0.0)
        done = ~shown | (first == 0) | (sessions.history.shape[1] >= 1)
        clicked = np.where(shown, first, 0)
        outcome = Outcome(clicked, shown.astype(np.int64), np.zeros(len(first), dtype=bool), reward, done)
        after = dataclasses.replace(sessions, history=np.concatenate([sessions.history, clicked[:, None]], axis=1),
                                    shown=np.concatenate([sessions.shown, slates[:, :1]], axis=1))  # fmt: skip
        return outcome, after


def test_the_planner_finds_the_hand_computed_optimum_that_the_myopic_oracle_misses():
    toy = BaitWorld()
    myopic = play(toy, MyopicOraclePolicy(toy), n_sessions=200, seed=0, slate_size=1)
    np.testing.assert_array_equal(myopic, 1.0)
    planner = play(toy, PlannerPolicy(toy, candidates=16, rollouts=2, horizon=2), n_sessions=200, seed=0, slate_size=1)
    assert set(np.round(planner, 12)) <= {1.0, 1.6}
    # a perturbed slate shows item 1 when 0.6 e^g1 > e^g0 (Gumbel g): P = 0.6 / 1.6 = 0.375; a session misses the
    # optimum only if none of its 14 perturbations does: 0.625^14 = 0.14%
    assert planner.mean() >= 1.59
    blind = play(toy, PlannerPolicy(toy, candidates=16, rollouts=2, horizon=1), n_sessions=200, seed=0, slate_size=1)
    np.testing.assert_array_equal(blind, 1.0)  # a one-step horizon cannot see the second step: it is the myopic oracle


def test_the_planner_plans_in_chunks_with_the_same_slates(data_dir, monkeypatch):
    simulator = world(data_dir, "longterm")
    planner = PlannerPolicy(simulator, candidates=3, rollouts=2, search_sessions=50)
    whole = play(simulator, planner, n_sessions=60, seed=4, slate_size=3)
    monkeypatch.setattr(planning, "PLANNER_CHUNK_CELLS", 3 * 2 * simulator.n_items * 7)  # 7 sessions at a time
    np.testing.assert_array_equal(play(simulator, planner, n_sessions=60, seed=4, slate_size=3), whole)
