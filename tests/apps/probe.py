"""Routes a test app adds to its server to show what happened server side (and that user routes work)."""

from __future__ import annotations

import asyncio
import os
import threading
from collections import Counter, defaultdict
from collections.abc import Callable
from typing import Any

BACKEND = os.environ.get("FLASH_WS_TEST_BACKEND", "quart")  # the Dash backend the test apps run on
EVENTS: Counter[str] = Counter()
GATES: defaultdict[str, asyncio.Event] = defaultdict(asyncio.Event)
THREAD_GATES: defaultdict[str, threading.Event] = defaultdict(threading.Event)  # for sync generators' steps


async def gate(name: str, timeout: float = 120.0) -> None:
    """Wait until a test opens gate ``name`` (POST /test/open/<name>), so a test can look at the page
    while a generator is known to be still running."""
    EVENTS[f"{name} waiting"] += 1
    await asyncio.wait_for(GATES[name].wait(), timeout)


def thread_gate(name: str, timeout: float = 120.0) -> None:
    """``gate`` for a sync generator's step (it blocks its thread until the test opens the gate)."""
    EVENTS[f"{name} waiting"] += 1
    THREAD_GATES[name].wait(timeout)


def route(app: Any, path: str, methods: tuple[str, ...] = ("GET",)) -> Callable[[Callable[..., Any]], Any]:
    """A user route on ``app.server``, whatever its backend (Quart: ``<name>`` parameters; FastAPI:
    ``{name}``; Flask: a sync view that runs the handler on the server's event loop, where the
    app's gates and sessions live); a handler returns what becomes its JSON body."""
    if app.flash_ws_backend == "fastapi":
        return lambda handler: app.server.add_api_route(path.replace("<", "{").replace(">", "}"), handler,
                                                        methods=list(methods))
    if app.flash_ws_backend == "flask":
        def register(handler: Callable[..., Any]) -> Any:
            def view(**params: Any) -> Any:
                return asyncio.run_coroutine_threadsafe(handler(**params), SERVER_LOOP[0]).result(30)

            return app.server.route(path, methods=list(methods), endpoint=f"probe_{handler.__name__}")(view)
        return register
    return app.server.route(path, methods=list(methods))


SERVER_LOOP: list[asyncio.AbstractEventLoop] = []  # Flask: the loop of the app's ASGI front


class _NotesItsLoop:
    """Flask: the app's ASGI front, noting the server's event loop for the probe's views."""

    def __init__(self, asgi: Any) -> None:
        self.asgi = asgi

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if not SERVER_LOOP:
            SERVER_LOOP.append(asyncio.get_running_loop())
        await self.asgi(scope, receive, send)


def install(app: Any) -> None:
    if app.flash_ws_backend == "flask":
        app.asgi = _NotesItsLoop(app.asgi)

    @route(app, "/test/events")
    async def events():  # a user route on app.server: must keep working beside flash_ws
        return dict(EVENTS)

    @route(app, "/test/open/<name>", methods=("POST",))
    async def open_gate(name: str):
        GATES[name].set()
        THREAD_GATES[name].set()
        return {"opened": name}

    @route(app, "/test/sessions")
    async def sessions():
        return [{"buffered_bytes": live.core.replay.bytes, "buffered_frames": len(live.core.replay),
                 "active_runs": len(live.core.active_runs())} for live in app.flash_ws.store]

    @route(app, "/test/worker")
    async def worker():  # which worker process answers (the multi-worker tests ask each one directly)
        return {"worker": getattr(app.flash_ws, "worker_id", None), "pid": os.getpid()}

    @route(app, "/test/loop")
    async def loop():  # the event loop's class (tests/test_resume.py and tests/test_transports_integration.py)
        loop = asyncio.get_running_loop()
        return {"loop": f"{type(loop).__module__}.{type(loop).__qualname__}"}
