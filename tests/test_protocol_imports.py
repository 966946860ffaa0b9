"""flash_ws.protocol is sans-I/O: it imports nothing from asyncio, quart, dash, websockets, hypercorn,
neither in its own modules nor through the ``flash_ws`` package that holds it."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROTOCOL = ROOT / "flash_ws" / "protocol"
FORBIDDEN = ("asyncio", "quart", "dash", "websockets", "hypercorn")
MODULES = sorted(PROTOCOL.glob("*.py"))


def imported_names(path: Path) -> set[str]:
    """The absolute module names a module imports (relative imports resolved within flash_ws.protocol)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                names.add(node.module or "")
            else:
                package = ["flash_ws", "protocol"][: 2 - (node.level - 1)]
                names.add(".".join(package + ([node.module] if node.module else [])))
    return names


def test_the_protocol_package_has_the_expected_modules() -> None:
    assert {path.stem for path in MODULES} >= {
        "__init__", "errors", "frames", "codec", "replay", "backoff", "server_session", "client_session",
    }


def test_imported_names_sees_every_kind_of_import(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("import asyncio.tasks\nfrom quart import Quart\nfrom . import codec\nfrom ..server import x\n"
                      "def f():\n    import dash\n")

    assert imported_names(sample) == {"asyncio.tasks", "quart", "flash_ws.protocol", "flash_ws.server", "dash"}


@pytest.mark.parametrize("path", MODULES, ids=[path.name for path in MODULES])
def test_no_protocol_module_imports_an_io_package(path: Path) -> None:
    names = imported_names(path)

    assert names, f"{path.name} was not parsed"
    for name in names:
        top = name.split(".")[0]
        assert top not in FORBIDDEN, f"{path.name} imports {name}"
        if top == "flash_ws":
            assert name.startswith("flash_ws.protocol"), f"{path.name} imports {name} from outside the protocol core"


BLOCKED_IMPORT = f"""
import importlib, sys

for name in {FORBIDDEN!r}:
    sys.modules[name] = None  # any import of it, direct or indirect, raises ImportError

import flash_ws.protocol  # through the real package: its __init__ resolves the public API lazily
for name in {[path.stem for path in MODULES if path.stem != "__init__"]!r}:
    importlib.import_module("flash_ws.protocol." + name)

loaded = [n for n, m in sys.modules.items() if m is not None and n.split(".")[0] in {FORBIDDEN!r}]
assert not loaded, loaded
print("ok", len(flash_ws.protocol.__all__))
"""


def test_the_protocol_package_imports_with_io_packages_blocked() -> None:
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    result = subprocess.run([sys.executable, "-c", BLOCKED_IMPORT], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok ")


def test_the_blocking_really_blocks() -> None:
    """The sentinel makes an import of a blocked name fail (so the test above can fail)."""
    probe = "import sys\nsys.modules['asyncio'] = None\ntry:\n    import asyncio\nexcept ImportError:\n    print('blocked')\n"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)

    assert result.stdout.strip() == "blocked"


def test_importing_the_protocol_loads_no_dash_or_web_framework() -> None:
    """What a fresh interpreter holds after ``import flash_ws.protocol``: none of Dash, a web framework
    or a server (the package's public names are resolved on first use), yet ``flash_ws.Flash`` still
    resolves on demand."""
    probe = ("import sys, flash_ws.protocol\n"
             "heavy = sorted({n.split('.')[0] for n in sys.modules} & {'dash', 'quart', 'flask', 'starlette', 'fastapi',"
             " 'hypercorn', 'uvicorn', 'werkzeug', 'plotly', 'websockets', 'httpx'})\n"
             "print(heavy)\n"
             "import flash_ws\n"
             "print(flash_ws.Flash.__name__, 'dash' in sys.modules)\n")
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60)

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["[]", "Flash True"]


SERVER = ROOT / "flash_ws" / "server"
WEB_FRAMEWORKS = ("quart", "flask", "starlette", "fastapi", "werkzeug", "hypercorn", "uvicorn", "wsproto", "a2wsgi")


@pytest.mark.parametrize("path", sorted(SERVER.glob("*.py")), ids=lambda path: path.name)
def test_no_server_core_module_imports_a_web_framework_or_server(path: Path) -> None:
    """The server core (gate, refusals, transports, service, runner, stores, draining, metrics) is
    one for every backend: what a framework does lives in its adapter (flash_ws/backends)."""
    names = imported_names(path)
    assert not [name for name in names if name.split(".")[0] in WEB_FRAMEWORKS], f"{path.name} imports {names}"
    assert not [name for name in names if name.startswith("flash_ws.backends")], path.name


def test_the_server_core_runs_with_every_web_framework_blocked() -> None:
    """In a fresh interpreter in which importing any web framework or server fails, every module of
    the core imports (Dash itself is there: the runner calls Dash's callbacks and encoder)."""
    blocked = [name for name in WEB_FRAMEWORKS if name != "werkzeug"]  # Dash imports werkzeug for itself
    probe = (f"import importlib, pkgutil, sys\nfor name in {blocked!r}:\n    sys.modules[name] = None\n"
             "import flash_ws.server\n"
             "names = [m.name for m in pkgutil.iter_modules(flash_ws.server.__path__)]\n"
             "for name in names:\n    importlib.import_module('flash_ws.server.' + name)\n"
             "print(len(names))\n")
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) == len(list(SERVER.glob("*.py"))) - 1  # every module but __init__
