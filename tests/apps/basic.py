"""A test app with one event callback of each kind the tests need."""

import asyncio
import os
import time

from flash_ws import Flash, Input, State, event_callback, html, stream_props
from tests.apps import probe

app = Flash(__name__, backend=probe.BACKEND, resume_grace=float(os.environ.get("FLASH_WS_TEST_GRACE", "2")),
            max_active_runs=int(os.environ.get("FLASH_WS_TEST_MAX_RUNS", "32")),
            replay_buffer_bytes=int(os.environ.get("FLASH_WS_TEST_REPLAY_BYTES", str(8 << 20))),
            allowed_origins=os.environ.get("FLASH_WS_TEST_ORIGINS", "").split(),
            allowed_hosts=os.environ.get("FLASH_WS_TEST_HOSTS", "").split(),
            worker_ttl=float(os.environ.get("FLASH_WS_TEST_WORKER_TTL", "5")),
            heartbeat_interval=float(os.environ.get("FLASH_WS_TEST_HEARTBEAT", "15")),
            post_body_timeout=float(os.environ.get("FLASH_WS_TEST_BODY_TIMEOUT", "10")),
            replay_memory_budget=int(os.environ.get("FLASH_WS_TEST_BUDGET", str(256 << 20))),
            stalled_session_timeout=float(os.environ.get("FLASH_WS_TEST_STALL", "60")),
            max_starts_per_address_per_second=float(os.environ.get("FLASH_WS_TEST_ADDRESS_STARTS", "1000")),
            redis_ahead_frames=int(os.environ.get("FLASH_WS_TEST_AHEAD", "1024")))
server = app.server
probe.install(app)
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


@event_callback(Input("go", "accessKey"))
async def flood(n):
    """Yields 1 KB updates as fast as the page takes them (backpressure)."""
    for i in range(int(n)):
        probe.EVENTS["flood yields"] += 1
        yield stream_props("out", {"children": f"{i:06d}" + "x" * 1000})


@event_callback(Input("go", "lang"), backpressure="latest")
async def flood_latest(n):
    """The same, in the latest-value mode: never waits."""
    for i in range(int(n)):
        probe.EVENTS["latest yields"] += 1
        yield stream_props("out", {"children": f"{i:06d}" + "x" * 1000})
        await asyncio.sleep(0)


@event_callback(Input("go", "dir"))
async def slow(n):
    """Ten updates 0.3 s apart: through a proxy they must arrive one by one, not at the end."""
    for i in range(10):
        yield stream_props("out", {"children": i})
        await asyncio.sleep(0.3)
    probe.EVENTS["slow done"] += 1


@event_callback(Input("go", "hidden"))
async def paced(n):
    """n updates 3 ms apart (the resume tests cut connections under it)."""
    for i in range(int(n)):
        yield stream_props("out", {"children": i})
        await asyncio.sleep(0.003)


@event_callback(Input("go", "role"))
def blocking(_):
    """A step that blocks its thread (a slow query) until the test opens the gate "blocking"."""
    probe.thread_gate("blocking")
    yield stream_props("out", {"title": "unblocked"})
