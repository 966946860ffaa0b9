"""A Dash Pages app (two pages registered in code) with an endless stream on page A, and a callback
that streams to a misspelt id."""

import asyncio
import os

import dash
from dash import dcc, html

from flash_ws import Flash, Input, event_callback, stream_props
from tests.apps import probe

app = Flash(__name__, backend=probe.BACKEND, use_pages=True, pages_folder="", suppress_callback_exceptions=True)
server = app.server
probe.install(app)
dash.register_page("page_a", path="/", layout=html.Div([
    html.Button("start", id="a-start"), html.Button("typo", id="typo-start"), html.Button("misprop", id="misprop-start"),
    html.Div(id="a-count"),
    dcc.Link("to b", href="/b", id="to-b"),
]))
dash.register_page("page_b", path="/b", layout=html.Div([html.Div("page b", id="b-text"), dcc.Link("to a", href="/", id="to-a")]))
app.layout = html.Div([dash.page_container])
if os.environ.get("FLASH_WS_TEST_DEBUG"):  # Dash's dev tools (props check), as app.run(debug=True) turns them on
    app.enable_dev_tools(debug=True, dev_tools_hot_reload=False)


@event_callback(Input("a-start", "n_clicks"))
async def ticker(n):
    probe.EVENTS["ticker started"] += 1
    try:
        i = 0
        while True:
            await asyncio.sleep(0.05)
            i += 1
            yield stream_props("a-count", {"children": f"tick {i}"})
    finally:
        probe.EVENTS["ticker ended"] += 1


@event_callback(Input("typo-start", "n_clicks"))
async def typo(n):
    yield stream_props("a-cuont", {"children": "lost"})


@event_callback(Input("misprop-start", "n_clicks"))
async def misprop(n):
    yield stream_props("a-count", {"chidlren": "lost", "title": "kept"})
