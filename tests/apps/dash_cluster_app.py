"""Dash-style streaming callbacks (``Output``s and generators, Dash 4.5's API) on a ``Flash`` app run by
several workers sharing Redis (``FLASH_WS_REDIS_URL``): tests/test_dash_streaming_cluster.py.

Each stream yields, for ``n_clicks`` steps, the step number to ``count`` and a ``Patch`` appending it
to ``points``: two Outputs per yield, one replaced and one appended, so a lost, repeated or reordered
update shows in either.
"""

from __future__ import annotations

import asyncio
import os
import time

from dash import Input, Output, Patch, callback, dcc, html

from flash_ws import Flash
from flash_ws import callback as flash_callback
from tests.apps import probe

STEP_S = 0.002
app = Flash(__name__, backend=probe.BACKEND, resume_grace=float(os.environ.get("FLASH_WS_TEST_GRACE", "10")),
            worker_ttl=float(os.environ.get("FLASH_WS_TEST_WORKER_TTL", "5")))
server = app.server
probe.install(app)
app.layout = html.Div([html.Button("go", id="go"), html.Button("sync", id="sync"),
                       html.Div(id="count"), dcc.Store(id="points", data=[])])


def _step(k: int) -> tuple[int, Patch]:
    points = Patch()
    points.append(k)
    return k, points


@callback(Output("count", "children"), Output("points", "data"), Input("go", "n_clicks"), prevent_initial_call=True)
async def numbers(n_clicks):
    probe.EVENTS["numbers started"] += 1
    for k in range(n_clicks):
        await asyncio.sleep(STEP_S)
        yield _step(k)


@flash_callback(Output("count", "children"), Output("points", "data"), Input("sync", "n_clicks"),
                prevent_initial_call=True)
def sync_numbers(n_clicks):
    probe.EVENTS["sync_numbers started"] += 1
    for k in range(n_clicks):
        time.sleep(STEP_S)  # each step runs in a worker thread
        yield _step(k)
