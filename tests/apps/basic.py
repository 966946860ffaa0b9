"""A test app with one event callback of each kind the tests need."""

import asyncio
import os
import time

from flash_ws import Flash, Input, State, html, event_callback, stream_props
from tests.apps import probe

app = Flash(__name__, resume_grace=float(os.environ.get("FLASH_WS_TEST_GRACE", "2")),
            max_active_runs=int(os.environ.get("FLASH_WS_TEST_MAX_RUNS", "32")))
server = app.server
probe.install(server)
app.layout = html.Div([html.Button("go", id="go"), html.Div(id="out")])


@event_callback(Input("go", "n_clicks"), State("out", "children"))
async def count(n, current):
    for i in range(int(n)):
        yield stream_props("out", {"children": i})


@event_callback(Input("go", "title"))
async def endless(_):
    probe.EVENTS["endless started"] += 1
    try:
        while True:
            await asyncio.sleep(0.01)
            yield stream_props("out", {"title": "tick"})
    finally:
        probe.EVENTS["endless finally"] += 1


@event_callback(Input("go", "className"))
def sync_count(n):
    try:
        for i in range(int(n)):
            time.sleep(0.05)
            yield stream_props("out", {"children": f"sync {i}"})
    finally:
        probe.EVENTS["sync finally"] += 1


@event_callback(Input("out", "title"), on_error=lambda e: stream_props("out", {"children": f"failed: {e}"}))
async def fails(_):
    yield stream_props("out", {"children": "about to fail"})
    raise ValueError("boom")


@event_callback(Input("out", "className"))
async def bad_yield(_):
    yield {"children": "not stream_props"}
