"""Routes a test app adds to its server to show what happened server side (and that user routes work)."""

from __future__ import annotations

import asyncio
import os
import threading
from collections import Counter, defaultdict
from typing import Any

from quart import jsonify

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


def install(app: Any) -> None:
    @app.server.route("/test/events")
    async def events():  # a user route on app.server: must keep working beside flash_ws
        return jsonify(dict(EVENTS))

    @app.server.route("/test/open/<name>", methods=["POST"])
    async def open_gate(name: str):
        GATES[name].set()
        THREAD_GATES[name].set()
        return jsonify({"opened": name})

    @app.server.route("/test/sessions")
    async def sessions():
        return jsonify([{"buffered_bytes": live.core.replay.bytes, "buffered_frames": len(live.core.replay),
                         "active_runs": len(live.core.active_runs())} for live in app.flash_ws.store])

    @app.server.route("/test/worker")
    async def worker():  # which worker process answers (the multi-worker tests ask each one directly)
        return jsonify({"worker": getattr(app.flash_ws, "worker_id", None), "pid": os.getpid()})

    @app.server.route("/test/loop")
    async def loop():  # the event loop's class (tests/test_resume.py and tests/test_transports_integration.py)
        loop = asyncio.get_running_loop()
        return jsonify({"loop": f"{type(loop).__module__}.{type(loop).__qualname__}"})
