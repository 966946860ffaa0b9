"""An app whose own Output-less callbacks listen to an event callback's trigger and cancel Inputs
(a Start and a Stop button that also log), as apps written before flash_ws have them (issue 22, item 3)."""

from __future__ import annotations

import asyncio

from flash_ws import Flash, Input, event_callback, html, stream_props
from tests.apps import probe

app = Flash(__name__, backend=probe.BACKEND)
server = app.server
probe.install(app)
app.layout = html.Div([html.Button("start", id="start"), html.Button("stop", id="stop"), html.Div(id="out")])


@event_callback(Input("start", "n_clicks"), cancel=[(Input("stop", "n_clicks"), 0)],
                reset_props=[("out", {"children": "stopped"})])
async def ticker(_):
    i = 0
    while True:
        i += 1
        yield stream_props("out", {"children": f"tick {i}"})
        await asyncio.sleep(0.05)


@app.callback(Input("start", "n_clicks"), prevent_initial_call=True)
def log_start(n):
    probe.EVENTS["start logged"] += 1


@app.callback(Input("stop", "n_clicks"), prevent_initial_call=True)
def log_stop(n):
    probe.EVENTS["stop logged"] += 1
