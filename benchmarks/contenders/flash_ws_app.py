"""The flash_ws contender's server: a Flash app whose event callbacks stream the benchmark's updates.

``hypercorn benchmarks.contenders.flash_ws_app:server``; on Dash's FastAPI or Flask backend
(``FLASH_WS_BENCH_BACKEND``), ``uvicorn benchmarks.contenders.flash_ws_app:app.asgi``. One event callback per stream name
(``paced``, ``burst``, ``stream0`` .. ``stream7``: eight distinct callbacks, so eight streams can run
at once on one session); each takes ``(n_clicks, params)`` and yields ``stream_props`` of
``out-<name>``.

Heartbeats are set to 1 s + 1 s instead of the defaults (15 s + 10 s): the benchmark's driver gives
the reference client the browser client's watchdog, which declares a connection dead after
``heartbeat_interval + heartbeat_timeout`` of silence, and the outage profile only lasts 5 s.
"""

from __future__ import annotations

import os

from benchmarks.contenders.streams import BOOK, STATUS_PATH, STREAM_NAMES, StreamParams, component_id, update_props
from flash_ws import Flash, Input, State, dcc, html, stream_props

HEARTBEAT_INTERVAL = float(os.environ.get("FLASH_WS_BENCH_HEARTBEAT", "1"))
HEARTBEAT_TIMEOUT = float(os.environ.get("FLASH_WS_BENCH_HEARTBEAT_TIMEOUT", "1"))

BACKEND = os.environ.get("FLASH_WS_BENCH_BACKEND", "quart")

app = Flash(__name__, backend=BACKEND, heartbeat_interval=HEARTBEAT_INTERVAL, heartbeat_timeout=HEARTBEAT_TIMEOUT)
server = app.server
app.layout = html.Div([
    dcc.Store(id="params"),
    *(html.Button(name, id=f"go-{name}") for name in STREAM_NAMES),
    *(html.Button(name, id=f"chart-{name}") for name in STREAM_NAMES),
    *(html.Div(id=component_id(name)) for name in STREAM_NAMES),
])


def _make_callback(name: str):
    out = component_id(name)

    async def stream(_n_clicks, params):
        async for seq, ts in BOOK.updates(StreamParams.from_json(params)):
            yield stream_props(out, update_props(seq, ts))

    stream.__name__ = stream.__qualname__ = name
    return stream


for _name in STREAM_NAMES:
    app.event_callback(Input(f"go-{_name}", "n_clicks"), State("params", "data"))(_make_callback(_name))


def _make_chart_callback(name: str):
    """The same stream as ``extendData`` points (x: seq, y: server time), for the browser rows: the
    page's client merges extendData exactly, so every update is counted where the page applies it."""
    out = component_id(name)

    async def chart(_n_clicks, params):
        async for seq, ts in BOOK.updates(StreamParams.from_json(params)):
            yield stream_props(out, {"extendData": [{"x": [[seq]], "y": [[ts]]}, [0]]})

    chart.__name__ = chart.__qualname__ = f"chart_{name}"
    return chart


for _name in STREAM_NAMES:
    app.event_callback(Input(f"chart-{_name}", "n_clicks"), State("params", "data"))(_make_chart_callback(_name))


def callback_id(name: str) -> str:
    """The flash_ws callback id of stream ``name`` (module.qualname)."""
    return f"{__name__}.{name}"


def _add_status_route() -> None:
    """``STATUS_PATH?key=...``: what the book says of a stream, as a route of the app's own framework."""
    if BACKEND == "fastapi":
        def status_of(key: str = "") -> dict:
            return BOOK.status(key)

        server.add_api_route(STATUS_PATH, status_of)
    elif BACKEND == "flask":
        import flask

        server.route(STATUS_PATH)(lambda: BOOK.status(flask.request.args.get("key", "")))
    else:
        from quart import request

        async def status() -> dict:
            return BOOK.status(request.args.get("key", ""))

        server.route(STATUS_PATH)(status)


_add_status_route()
