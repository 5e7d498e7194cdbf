"""The layering of docs/architecture.md, enforced over the source (ast: nothing is imported or run).

    formats, audio, limits -> tokenizer -> data -> models -> training | generation -> commands, cli

`evaluation` judges maps, onsets and tokens: it imports none of data, models, training, generation.
`models` and `data` import nothing above them, `generation` nothing of `training`; no cycles among the
modules of `automapper_ml`; `automapper_ml` never imports Dagster (that is `automapper_assets`). A
function-level import counts like a module-level one: a late import still ties the layers.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MAX_LINES = 800  # no source file longer than this
DEFS = REPO / "automapper_assets" / "defs"
MAX_PURE_DEFS_LINES = 60  # a longer module under defs/ without Dagster belongs in automapper_ml

# layer -> the layers it must never import
FORBIDDEN = {
    "evaluation": {"data", "models", "training", "generation", "commands"},
    "models": {"data", "training", "generation", "evaluation", "commands"},
    "data": {"models", "training", "generation", "evaluation", "commands"},
    "generation": {"training", "commands"},
    "training": {"commands"},
    "tokenizer": {"data", "models", "training", "generation", "evaluation", "commands"},
    "formats": {"tokenizer", "data", "models", "training", "generation", "evaluation", "commands"},
}


@cache
def modules(repo: Path = REPO) -> dict[str, Path]:
    """Dotted name -> file of every module of <repo>/automapper_ml."""
    found = {}
    for path in (repo / "automapper_ml").rglob("*.py"):
        parts = list(path.relative_to(repo).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def layer(module: str) -> str:
    """automapper_ml.<layer>...; top-level modules are their own layer, except that every tokenizer*
    module (tokenizer_common, tokenizer_lights, tokenizer_osu) is the tokenizer's."""
    name = module.split(".")[1] if "." in module else ""
    return "tokenizer" if name.startswith("tokenizer") else name


@cache
def imports_of(module: str, repo: Path = REPO) -> tuple[tuple[str, int], ...]:
    """(imported module, line) for every import in `module`, relative ones resolved; `from a import b`
    names a.b when b is a module."""
    mods = modules(repo)
    path = mods[module]
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            name = ".".join(base + ([node.module] if node.module else []))
            found.append((name, node.lineno))
            found += [(f"{name}.{a.name}", node.lineno) for a in node.names if f"{name}.{a.name}" in mods]
    return tuple(found)


def internal_edges(module: str) -> set[str]:
    """The automapper_ml modules `module` imports (a package import is the package's __init__)."""
    return {name for name, _ in imports_of(module) if name in modules() and name != module}


def layer_violations(repo: Path = REPO) -> list[str]:
    return [
        f"{path.relative_to(repo)}:{line} imports {name} ({layer(m)} may not import {layer(name)})"
        for m, path in sorted(modules(repo).items())
        for name, line in imports_of(m, repo)
        if name.startswith("automapper_ml.") and layer(name) in FORBIDDEN.get(layer(m), ())
    ]


def dagster_imports(repo: Path = REPO) -> list[str]:
    return [
        f"{path.relative_to(repo)}:{line} imports {name}"
        for m, path in sorted(modules(repo).items())
        for name, line in imports_of(m, repo)
        if name.split(".")[0] in {"dagster", "dagster_webserver", "dagster_dg_cli"}
    ]


def test_layers_import_one_way():
    wrong = layer_violations()
    assert not wrong, "\n".join(wrong)


def test_automapper_ml_never_imports_dagster():
    wrong = dagster_imports()
    assert not wrong, "\n".join(wrong)


def test_no_import_cycle():
    graph = {m: internal_edges(m) for m in modules()}
    # a package's __init__ importing its own submodules is how a package re-exports, not a cycle
    for m in graph:
        graph[m] = {n for n in graph[m] if not (modules()[m].name == "__init__.py" and n.startswith(m + "."))}
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                cycles.append(" -> ".join([*stack[stack.index(n) :], n]))
            elif n not in state:
                visit(n)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)
    assert not cycles, "\n".join(cycles)


@pytest.mark.parametrize(
    "root", ["automapper_ml", "automapper_assets", "bench", "scripts", "deploy", "tests"]
)
def test_no_source_file_over_the_limit(root):
    long = [
        f"{p.relative_to(REPO)}: {n} lines"
        for p in sorted((REPO / root).rglob("*.py"))
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    ]
    assert not long, "\n".join(long)


def test_pure_logic_lives_outside_defs():
    pure = []
    for path in sorted(DEFS.rglob("*.py")):
        names = {name.split(".")[0] for name, _ in _imports_in_file(path)}
        n = len(path.read_text().splitlines())
        if n > MAX_PURE_DEFS_LINES and "dagster" not in names:
            pure.append(f"{path.relative_to(REPO)}: {n} lines, no Dagster: move it into automapper_ml")
    assert not pure, "\n".join(pure)


def _imports_in_file(path: Path) -> list[tuple[str, int]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.append((node.module, node.lineno))
    return found


def test_the_checker_sees_a_violation(tmp_path):
    """The rules above can fail: an evaluation module importing a model (relative import too) and a
    model importing Dagster are reported."""
    fake = tmp_path / "automapper_ml"
    for folder in ("evaluation", "models"):
        (fake / folder).mkdir(parents=True)
        (fake / folder / "__init__.py").write_text("")
    (fake / "__init__.py").write_text("")
    (fake / "evaluation" / "judge.py").write_text(
        "from ..models import thing\n\n\ndef f():\n    import automapper_ml.models.thing\n"
    )
    (fake / "models" / "thing.py").write_text("import dagster\n")
    assert layer_violations(tmp_path) == [
        "automapper_ml/evaluation/judge.py:1 imports automapper_ml.models (evaluation may not import models)",
        "automapper_ml/evaluation/judge.py:1 imports automapper_ml.models.thing (evaluation may not import models)",
        "automapper_ml/evaluation/judge.py:5 imports automapper_ml.models.thing (evaluation may not import models)",
    ]
    assert dagster_imports(tmp_path) == ["automapper_ml/models/thing.py:1 imports dagster"]
