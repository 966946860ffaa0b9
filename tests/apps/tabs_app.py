"""The app of the many-tabs tests: one button starts two streams at once, each extending its own
chart one point at a time, so every tab shows whether each update was applied exactly once, in order."""

from __future__ import annotations

import asyncio
import os

from flash_ws import Flash, Input, dcc, event_callback, html, stream_props
from tests.apps import probe

POINTS = int(os.environ.get("FLASH_WS_TEST_POINTS", "60"))
PAUSE = float(os.environ.get("FLASH_WS_TEST_PAUSE", "0.04"))
app = Flash(__name__, backend=probe.BACKEND, resume_grace=float(os.environ.get("FLASH_WS_TEST_GRACE", "30")),
            transport=os.environ.get("FLASH_WS_TEST_TRANSPORT", "auto"),
            allowed_origins=os.environ.get("FLASH_WS_TEST_ORIGINS", "").split(),
            heartbeat_interval=float(os.environ.get("FLASH_WS_TEST_HEARTBEAT", "15")),
            heartbeat_timeout=float(os.environ.get("FLASH_WS_TEST_HEARTBEAT", "10")),
            stall_warning=float(os.environ.get("FLASH_WS_TEST_STALL", "10")))
server = app.server
probe.install(app)

app.layout = html.Div([
    html.Button("start", id="start"),
    *[html.Div([dcc.Graph(id=f"chart-{name}", figure={"data": [{"x": [], "y": [], "type": "scatter"}]}),
                html.Span(id=f"status-{name}")]) for name in ("a", "b")],
])


def _stream(name: str):
    async def stream(n_clicks):
        for k in range(POINTS):
            yield stream_props(f"chart-{name}", {"extendData": [{"x": [[k]], "y": [[k]]}, [0], 1_000_000]})
            await asyncio.sleep(PAUSE)
        yield stream_props(f"status-{name}", {"children": f"done {n_clicks}"})

    stream.__qualname__ = stream.__name__ = f"stream_{name}"
    return stream


for _name in ("a", "b"):
    event_callback(Input("start", "n_clicks"), reset_props=[(f"status-{_name}", {"children": "lost"})])(_stream(_name))
