"""The app of the browser tests: every scenario the issues name, each on its own buttons."""

from __future__ import annotations

import asyncio
import os
import time

from dash import callback

from flash_ws import Flash, Input, Output, State, dcc, event_callback, html, stream_props
from tests.apps import probe

N_STREAMS = 8
app = Flash(__name__, backend=probe.BACKEND, resume_grace=float(os.environ.get("FLASH_WS_TEST_GRACE", "2")),
            transport=os.environ.get("FLASH_WS_TEST_TRANSPORT", "auto"),
            allowed_origins=os.environ.get("FLASH_WS_TEST_ORIGINS", "").split(),
            heartbeat_interval=float(os.environ.get("FLASH_WS_TEST_HEARTBEAT", "15")),
            heartbeat_timeout=float(os.environ.get("FLASH_WS_TEST_HEARTBEAT", "10")),
            worker_ttl=float(os.environ.get("FLASH_WS_TEST_WORKER_TTL", "5")))  # with FLASH_WS_REDIS_URL: tests/cluster.py
server = app.server
probe.install(app)


def _buttons(*names: str) -> list:
    return [html.Button(name, id=name) for name in names]


app.layout = html.Div([
    html.Div([html.Div([html.Button(f"start {i}", id=f"start-{i}"), html.Span(id=f"out-{i}")]) for i in range(N_STREAMS)]),
    *_buttons("finish-eight", "long-start", "long-cancel", "re-start", "err-start", "err-plain-start", "misc-start", "sync-start",
              "chart-start", "chart-burst", "plain", "plain-sync", "slow-start", "chart-300", "chart-400"),
    html.Div(id="long-out"), html.Div(id="re-out"), html.Div(id="err-msg"), html.Div(id="sync-out"),
    dcc.Input(id="misc-input", value="from state"),
    html.Div([html.Div(id={"type": "cell", "index": i}) for i in range(2)]),
    html.Div(id="plain-out"), html.Div(id="plain-sync-out"), html.Div(id="slow-out"),
    dcc.Graph(id="chart", figure={"data": [{"x": [], "y": [], "type": "scatter"}]}),
])


FINISHED = [0]  # clicks of finish-eight so far, in this process (the one running the page's runs)


def _stream(i: int):
    async def stream(n_clicks):
        # counts until finish-eight is clicked (after the test saw all eight progress at once, however
        # slowly a busy machine clicked them), two minutes at most
        finished = FINISHED[0]
        for k in range(2400):
            if FINISHED[0] != finished:
                break
            await asyncio.sleep(0.05)
            yield stream_props(f"out-{i}", {"children": str(k)})
        yield stream_props(f"out-{i}", {"children": "done"})

    stream.__qualname__ = stream.__name__ = f"stream_{i}"
    return stream


for _i in range(N_STREAMS):
    event_callback(Input(f"start-{_i}", "n_clicks"))(_stream(_i))


@event_callback(Input("finish-eight", "n_clicks"))
async def finish_eight(n_clicks):
    FINISHED[0] += 1
    yield stream_props("finish-eight", {"title": "finished"})


@event_callback(Input("long-start", "n_clicks"), cancel=[(Input("long-cancel", "n_clicks"), 0)],
                reset_props=[("long-out", {"children": "reset"}), ("long-start", {"disabled": False})])
async def long(n_clicks):
    yield stream_props("long-start", {"disabled": True})
    try:
        k = 0
        while True:
            yield stream_props("long-out", {"children": f"tick {k}"})
            k += 1
            await asyncio.sleep(0.05)
    finally:
        probe.EVENTS["long finally"] += 1


@event_callback(Input("re-start", "n_clicks"))
async def retrigger(n_clicks):
    try:
        k = 0
        while True:
            yield stream_props("re-out", {"children": f"run{n_clicks}-{k}"})
            k += 1
            await asyncio.sleep(0.03)
    finally:
        probe.EVENTS[f"retrigger finally {n_clicks}"] += 1


@event_callback(Input("err-start", "n_clicks"), reset_props=[("err-start", {"children": "retry"})],
                on_error=lambda e: stream_props("err-msg", {"children": f"caught: {e}"}))
async def fails(n_clicks):
    yield stream_props("err-msg", {"children": "working"})
    raise RuntimeError("deliberate failure")


@event_callback(Input("err-plain-start", "n_clicks"), reset_props=[("err-plain-start", {"children": "plain reset"})])
async def fails_plainly(n_clicks):
    yield stream_props("err-msg", {"children": "plain working"})
    raise KeyError("no handler")


@event_callback(Input("misc-start", "n_clicks"), State("misc-input", "value"))
async def misc(n_clicks, value):
    yield stream_props(batch=[({"type": "cell", "index": 0}, {"children": html.B(value, id="bold")}),
                              ({"type": "cell", "index": 1}, {"children": "second"})])


@event_callback(Input("sync-start", "n_clicks"))
def sync_stream(n_clicks):
    for k in range(5):
        time.sleep(0.05)
        yield stream_props("sync-out", {"children": f"sync {k}"})


@event_callback(Input("chart-start", "n_clicks"))
async def chart(n_clicks):
    for k in range(200):
        await asyncio.sleep(0.005)
        yield stream_props("chart", {"extendData": [{"x": [[k]], "y": [[k]]}, [0], 1000]})


@event_callback(Input("chart-burst", "n_clicks"))
async def chart_burst(n_clicks):
    for k in range(200):
        yield stream_props("chart", {"extendData": [{"x": [[k]], "y": [[k]]}, [0], 1000]})


@callback(Output("plain-out", "children"), Input("plain", "n_clicks"), prevent_initial_call=True)
async def plain(n_clicks):
    return f"async callback {n_clicks}"


@callback(Output("plain-sync-out", "children"), Input("plain-sync", "n_clicks"), prevent_initial_call=True)
def plain_sync(n_clicks):
    return f"sync callback {n_clicks}"


@event_callback(Input("slow-start", "n_clicks"))
async def slow(n_clicks):
    """Ten updates 0.3 s apart, the last five once the test opens gate "slow": the first five must show
    while the generator waits, even behind a buffering proxy."""
    for k in range(10):
        if k == 5:
            await probe.gate("slow")
        yield stream_props("slow-out", {"children": str(k)})
        await asyncio.sleep(0.3)
    probe.EVENTS["slow done"] += 1


@event_callback(Input("chart-300", "n_clicks"), reset_props=[("chart", {"className": "lost"})])
async def chart_300(n_clicks):
    """300 extendData updates 10 ms apart (the fault tests cut connections under it)."""
    for k in range(300):
        yield stream_props("chart", {"extendData": [{"x": [[k]], "y": [[k]]}, [0], 1000]})
        await asyncio.sleep(0.01)


@event_callback(Input("chart-400", "n_clicks"), reset_props=[("chart", {"className": "lost"})])
async def chart_400(n_clicks):
    """400 extendData updates 20 ms apart (an outage falls in the middle)."""
    for k in range(400):
        yield stream_props("chart", {"extendData": [{"x": [[k]], "y": [[k]]}, [0], 1000]})
        await asyncio.sleep(0.02)
