"""The app of the operations tests (metrics, health, graceful shutdown): a page with a short run, a
long one that finishes within the shutdown grace, an endless one that never finishes, and one held
until the test lets it finish."""

from __future__ import annotations

import asyncio
import os

from flash_ws import Flash, Input, event_callback, html, stream_props
from tests.apps import probe

app = Flash(__name__, backend=probe.BACKEND, resume_grace=float(os.environ.get("FLASH_WS_TEST_GRACE", "5")),
            transport=os.environ.get("FLASH_WS_TEST_TRANSPORT", "auto"),
            shutdown_grace=float(os.environ.get("FLASH_WS_TEST_SHUTDOWN_GRACE", "5")),
            allowed_origins=os.environ.get("FLASH_WS_TEST_ORIGINS", "").split(),
            metrics_allowed=os.environ.get("FLASH_WS_TEST_METRICS_ALLOWED", "").split(),
            worker_ttl=float(os.environ.get("FLASH_WS_TEST_WORKER_TTL", "5")),
            heartbeat_interval=float(os.environ.get("FLASH_WS_TEST_HEARTBEAT", "15")),
            heartbeat_timeout=float(os.environ.get("FLASH_WS_TEST_HEARTBEAT", "10")))
server = app.server
if os.environ.get("FLASH_WS_TEST_DEBUG"):  # Dash's dev tools UI, as app.run(debug=True) turns it on
    app.enable_dev_tools(debug=True, dev_tools_hot_reload=False)
probe.install(app)
app.layout = html.Div([
    html.Button("count", id="count-start"), html.Div(id="count-out"),
    html.Button("finishing", id="finishing-start"), html.Div(id="finishing-out"),
    html.Button("endless", id="endless-start"), html.Div(id="endless-out"),
    html.Button("held", id="held-start"), html.Div(id="held-out"),
])


@probe.route(app, "/test/count-runs")
async def count_runs():  # which worker answers, and how many count runs it served
    return {"pid": os.getpid(), "runs": probe.EVENTS["count runs"]}


@event_callback(Input("count-start", "n_clicks"))
async def count(n):
    """``n`` updates at once (``n`` is the click count, or the argument the client gives)."""
    probe.EVENTS["count runs"] += 1
    for i in range(int(n)):
        yield stream_props("count-out", {"children": str(i)})


@event_callback(Input("finishing-start", "n_clicks"))
async def finishing(_):
    """Ten updates 0.1 s apart: finishes well within the shutdown grace."""
    for i in range(10):
        await asyncio.sleep(0.1)
        yield stream_props("finishing-out", {"children": f"finishing {i}"})
    yield stream_props("finishing-out", {"children": "finished"})


@event_callback(Input("endless-start", "n_clicks"), reset_props=[("endless-out", {"children": "reset"})])
async def endless(_):
    """Ticks every 0.1 s forever (until cancelled, or the worker stops)."""
    probe.EVENTS["endless started"] += 1
    i = 0
    while True:
        await asyncio.sleep(0.1)
        i += 1
        yield stream_props("endless-out", {"children": f"tick {i}"})


@event_callback(Input("held-start", "n_clicks"))
async def held(_):
    """One update, then waits for the test to open gate ``held`` (POST /test/open/held), then one more."""
    yield stream_props("held-out", {"children": "held"})
    await probe.gate("held")
    yield stream_props("held-out", {"children": "released"})
