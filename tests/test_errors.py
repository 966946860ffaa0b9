"""flash_ws.errors: every exception flash_ws defines belongs to one tree, drawn in one docstring."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re

import flash_ws
import flash_ws.errors
from flash_ws.client_links import LinkClosed, PostRefused
from flash_ws.protocol.errors import FlashWsError


def defined_exceptions() -> dict[str, type[BaseException]]:
    """The public exception classes of every flash_ws module, by name (the demo's entry point aside)."""
    found: dict[str, type[BaseException]] = {}
    for module_info in pkgutil.walk_packages(flash_ws.__path__, "flash_ws."):
        if module_info.name.endswith("__main__"):
            continue
        module = importlib.import_module(module_info.name)
        for name, value in vars(module).items():
            if (inspect.isclass(value) and issubclass(value, BaseException) and value.__module__ == module.__name__
                    and not name.startswith("_")):
                found[name] = value
    return found


TREE_LINE = re.compile(r"^((?:[│ ]   )*(?:[├└]── )?)(\w+)\s{2,}")


def drawn_tree() -> list[tuple[int, str]]:
    """(depth, class name) of every line of the tree drawn in flash_ws/errors.py's docstring."""
    lines = [line for line in (flash_ws.errors.__doc__ or "").splitlines() if "──" in line or "FlashWsError  " in line]
    margin = len(lines[0]) - len(lines[0].lstrip())
    return [(len(m.group(1)) // 4, m.group(2)) for m in (TREE_LINE.match(line[margin:]) for line in lines) if m]


def drawn_names() -> list[str]:
    return [name for _depth, name in drawn_tree()]


def test_every_flash_ws_exception_is_a_flash_ws_error_drawn_in_the_tree() -> None:
    found = defined_exceptions()
    assert "TaskFailed" in found and "SessionGone" in found  # the walk reached the optional and server modules
    outside = sorted(name for name, cls in found.items() if not issubclass(cls, FlashWsError))
    assert outside == [], f"exceptions outside the FlashWsError tree: {outside}"
    assert sorted(drawn_names()) == sorted(found), "flash_ws/errors.py's docstring draws another tree than the code has"


def test_the_tree_drawn_is_the_tree_in_the_code() -> None:
    found = defined_exceptions()
    parents: list[str] = []
    for depth, name in drawn_tree():
        parents[depth:] = [name]
        if depth:
            assert found[name].__bases__[0] is found[parents[depth - 1]], f"{name} is drawn under {parents[depth - 1]}"
    assert drawn_tree()[0] == (0, "FlashWsError")


def test_the_errors_module_re_exports_the_tree_but_the_optional_celery_one() -> None:
    assert sorted(flash_ws.errors.__all__) == sorted(set(drawn_names()) - {"TaskFailed"})


def test_client_errors_are_still_caught_as_what_they_were() -> None:
    assert isinstance(LinkClosed("gone"), ConnectionError)
    assert isinstance(PostRefused(400, "bad_frame", "no"), ValueError)
