"""The ``scale`` scenario on Dash 4.5's own streaming callbacks (the ``dash-stream`` contender).

``hypercorn benchmarks.dash_stream_scale_app:server``, run by the Dash 4.5 interpreter
(``benchmarks.servers.dash45_python``). The same page as ``benchmarks.scale_app``: callbacks ``s0`` ..
``s7`` take ``(n_clicks, params)`` with ``params = {"count": n, "rate": r}`` and yield exactly ``n``
values of ``out-s<i>.data``, ``{"seq", "ts", "due"}``, paced at ``r`` per second from the run's start.
Here they are plain Dash async generator callbacks: Dash acknowledges the POST that starts one, pumps its
frames into its shared storage (``DASH_SHARED_STORAGE``, a ``redis://`` URL: ``RedisSharedStorage``, one
Redis Stream per page's downlink) and any worker relays them on the page's NDJSON downlink. Every worker
signs the pages' tokens with the same ``DASH_SECRET_KEY``.

``GET /_bench/scale`` answers this worker's pid, RSS, the pumps it runs and its store class.
"""

from __future__ import annotations

import asyncio
import os
import time

from dash import Dash, Input, Output, State, callback, dcc, html
from dash._stream_hub import _pending_pumps
from quart import jsonify

from benchmarks.metering import status_kib

MAX_STREAMS = 8
STATUS_PATH = "/_bench/scale"

app = Dash(__name__, backend="quart")
server = app.server
app.layout = html.Div([
    dcc.Store(id="params"),
    *(html.Button(f"s{i}", id=f"go-s{i}") for i in range(MAX_STREAMS)),
    *(dcc.Store(id=f"out-s{i}") for i in range(MAX_STREAMS)),
])


def _make_stream(index: int):
    async def stream(_n_clicks, params):
        count, rate = int(params["count"]), float(params["rate"])
        loop = asyncio.get_running_loop()
        start, start_wall = loop.time(), time.time()
        for seq in range(count):
            delay = start + seq / rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            yield {"seq": seq, "ts": time.time(), "due": start_wall + seq / rate}

    stream.__name__ = stream.__qualname__ = f"s{index}"
    return stream


for _index in range(MAX_STREAMS):
    callback(Output(f"out-s{_index}", "data"), Input(f"go-s{_index}", "n_clicks"), State("params", "data"),
             prevent_initial_call=True)(_make_stream(_index))


@server.route(STATUS_PATH)
async def status():
    store = type(app.shared_storage).__name__ if app.shared_storage_enabled else None
    return jsonify({"pid": os.getpid(), "rss_kib": status_kib(os.getpid(), "VmRSS"), "sessions": None,
                    "runs": len(_pending_pumps), "store": store, "tasks": len(asyncio.all_tasks())})
