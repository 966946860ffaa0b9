"""The app of the lifecycle browser tests: one endless stream whose every update extends a chart,
so the page shows whether each update was applied exactly once, in order."""

from __future__ import annotations

import asyncio
import os

from flash_ws import Flash, Input, dcc, event_callback, html, stream_props
from tests.apps import probe

app = Flash(__name__, backend=probe.BACKEND, resume_grace=float(os.environ.get("FLASH_WS_TEST_GRACE", "30")),
            transport=os.environ.get("FLASH_WS_TEST_TRANSPORT", "auto"),
            heartbeat_interval=float(os.environ.get("FLASH_WS_TEST_HEARTBEAT", "15")),
            heartbeat_timeout=float(os.environ.get("FLASH_WS_TEST_HEARTBEAT_TIMEOUT", "10")))
server = app.server

app.layout = html.Div([
    html.Button("endless", id="endless-start"),
    dcc.Graph(id="chart", figure={"data": [{"x": [], "y": [], "type": "scatter"}]}),
])


@event_callback(Input("endless-start", "n_clicks"), reset_props=[("chart", {"className": "lost"})])
async def endless(n_clicks):
    """One point every 100 ms, for ever: point k has y = k (slow enough that a stopped page does not
    fill the socket buffers, so the close frame of the server reaches its browser)."""
    k = 0
    while True:
        yield stream_props("chart", {"extendData": [{"x": [[k]], "y": [[k]]}, [0], 1_000_000]})
        k += 1
        await asyncio.sleep(0.1)
