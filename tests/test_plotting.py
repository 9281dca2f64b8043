"""Tests of recgym/plotting.py: figures are real PNGs with the expected panels, drawn from a curves table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.image import imread

from recgym.plotting import VAL_PANELS, plot_curves, plot_results

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def fake_curves(agents=("a", "b"), seeds=(0, 1, 2), steps=(10, 20, 30)) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = [
        {"agent": a, "seed": s, "step": t, **{m: rng.random() for m in VAL_PANELS}, "train/q_logged_mean": rng.random()}
        for a in agents
        for s in seeds
        for t in steps
    ]
    return pd.DataFrame(rows)


def assert_png(path) -> np.ndarray:
    assert path.read_bytes()[:8] == PNG_MAGIC
    image = imread(path)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    return image


@pytest.mark.parametrize("band", ["std", "minmax"])
def test_plot_curves_writes_png(tmp_path, band):
    path = plot_curves(fake_curves(), VAL_PANELS, tmp_path / "sub" / "curves.png", band=band)
    assert path == tmp_path / "sub" / "curves.png"
    assert_png(path)


def test_more_panels_wrap_into_more_rows(tmp_path):
    curves = fake_curves()
    one_row = assert_png(plot_curves(curves, VAL_PANELS[:5], tmp_path / "a.png"))
    two_rows = assert_png(plot_curves(curves, VAL_PANELS, tmp_path / "b.png"))
    assert two_rows.shape[0] > 1.5 * one_row.shape[0]


def test_missing_or_all_nan_metrics_are_skipped(tmp_path):
    curves = fake_curves().assign(**{"train/q_logged_max": np.nan})
    assert plot_curves(curves, ["train/q_logged_max", "nope"], tmp_path / "x.png") is None
    assert not (tmp_path / "x.png").exists()


def test_single_seed_draws_without_band_error(tmp_path):
    assert_png(plot_curves(fake_curves(seeds=(0,)), VAL_PANELS[:2], tmp_path / "one.png"))


def test_plot_results_redraws_from_curves_csv(tmp_path):
    fake_curves().to_csv(tmp_path / "curves.csv", index=False)
    paths = plot_results(tmp_path)
    assert [p.name for p in paths] == ["val_curves.png", "train_curves.png"]
    for path in paths:
        assert_png(path)


def test_plot_results_needs_curves(tmp_path):
    with pytest.raises(FileNotFoundError, match="curves.csv"):
        plot_results(tmp_path)


def test_bad_band_is_refused(tmp_path):
    with pytest.raises(ValueError, match="band"):
        plot_curves(fake_curves(), VAL_PANELS, tmp_path / "x.png", band="iqr")


def test_cli_plot_redraws_figures(tmp_path, capsys):
    from recgym.cli import main

    fake_curves().to_csv(tmp_path / "curves.csv", index=False)
    assert main(["plot", str(tmp_path), "--band", "minmax"]) == 0
    assert "val_curves.png" in capsys.readouterr().out
    assert_png(tmp_path / "figures" / "val_curves.png")
