"""A test app served in the test's own event loop (``tests/asgi.py``), with the same face as a real
hypercorn's ``LiveServer`` where it can: ``url``, ``get_json``, ``post``, ``output``, plus ``client``
(a ``FlashWsClient`` whose links go into the app) and ``asgi`` for raw requests and WebSockets.

The app module is imported afresh for each server with the test's environment (the test apps read
their options from it, as they do under hypercorn), together with its probe, so no two servers of a
test worker share callbacks, counters or gates.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import sys
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from flash_ws.client import FlashWsClient
from tests.asgi import AsgiClient
from tests.asgi_links import asgi_links

APPS_PACKAGE = "tests.apps"


def _forget_test_apps() -> None:
    """Every test app module (the probe, an app another app builds on) is imported afresh by the next
    server: its callbacks, counters, gates and routes are that server's alone."""
    package = sys.modules.get(APPS_PACKAGE)
    for name in [name for name in sys.modules if name.startswith(APPS_PACKAGE + ".")]:
        del sys.modules[name]
        if package is not None:
            package.__dict__.pop(name.rpartition(".")[2], None)  # ``from tests.apps import probe`` reads this first


class _Lines(logging.Handler):
    """flash_ws's log records while a server runs, formatted with their tracebacks."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


class _DashHooks:
    """Dash's process-wide hook registry as it was: ``take()`` what was registered since, as one
    app's ``get_hooks``; ``restore()`` the registry, so the next app does not inherit them."""

    def __init__(self) -> None:
        from dash._hooks import HooksManager

        self.registry = HooksManager.hooks
        self.lists = {name: list(hooks) for name, hooks in self.registry._ns.items()}
        self.finals = dict(self.registry._finals)

    def take(self) -> Callable[[str], list[Any]]:
        lists = {name: list(hooks) for name, hooks in self.registry._ns.items()}
        finals = dict(self.registry._finals)
        return lambda name: lists.get(name, []) + ([finals[name]] if name in finals else [])

    def restore(self) -> None:
        for name, hooks in self.registry._ns.items():
            hooks[:] = self.lists.get(name, [])
        self.registry._finals.clear()
        self.registry._finals.update(self.finals)


class InProcessServer:
    """One app instance behind an ``AsgiClient``; started and stopped by ``serve_in_process``."""

    def __init__(self, target: str, env: dict[str, str]) -> None:
        module_name, _, attr = target.partition(":")
        saved = {name: os.environ.get(name) for name in env}
        os.environ.update(env)
        hooks = _DashHooks()
        try:
            _forget_test_apps()
            module = importlib.import_module(module_name)
            own_hooks = hooks.take()  # Dash's hooks are process-wide: the ones this app module added are its own
        finally:
            hooks.restore()
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
        self.module = module
        self.app = module.app
        self.app.flash_ws_gate.hooks = own_hooks
        self.app.install_event_callbacks()  # take this module's callbacks now, before another import adds its own
        self.asgi = AsgiClient(module.app.asgi if (attr or "server") == "server" else getattr(module, attr))
        self.url = self.asgi.url
        self._log = _Lines()

    async def start(self) -> None:
        logger = logging.getLogger("flash_ws")
        self._level = logger.level
        logger.setLevel(min(logger.getEffectiveLevel(), logging.INFO))  # session events, as a server's log has them
        logger.addHandler(self._log)
        await self.asgi.start()

    async def stop(self) -> None:
        try:
            await self.asgi.stop()
        finally:
            logger = logging.getLogger("flash_ws")
            logger.removeHandler(self._log)
            logger.setLevel(self._level)

    def client(self, path: str = "/", **options: Any) -> Any:
        """A reference client of this app (of its pages at ``path``), connecting:
        ``async with server.client(transport="sse") as client`` or ``client = await server.client()``."""
        return FlashWsClient.connect(self.url + path, links=asgi_links(self.asgi), **options)

    def events(self) -> dict[str, int]:
        """What the app's probe counted (``/test/events`` of a server in another process)."""
        return dict(self.module.probe.EVENTS)

    async def get_json(self, path: str) -> Any:
        response = await self.asgi.request("GET", path)
        assert response.status == 200, (path, response.status, response.body[:300])
        return response.json()

    async def post(self, path: str) -> Any:
        response = await self.asgi.request("POST", path)
        assert response.status == 200, (path, response.status, response.body[:300])
        return response.json()

    def output(self) -> str:
        """What flash_ws logged while this server ran."""
        return "\n".join(self._log.lines)


@pytest.fixture
async def serve_in_process() -> AsyncIterator[Any]:
    """``server = await serve_in_process("tests.apps.basic:server", FLASH_WS_TEST_GRACE="1")``."""
    servers: list[InProcessServer] = []

    async def start(target: str, **env: str) -> InProcessServer:
        server = InProcessServer(target, env)
        await server.start()
        servers.append(server)
        return server

    yield start
    for server in reversed(servers):
        with contextlib.suppress(Exception):
            await server.stop()
