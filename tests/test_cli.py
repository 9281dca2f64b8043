"""``recgym prepare`` / ``recgym info`` on the synthetic dataset, and user errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from recgym.cli import main, parse_option

SMALL = ["-o", "n_sessions=200", "-o", "n_items=50"]


def test_prepare_then_info(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prepare", "synthetic", "--data-dir", str(tmp_path), "--seed", "3", *SMALL]) == 0
    out = capsys.readouterr().out
    assert "SessionDataset('synthetic'" in out and "train=160 sessions" in out
    cache_dirs = list((tmp_path / "processed").iterdir())
    assert len(cache_dirs) == 1 and (cache_dirs[0] / "manifest.json").is_file()

    assert main(["info", "synthetic", "--data-dir", str(tmp_path), "--seed", "3", *SMALL]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert any(line.split()[0] == "n_items" and int(line.split()[1]) <= 50 for line in lines if line.strip())
    header = next(line.split() for line in lines if line.startswith("split "))
    rows = {line.split()[0]: dict(zip(header, line.split())) for line in lines if line.split()[:1] in (["train"], ["val"], ["test"])}
    assert [rows[name]["sessions"] for name in ("train", "val", "test")] == ["160", "20", "20"]
    assert list((tmp_path / "processed").iterdir()) == cache_dirs  # info reused the cache


def test_user_error_exits_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", "rc15", "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("recgym: error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert main(["prepare", "synthetic", "--data-dir", str(tmp_path), "-o", "n_sesions=3"]) == 2
    assert "valid:" in capsys.readouterr().err


def test_parse_option() -> None:
    assert parse_option("n=5") == ("n", 5)
    assert parse_option("n_sample_sessions=None") == ("n_sample_sessions", None)
    assert parse_option("purchase_event=transaction") == ("purchase_event", "transaction")
    with pytest.raises(Exception, match="KEY=VALUE"):
        parse_option("oops")
