"""MATCH cards: a regular callback adds cards at run time, each with its own streams.

Per card ``i``: ``go`` starts an event callback that counts into ``out`` (it learns its card from
``ctx.triggered_id`` and writes with a MATCH id), ``stop`` cancels that card's run (its reset, also
a MATCH id, says "stopped"), and ``dgo`` starts a Dash-style streaming callback with a MATCH Output
``dout``."""

import asyncio
import os

from dash import html

from flash_ws import MATCH, Flash, Input, Output, ctx, event_callback, stream_props
from tests.apps import probe

STEPS = int(os.environ.get("FLASH_WS_TEST_STEPS", "20"))
CARDS = 4

app = Flash(__name__, backend=probe.BACKEND, suppress_callback_exceptions=True)
server = app.server
probe.install(app)
app.layout = html.Div([html.Button("add cards", id="add"), html.Div(id="cards")])


# An output's first line must not move the cards below it: a test clicks them one after another
# while the streams of those above start, and a button that moves under the mouse misses its click.
LINE = {"height": "1.5em", "overflow": "hidden"}


def card(i: int) -> html.Div:
    return html.Div([
        html.Button("go", id={"type": "go", "index": i}), html.Button("stop", id={"type": "stop", "index": i}),
        html.Div(id={"type": "out", "index": i}, style=LINE),
        html.Button("dash go", id={"type": "dgo", "index": i}), html.Div(id={"type": "dout", "index": i}, style=LINE),
    ])


@app.callback(Output("cards", "children"), Input("add", "n_clicks"), prevent_initial_call=True)
def add_cards(n):
    return [card(i) for i in range(CARDS)]


@event_callback(Input({"type": "go", "index": MATCH}, "n_clicks"),
                cancel=[(Input({"type": "stop", "index": MATCH}, "n_clicks"), None)],
                reset_props=[({"type": "out", "index": MATCH}, {"children": "stopped"})])
async def count(n):
    index = ctx.triggered_id["index"]
    probe.EVENTS[f"count {index} started"] += 1
    try:
        for i in range(1, STEPS + 1):
            await asyncio.sleep(0.05)
            yield stream_props({"type": "out", "index": MATCH}, {"children": f"card {index}: {i}"})
    finally:
        probe.EVENTS[f"count {index} ended"] += 1


@app.callback(Output({"type": "dout", "index": MATCH}, "children"), Input({"type": "dgo", "index": MATCH}, "n_clicks"),
              prevent_initial_call=True)
async def dash_count(n):
    index = ctx.triggered_id["index"]
    for i in range(1, STEPS + 1):
        await asyncio.sleep(0.05)
        yield f"dash card {index}: {i}"
