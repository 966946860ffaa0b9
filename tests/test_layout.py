"""The structure a newcomer relies on: no import cycle inside flash_ws, and modules short enough to
read at a glance (about 400 lines at most, in flash_ws/ and benchmarks/)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MAX_LINES = 400


def _modules(package: Path) -> dict[str, tuple[Path, bool]]:
    """Dotted module name -> (file, is a package's __init__) for every .py file under ``package``."""
    found = {}
    for path in package.rglob("*.py"):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        found[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return found


def _imports(name: str, path: Path, is_package: bool, known: set[str]) -> set[str]:
    """The modules of ``known`` that ``name`` imports when it is imported (module level, including
    imports under ``if``/``try``, such as ``if TYPE_CHECKING:``; not those inside functions)."""
    package = name if is_package else name.rsplit(".", 1)[0]
    deps: set[str] = set()
    for statement in ast.parse(path.read_text()).body:
        for node in ast.walk(statement) if isinstance(statement, (ast.If, ast.Try)) else [statement]:
            if isinstance(node, ast.ImportFrom):
                base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
                target = ".".join(base + ([node.module] if node.module else []))
                for alias in node.names:
                    full = f"{target}.{alias.name}"
                    deps.add(full if full in known else target)
            elif isinstance(node, ast.Import):
                deps.update(alias.name for alias in node.names)
    return (deps & known) - {name}


def import_cycles(package: Path) -> list[list[str]]:
    """Every import cycle among the modules of ``package`` (each as a list of module names)."""
    modules = _modules(package)
    graph = {name: _imports(name, path, is_package, set(modules)) for name, (path, is_package) in modules.items()}
    state: dict[str, str] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(module: str) -> None:
        state[module] = "open"
        stack.append(module)
        for dep in sorted(graph[module]):
            if state.get(dep) == "open":
                cycles.append(stack[stack.index(dep):] + [dep])
            elif dep not in state:
                visit(dep)
        stack.pop()
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module)
    return cycles


def test_flash_ws_has_no_import_cycle() -> None:
    assert import_cycles(ROOT / "flash_ws") == []


def test_the_cycle_finder_finds_a_cycle(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "store.py").write_text("from .remote import Remote\n")
    (package / "remote.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from . import store\n")
    (package / "alone.py").write_text("def f():\n    from . import store\n")  # inside a function: not a cycle
    assert import_cycles(package) == [["pkg.remote", "pkg.store", "pkg.remote"]]


@pytest.mark.parametrize("folder", ["flash_ws", "benchmarks"])
def test_modules_stay_under_about_400_lines(folder: str) -> None:
    long = {str(path.relative_to(ROOT)): n for path in (ROOT / folder).rglob("*.py")
            if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert long == {}
