"""A page written only with Dash 4.5's streaming-callback API, served by ``Flash`` instead of ``Dash``.

Only two lines name flash_ws: ``Flash(...)`` for ``Dash(...)``, and ``flash_ws.callback`` for what
Dash 4.5 cannot do (a sync generator; ``cancel=`` on a stream).
"""

from __future__ import annotations

import asyncio
import os
import time

from dash import MATCH, Input, Output, Patch, State, callback, dcc, html, no_update, set_props
from dash.exceptions import PreventUpdate

from flash_ws import Flash
from flash_ws import callback as flash_callback
from tests.apps import probe

N_POINTS = int(os.environ.get("FLASH_WS_TEST_POINTS", "300"))
app = Flash(__name__, backend=probe.BACKEND, resume_grace=float(os.environ.get("FLASH_WS_TEST_GRACE", "30")),
            transport=os.environ.get("FLASH_WS_TEST_TRANSPORT", "auto"),
            allowed_origins=os.environ.get("FLASH_WS_TEST_ORIGINS", "").split())
server = app.server

app.layout = html.Div([
    html.Div(id="init-out"),
    html.Button("count", id="count-start"), html.Div(id="count-out"),
    html.Button("multi", id="multi-start"), dcc.Input(id="multi-input", value="v"),
    html.Div(id="multi-a"), html.Div(id="multi-b"), html.Div(id="side"),
    html.Button("fail", id="err-start"), html.Div(id="err-out"),
    html.Div([html.Div([html.Button(f"pm {i}", id={"type": "pm-btn", "index": i}),
                        html.Span(id={"type": "pm-out", "index": i})]) for i in range(2)]),
    html.Button("sync", id="sync-start"), html.Div(id="sync-out"),
    html.Button("long", id="long-start"), html.Button("stop", id="long-stop"), html.Div(id="long-out"),
    html.Button("chart", id="chart-start"),
    dcc.Graph(id="chart", figure={"data": [{"x": [], "y": [], "type": "scatter"}]}),
])


@callback(Output("init-out", "children"), Input("count-start", "id"))
async def initial(_id):
    """Runs on page load (no prevent_initial_call), as Dash runs it."""
    for k in range(3):
        await asyncio.sleep(0.02)
        yield f"init {k}"


@callback(Output("count-out", "children"), Input("count-start", "n_clicks"), prevent_initial_call=True,
          running=[(Output("count-start", "disabled"), True, False)])
async def count(n_clicks):
    for k in range(20):
        await asyncio.sleep(0.05)
        yield f"tick {k}"
    yield f"done {n_clicks}"


@callback(Output("multi-a", "children"), Output("multi-b", "children"), Input("multi-start", "n_clicks"),
          State("multi-input", "value"), prevent_initial_call=True)
async def multi(n_clicks, value):
    for k in range(5):
        await asyncio.sleep(0.05)
        set_props("side", {"children": f"side {k}"})
        yield f"a{k} {value}", (f"b{k}" if k % 2 == 0 else no_update)
    raise PreventUpdate  # ends the stream: what was yielded stays


@callback(Output("err-out", "children"), Input("err-start", "n_clicks"), prevent_initial_call=True,
          on_error=lambda error: f"failed: {error}")
async def fails(n_clicks):
    yield "before"
    await asyncio.sleep(0.05)
    raise ValueError("boom")


@callback(Output({"type": "pm-out", "index": MATCH}, "children"), Input({"type": "pm-btn", "index": MATCH}, "n_clicks"),
          prevent_initial_call=True)
async def pattern(n_clicks):
    from dash import ctx

    for k in range(3):
        await asyncio.sleep(0.02)
        yield f"{ctx.triggered_id['index']}:{k}"


@flash_callback(Output("sync-out", "children"), Input("sync-start", "n_clicks"), prevent_initial_call=True)
def sync_steps(n_clicks):
    for k in range(5):
        time.sleep(0.02)  # a sync generator steps in a worker thread
        yield f"sync {k}"


@flash_callback(Output("long-out", "children"), Input("long-start", "n_clicks"), prevent_initial_call=True,
                cancel=[Input("long-stop", "n_clicks")], running=[(Output("long-start", "disabled"), True, False)])
async def long(n_clicks):
    k = 0
    while True:
        await asyncio.sleep(0.05)
        yield f"long {k}"
        k += 1


@callback(Output("chart", "figure"), Input("chart-start", "n_clicks"), prevent_initial_call=True)
async def chart(n_clicks):
    for k in range(N_POINTS):
        await asyncio.sleep(0.01)
        figure = Patch()
        figure["data"][0]["x"].append(k)
        figure["data"][0]["y"].append(k)
        yield figure
