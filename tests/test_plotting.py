"""Tests of recgym/benchmark/plotting.py: figures are real PNGs and PDFs with the expected panels, drawn from a benchmark's tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.image import imread

from recgym.benchmark.plotting import VAL_PANELS, plot_curves, plot_results

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


@pytest.mark.parametrize("band", ["ci", "std", "minmax"])
def test_plot_curves_writes_png_and_pdf(tmp_path, band):
    png, pdf = plot_curves(fake_curves(), VAL_PANELS, tmp_path / "sub" / "curves.png", band=band)
    assert png == tmp_path / "sub" / "curves.png" and pdf == tmp_path / "sub" / "curves.pdf"
    assert_png(png)
    assert pdf.read_bytes()[:5] == b"%PDF-"


def test_band_is_the_t_interval_of_the_seeds():
    from scipy import stats

    from recgym.benchmark.plotting import _band

    values = pd.Series([0.1, 0.2, 0.6])
    half = stats.t.ppf(0.975, 2) * values.std(ddof=1) / np.sqrt(3)
    assert _band(values, "ci") == pytest.approx((values.mean() - half, values.mean() + half))
    assert _band(values, "minmax") == pytest.approx((0.1, 0.6))


def test_switch_markers_and_baselines_are_drawn(tmp_path):
    curves = pd.concat([fake_curves(), fake_curves(agents=("pop",), steps=(0,))])
    plain = assert_png(plot_curves(curves, VAL_PANELS[:1], tmp_path / "plain.png")[0])
    marked = assert_png(
        plot_curves(curves, VAL_PANELS[:1], tmp_path / "marked.png", switch_steps={"a": 20}, baselines=["pop"])[0]
    )
    assert plain.shape == marked.shape and not np.array_equal(plain, marked)


def test_more_panels_wrap_into_more_rows(tmp_path):
    curves = fake_curves()
    one_row = assert_png(plot_curves(curves, VAL_PANELS[:5], tmp_path / "a.png")[0])
    two_rows = assert_png(plot_curves(curves, VAL_PANELS, tmp_path / "b.png")[0])
    assert two_rows.shape[0] > 1.5 * one_row.shape[0]


def test_missing_or_all_nan_metrics_are_skipped(tmp_path):
    curves = fake_curves().assign(**{"train/q_logged_max": np.nan})
    assert plot_curves(curves, ["train/q_logged_max", "nope"], tmp_path / "x.png") == []
    assert not (tmp_path / "x.png").exists()


def test_single_seed_draws_without_band_error(tmp_path):
    assert_png(plot_curves(fake_curves(seeds=(0,)), VAL_PANELS[:2], tmp_path / "one.png")[0])


def test_plot_results_redraws_from_curves_csv(tmp_path):
    fake_curves().to_csv(tmp_path / "curves.csv", index=False)
    paths = plot_results(tmp_path)
    assert [p.name for p in paths] == ["val_curves.png", "val_curves.pdf", "train_curves.png", "train_curves.pdf"]
    for path in paths[::2]:
        assert_png(path)


def test_plot_results_needs_curves(tmp_path):
    from recgym.errors import RecgymError

    with pytest.raises(RecgymError, match="curves.csv not found"):
        plot_results(tmp_path)
    (tmp_path / "curves.csv").write_text("")
    with pytest.raises(RecgymError, match="curves.csv is empty"):
        plot_results(tmp_path)
    (tmp_path / "curves.csv").write_bytes(np.random.default_rng(0).bytes(3000))
    with pytest.raises(RecgymError, match="curves.csv is damaged \\(not a CSV table\\)"):
        plot_results(tmp_path)
    (tmp_path / "curves.csv").write_text("a,b\n1,2\n")
    with pytest.raises(RecgymError, match="curves.csv is damaged \\(no column agent, seed, step\\)"):
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
