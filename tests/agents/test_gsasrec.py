"""gSASRec: the gBCE loss by hand, its calibration exponent, and a short training run that learns."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from d3rlpy.logging import NoopAdapterFactory

import recgym
from agents import make_config
from agents.gsasrec import gbce
from agents.validation import check_config
from recgym.errors import InvalidOptionError
from recgym.evaluation.offline import PopularityPolicy


def test_gbce_by_hand():
    positive, negative = torch.tensor([0.0]), torch.tensor([[0.0, math.log(3.0)]])
    # -β log σ(0) - log(1 - σ(0)) - log(1 - σ(ln 3)) = β ln 2 + ln 2 + ln 4
    for beta in (1.0, 0.4375):
        assert gbce(positive, negative, beta).item() == pytest.approx(beta * math.log(2) + math.log(2) + math.log(4))


@pytest.mark.parametrize(("calibration", "beta"), [(0.0, 1.0), (1.0, 0.25), (0.75, 1 - 0.75 * 0.75)])
def test_beta_follows_the_sampling_rate(calibration, beta):
    config = make_config("gsasrec", n_items=101, n_negatives=25, calibration=calibration, hidden_size=8)
    algo = config.create(device="cpu")
    algo.create_impl((10,), 101)
    assert algo.impl.beta == pytest.approx(beta)  # α = 25 / 100


def test_a_short_run_learns_and_bad_calibration_is_refused(tmp_path):
    dataset = recgym.load_dataset("synthetic", n_sessions=3000, n_items=500, data_dir=tmp_path)
    config = make_config("gsasrec", n_items=dataset.n_items, hidden_size=16, batch_size=64, n_negatives=16)
    algo = config.create(device="cpu")
    algo.fit(dataset.to_d3rlpy("train"), n_steps=1000, n_steps_per_epoch=1000, show_progress=False,
             logger_adapter=NoopAdapterFactory(), save_interval=10**9)  # fmt: skip
    trained = recgym.evaluate(algo, dataset, split="val", ks=(20,))["click/hr@20"]
    popular = recgym.evaluate(PopularityPolicy(dataset), dataset, split="val", ks=(20,))["click/hr@20"]
    assert trained > 2 * popular
    observations = dataset.split("val").observations[:8]
    np.testing.assert_array_equal(algo.scores(observations).argmax(axis=1), algo.predict(observations))
    with pytest.raises(InvalidOptionError, match="calibration must be"):
        check_config(make_config("gsasrec", n_items=80, calibration=1.5))
