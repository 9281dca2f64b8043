"""``recgym prepare`` / ``recgym info`` on the synthetic dataset, and user errors."""

from __future__ import annotations

import errno
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
    rows = {
        line.split()[0]: dict(zip(header, line.split()))
        for line in lines
        if line.split()[:1] in (["train"], ["val"], ["test"])
    }
    assert [rows[name]["sessions"] for name in ("train", "val", "test")] == ["160", "20", "20"]
    assert list((tmp_path / "processed").iterdir()) == cache_dirs  # info reused the cache


def test_user_error_exits_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", "rc15", "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("recgym: error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert main(["prepare", "synthetic", "--data-dir", str(tmp_path), "-o", "n_sesions=3"]) == 2
    assert "valid:" in capsys.readouterr().err


def test_ctrl_c_exits_130_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("recgym.cli.load_dataset", interrupted)
    assert main(["prepare", "synthetic", "--data-dir", str(tmp_path), *SMALL]) == 130
    err = capsys.readouterr().err
    assert err == "recgym: interrupted; nothing half-written is kept: rerun the command to go on\n"


def test_a_full_disk_is_one_line_and_leaves_no_cache(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(file: object, *args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(file))

    monkeypatch.setattr("recgym.data.cache.np.savez", full)
    assert main(["prepare", "synthetic", "--data-dir", str(tmp_path), "-q", *SMALL]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("recgym: error: ")
    assert "No space left on device; free some space and rerun" in err
    assert not [path for path in (tmp_path / "processed").iterdir()]  # the partial cache is gone


def test_an_unwritable_folder_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def denied(self: Path, *args: object, **kwargs: object) -> None:
        raise PermissionError(errno.EACCES, "Permission denied", str(self))

    monkeypatch.setattr(Path, "mkdir", denied)
    assert main(["prepare", "synthetic", "--data-dir", str(tmp_path / "ro"), "-q", *SMALL]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Permission denied" in err and str(tmp_path / "ro") in err


def test_a_bug_is_not_hidden_as_a_machine_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EBADF, "Bad file descriptor")

    monkeypatch.setattr("recgym.cli.load_dataset", broken)
    with pytest.raises(OSError, match="Bad file descriptor"):
        main(["prepare", "synthetic", *SMALL])


def test_parse_option() -> None:
    assert parse_option("n=5") == ("n", 5)
    assert parse_option("n_sample_sessions=None") == ("n_sample_sessions", None)
    assert parse_option("purchase_event=transaction") == ("purchase_event", "transaction")
    with pytest.raises(Exception, match="KEY=VALUE"):
        parse_option("oops")


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    import recgym

    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out == f"recgym {recgym.__version__}\n"


def test_quiet_hides_progress_bars(tmp_path: Path, capsys: pytest.CaptureFixture[str], restore_structlog) -> None:
    assert main(["info", "synthetic", "--data-dir", str(tmp_path / "a"), *SMALL]) == 0
    assert "preparing synthetic" in capsys.readouterr().err
    assert main(["--quiet", "info", "synthetic", "--data-dir", str(tmp_path / "b"), *SMALL]) == 0
    assert main(["prepare", "synthetic", "--data-dir", str(tmp_path / "c"), *SMALL, "-q"]) == 0
    captured = capsys.readouterr()
    assert captured.err == "" and "train=160 sessions" in captured.out


def test_quiet_keeps_only_d3rlpy_warnings(capsys: pytest.CaptureFixture[str], restore_structlog) -> None:
    from d3rlpy.logging import LOG

    from recgym.logs import silence_d3rlpy_logs

    LOG.info("shown before", epoch=1)
    silence_d3rlpy_logs()
    LOG.info("hidden after", epoch=2)
    LOG.warning("a warning stays")
    out = capsys.readouterr().out
    assert "shown before" in out and "hidden after" not in out and "a warning stays" in out


def test_quiet_benchmark_has_no_epoch_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], restore_structlog
) -> None:
    run = [
        "benchmark",
        "--dataset",
        "synthetic",
        "--data-dir",
        str(tmp_path),
        *SMALL,
        "--agents",
        "sasrec",
        "--seeds",
        "1",
        "--steps",
        "2",
        "--eval-every",
        "1",
    ]
    assert main(["--quiet", *run, "--out", str(tmp_path / "quiet")]) == 0
    captured = capsys.readouterr()
    assert "epoch=" not in captured.out + captured.err and "%|" not in captured.err


def test_cache_dir_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cache = tmp_path / "cache"
    assert main(["prepare", "synthetic", "--data-dir", str(tmp_path / "data"), "--cache-dir", str(cache), *SMALL]) == 0
    assert f"cache: {cache}" in capsys.readouterr().out and not (tmp_path / "data").exists()
    (tmp_path / "file").write_text("")
    assert main(["info", "synthetic", "--cache-dir", str(tmp_path / "file"), *SMALL]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"recgym: error: cache location {tmp_path / 'file'} is not writable") and err.count("\n") == 1


def test_wrongly_typed_option_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", "synthetic", "--data-dir", str(tmp_path), "-o", "n_sessions=abc"]) == 2
    err = capsys.readouterr().err
    assert err == "recgym: error: synthetic: n_sessions must be a finite integer >= 1, got 'abc'\n"


def test_an_option_given_twice_is_one_line_not_the_last_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["benchmark", "--dataset", "synthetic", "--steps", "1", "--eval-every", "1", "--out", str(tmp_path / "out")]
    assert main([*base, "--grid", "ccql.n_negatives=10,30", "--grid", "ccql.n_negatives=50"]) == 2
    assert (
        capsys.readouterr().err
        == "recgym: error: --grid ccql.n_negatives given twice ([10, 30] and [50]): give it once\n"
    )
    assert main([*base, "-a", "hidden_size=8", "-a", "hidden_size=16"]) == 2
    assert capsys.readouterr().err == "recgym: error: -a hidden_size given twice (8 and 16): give it once\n"
    assert not (tmp_path / "out").exists()
