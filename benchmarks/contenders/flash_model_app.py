"""flash-sse-model: a model of Flash 1.x's transport, written for this benchmark (not Flash's code).

``hypercorn benchmarks.contenders.flash_model_app:server``. What it keeps of Flash's
``setup_sse_endpoint``, the parts that decide how updates travel:

- one HTTP ``POST`` per run of an event callback (body: the callback name and its arguments),
  answered by a ``text/event-stream`` that lives as long as the run;
- each yielded update becomes one event ``data: ["[SINGLE]", id, props]`` (a list of them:
  ``data: ["[BATCH]", null, [[id, props], ...]]``), props serialised with plotly's JSON encoder;
  ``["[INIT]", null, null]`` opens the stream and ``["[DONE]", null, null]`` closes it;
- a 0.1 s pause after every update;
- no event ids, no sequence numbers, no resume: a dropped stream is gone, the generator with it.

It runs on Dash's Quart backend like Flash (a Dash fork on Quart), served by hypercorn.
"""

from __future__ import annotations

import asyncio
import json

import plotly.utils
from dash import Dash, dcc, html
from quart import Response, jsonify, request

from benchmarks.contenders.streams import BOOK, STATUS_PATH, STREAM_NAMES, StreamParams, component_id, update_props

ENDPOINT = "/dash_update_component_sse"
PAUSE_S = 0.1
SSE_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}

app = Dash(__name__, backend="quart")
server = app.server
app.layout = html.Div([dcc.Store(id="params"), *(html.Div(id=component_id(name)) for name in STREAM_NAMES)])


def _event(token: str, component: object, props: object) -> bytes:
    return f"data: {json.dumps([token, component, props], cls=plotly.utils.PlotlyJSONEncoder)}\n\n".encode()


async def _callback(name: str, params: StreamParams):
    """The event callback: a generator of (component id, props), like a Flash ``stream_props``."""
    async for seq, ts in BOOK.updates(params):
        yield component_id(name), update_props(seq, ts)


@server.route(ENDPOINT, methods=["POST"])
async def event_stream():
    body = await request.get_json()
    name = body.get("callback")
    if name not in STREAM_NAMES:
        return jsonify({"error": f"unknown callback {name!r}"}), 404
    params = StreamParams.from_json(body.get("params"))

    async def events():
        yield _event("[INIT]", None, None)
        async for item in _callback(name, params):
            if isinstance(item, list):  # several updates yielded together
                yield _event("[BATCH]", None, item)
            else:
                yield _event("[SINGLE]", *item)
            await asyncio.sleep(PAUSE_S)
        yield _event("[DONE]", None, None)

    response = Response(events(), headers=SSE_HEADERS)
    response.timeout = None
    return response


@server.route(STATUS_PATH)
async def status():
    return jsonify(BOOK.status(request.args.get("key", "")))
