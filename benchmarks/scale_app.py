"""The ``scale`` scenario's server: a Flash app with paced event callbacks, one server process per worker.

``hypercorn benchmarks.scale_app:server`` (Quart, the default), or with ``FLASH_WS_BENCH_BACKEND=fastapi``
in the environment the same app on flash_ws's FastAPI backend: ``uvicorn benchmarks.scale_app:asgi``.
Event callbacks ``s0`` .. ``s7`` (eight distinct callbacks, so one page can run up to eight streams
at once) each take ``(n_clicks, params)`` with
``params = {"count": n, "rate": r}`` and yield exactly ``n`` updates of ``out-s<i>``, paced at ``r``
per second from the run's start, then end. Every update is
``{"children": {"seq": k, "ts": time.time() when yielded, "due": when it was scheduled}}``: the
client's latency is its receive time less ``ts`` (same machine, same clock); ``ts - due`` is how late
the producer itself was (the worker's event loop running behind).

The session store is flash_ws's own choice: with ``FLASH_WS_REDIS_URL`` in the environment (the
benchmark sets it), the Redis store shared by every worker, else the in-process store. Heartbeats
keep flash_ws's defaults (15 s + 10 s), as a deployment would.

``GET /_bench/scale`` answers this worker's pid, RSS and what it holds (sessions in its store when
the store can say, runs of its runner), straight from the worker (the benchmark asks each worker on
its own port, never through the load balancer); a route the backend's own way.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from benchmarks.metering import status_kib
from flash_ws import Flash, Input, State, dcc, html, stream_props

MAX_STREAMS = 8
STATUS_PATH = "/_bench/scale"
BACKENDS = ("quart", "fastapi")
BACKEND = os.environ.get("FLASH_WS_BENCH_BACKEND", "quart")
if BACKEND not in BACKENDS:
    raise ValueError(f"FLASH_WS_BENCH_BACKEND must be one of {BACKENDS}, not {BACKEND!r}")

# Every simulated page comes from 127.0.0.1 (through nginx): the per-address cap is the process cap.
app = Flash(__name__, backend=BACKEND, max_sessions_per_address=10_000)
server = app.server
asgi = app.asgi
app.layout = html.Div([
    dcc.Store(id="params"),
    *(html.Button(f"s{i}", id=f"go-s{i}") for i in range(MAX_STREAMS)),
    *(html.Div(id=f"out-s{i}") for i in range(MAX_STREAMS)),
])


def callback_id(index: int) -> str:
    """The flash_ws callback id of stream ``index`` (module.qualname)."""
    return f"{__name__}.s{index}"


def _make_stream(index: int):
    out = f"out-s{index}"

    async def stream(_n_clicks, params):
        count, rate = int(params["count"]), float(params["rate"])
        loop = asyncio.get_running_loop()
        start, start_wall = loop.time(), time.time()
        for seq in range(count):
            delay = start + seq / rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            yield stream_props(out, {"children": {"seq": seq, "ts": time.time(), "due": start_wall + seq / rate}})

    stream.__name__ = stream.__qualname__ = f"s{index}"
    return stream


for _index in range(MAX_STREAMS):
    app.event_callback(Input(f"go-s{_index}", "n_clicks"), State("params", "data"))(_make_stream(_index))


def holdings() -> dict[str, Any]:
    """This worker's pid, RSS and what it holds."""
    service = app.flash_ws
    try:
        sessions = len(service.store)  # type: ignore[arg-type]
    except TypeError:
        sessions = None
    try:
        runs = len(service.runner)  # type: ignore[arg-type]
    except TypeError:
        runs = None
    return {"pid": os.getpid(), "rss_kib": status_kib(os.getpid(), "VmRSS"), "sessions": sessions, "runs": runs,
            "store": type(service.store).__name__, "tasks": len(asyncio.all_tasks())}


if BACKEND == "fastapi":
    @server.get(STATUS_PATH)
    async def status() -> dict[str, Any]:
        return holdings()
else:
    from quart import jsonify

    @server.route(STATUS_PATH)
    async def status():
        return jsonify(holdings())
