"""One page written with Dash 4.5's streaming-callback API, served three ways (``FLASH_WS_BENCH_SERVE``):

- ``dash``: plain ``Dash(backend="quart")``, Dash 4.5's own streaming (NDJSON downlink in a SharedWorker);
- ``dash-ws``: the same with ``websocket_callbacks=True`` (Dash streams over its callback WebSocket);
- ``flash``: ``Flash(...)`` instead of ``Dash(...)``, the one-line migration: the streams go over flash_ws.

``hypercorn benchmarks.contenders.dash_stream_app:server``. One async generator callback per stream
name, running the benchmark's producer (``BOOK.updates``, the flash_ws rows' generator code). Each
update appends ``[seq, ts]`` to a ``dcc.Store`` with a ``Patch`` (exact on every path: nothing is
replaced, so nothing coalesces away); a clientside callback per store notes every new entry with its
arrival time in ``window.__arrivals`` (tests/browser-side: benchmarks/contenders/dash_page_driver.py).
"""

from __future__ import annotations

import os

from dash import Input, Output, Patch, State, callback, clientside_callback, dcc, html
from quart import jsonify, request

from benchmarks.contenders.streams import BOOK, STATUS_PATH, STREAM_NAMES, StreamParams, component_id

SERVE = os.environ.get("FLASH_WS_BENCH_SERVE", "dash")
if SERVE == "flash":
    from flash_ws import Flash

    app = Flash(__name__, heartbeat_interval=1.0, heartbeat_timeout=1.0)  # as benchmarks/contenders/flash_ws_app.py
elif SERVE in ("dash", "dash-ws"):
    from dash import Dash

    app = Dash(__name__, backend="quart", websocket_callbacks=SERVE == "dash-ws")
else:
    raise SystemExit(f"FLASH_WS_BENCH_SERVE must be dash, dash-ws or flash, got {SERVE!r}")
server = app.server

app.layout = html.Div([
    dcc.Store(id="params"),
    *(html.Button(name, id=f"go-{name}") for name in STREAM_NAMES),
    *(dcc.Store(id=component_id(name), data=[]) for name in STREAM_NAMES),
])
RECORD = """function(data) {
    var at = (performance.timeOrigin + performance.now()) / 1000, id = %s;
    var seen = window.__seen = window.__seen || {}, arrivals = window.__arrivals = window.__arrivals || [];
    var list = data || [];
    for (var i = seen[id] || 0; i < list.length; i++) arrivals.push([id, list[i][0], list[i][1], at]);
    seen[id] = list.length;
}"""


def _make_callback(name: str):
    async def stream(_n_clicks, params):
        async for seq, ts in BOOK.updates(StreamParams.from_json(params)):
            points = Patch()
            points.append([seq, ts])
            yield points

    stream.__name__ = stream.__qualname__ = f"stream_{name}"
    return stream


for _name in STREAM_NAMES:
    callback(Output(component_id(_name), "data"), Input(f"go-{_name}", "n_clicks"), State("params", "data"),
             prevent_initial_call=True)(_make_callback(_name))
    clientside_callback(RECORD % f'"{component_id(_name)}"', Input(component_id(_name), "data"),
                        prevent_initial_call=True)


@server.route(STATUS_PATH)
async def status():
    return jsonify(BOOK.status(request.args.get("key", "")))
