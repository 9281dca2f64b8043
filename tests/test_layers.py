"""The import graph: layers that import only downward, no circle, no import hidden in a function.

Read from the source with ``ast`` (nothing is imported), so a new module that breaks a rule fails here by name.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

LAYERS: list[tuple[str, ...]] = [
    ("recgym.errors", "recgym.version"),  # ground, in three tiers
    ("recgym.checks", "recgym.contract", "recgym.logs", "recgym.ranking"),
    ("recgym.saving",),
    ("recgym.ope",),  # the estimators: pure functions of arrays, importing only the ground
    ("recgym.data",),  # data: readers, protocol, transitions, cache, the generator, sources, the dataset object
    ("recgym.datasets",),  # load_dataset: resolve, build, cache
    ("agents", "recgym.envs"),
    ("recgym.evaluation",),
    ("recgym.worlds",),
    ("recgym.benchmark",),
    ("recgym.cli",),
]
"""Lowest first. A module may import its own package and anything in a lower layer; the packages of one layer do
not import each other (``agents`` and ``recgym.envs`` stand side by side)."""

FACADE = "recgym"
"""The package's ``__init__``: the public API, which re-exports every layer; no module imports it."""

OPTIONAL = ("minari", "ray", "optuna", "wandb", "tensorboardX", "torch.utils.tensorboard", "gym", "fcntl")
"""Extras a user may lack (and the old ``gym``, imported once to silence it; ``fcntl``, POSIX only): the only imports
inside functions or guarded blocks."""


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for package in ("recgym", "agents") for path in (ROOT / package).rglob("*.py")}


def imports(path: Path) -> list[tuple[str, bool]]:
    """(imported module, inside a function or class) for every absolute import of ``path``."""
    found = []
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            target = next((name for name in reversed(names) if name in MODULES), node.module)
            found.append((target, node.col_offset > 0))
        elif isinstance(node, ast.Import):
            found.extend((alias.name, node.col_offset > 0) for alias in node.names)
    return found


def component(module: str) -> tuple[int, str]:
    """(layer, package) of a module of the project."""
    for rank, layer in enumerate(LAYERS):
        for package in layer:
            if module == package or module.startswith(package + "."):
                return rank, package
    raise AssertionError(f"{module} belongs to no layer: add it to LAYERS")


def own_imports(module: str) -> list[str]:
    return [target for target, _ in imports(MODULES[module]) if target.split(".")[0] in ("recgym", "agents")]


@pytest.mark.parametrize("module", sorted(set(MODULES) - {FACADE}))
def test_imports_point_downward(module: str) -> None:
    rank, package = component(module)
    for target in own_imports(module):
        assert target != FACADE, f"{module} imports the facade recgym; import the module that defines the name"
        target_rank, target_package = component(target)
        assert target_package == package or target_rank < rank, (
            f"{module} (layer {rank}, {package}) imports {target} (layer {target_rank}, {target_package})"
        )


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_import_inside_a_function_but_optional_extras(module: str) -> None:
    hidden = [target for target, nested in imports(MODULES[module]) if nested]
    assert all(target.startswith(OPTIONAL) for target in hidden), f"{module} imports {hidden} inside a function"


def test_no_circle() -> None:
    graph = {module: {t for t in own_imports(module) if t in MODULES} for module in MODULES if module != FACADE}
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(graph.get(module, ())):
            if state.get(target) == 1:
                cycle = path[path.index(target) :] + [target] if target in path else [module, target]
                raise AssertionError("import circle: " + " -> ".join(cycle))
            if target not in state:
                visit(target, [*path, target])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])


def test_the_rules_see_a_violation(tmp_path: Path) -> None:
    """The checker itself: an upward import, a sibling import and a hidden import are each caught."""
    source = tmp_path / "bad.py"
    source.write_text("from recgym.benchmark import run_benchmark\n\ndef f():\n    import recgym.datasets\n")
    found = imports(source)
    assert found == [("recgym.benchmark", False), ("recgym.datasets", True)]
    assert component("recgym.benchmark.harness")[0] > component("recgym.datasets")[0]
    assert component("agents.sqn")[0] == component("recgym.envs.replay")[0]
    assert component("agents.sqn")[1] != component("recgym.envs.replay")[1]
