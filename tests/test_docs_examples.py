"""Every Python example of the README, the documentation site and the dataset cards runs as written.

The README's tour runs first (it trains the ``algo`` and loads the ``dataset`` the other pages use); each page's
blocks then run in order in a copy of the tour's namespace, in a temporary folder. A block preceded by
``<!-- example: skip, REASON -->`` needs something a test machine lacks (a downloaded log, gigabytes of disk) and is
skipped with that reason.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"(?:<!-- example: skip, (?P<skip>[^>]*?) -->\n)?```python\n(?P<code>.*?)```", re.S)
PAGES = sorted(
    str(path.relative_to(ROOT))
    for path in [*(ROOT / "docs").glob("*.md"), *(ROOT / "datasets").glob("*.md")]
    if path.name != "getting-started.md"  # its tour is the README's, checked equal below
    and "```python" in path.read_text(encoding="utf-8")
)


def blocks(page: str) -> list[tuple[str, str | None]]:
    """(code, skip reason or None) of every ```python block of ``page``."""
    text = (ROOT / page).read_text(encoding="utf-8")
    return [(match["code"], match["skip"]) for match in BLOCK.finditer(text)]


def run(page: str, namespace: dict[str, Any]) -> list[str]:
    """Run the page's blocks in ``namespace``; the skip reasons of the blocks left out."""
    skipped = []
    for index, (code, skip) in enumerate(blocks(page)):
        if skip is not None:
            skipped.append(skip)
            continue
        exec(compile(code, f"{page} (python block {index + 1})", "exec"), namespace)
    return skipped


@pytest.fixture(scope="module")
def tour(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    folder = tmp_path_factory.mktemp("tour")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        patch.setenv("RECGYM_DATA", str(folder / "data"))
        namespace: dict[str, Any] = {"__name__": "__tour__"}
        assert run("README.md", namespace) == []
    return folder, namespace


def test_the_readme_tour_runs_and_trains(tour: tuple[Path, dict[str, Any]]) -> None:
    folder, namespace = tour
    assert namespace["algo"].grad_step == 500
    assert 0.0 <= namespace["metrics"]["purchase/hr@20"] <= 1.0
    assert (folder / "ccql.pt").is_file()


def test_getting_started_shows_the_readme_tour() -> None:
    assert blocks("docs/getting-started.md")[0] == blocks("README.md")[0]


@pytest.mark.parametrize("page", PAGES)
def test_page_examples_run(page: str, tour: tuple[Path, dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> None:
    folder, namespace = tour
    monkeypatch.chdir(folder)
    monkeypatch.setenv("RECGYM_DATA", str(folder / "data"))
    skipped = run(page, dict(namespace))
    if skipped:
        pytest.skip("; ".join(dict.fromkeys(skipped)))
