"""Dash-style streaming callbacks (Dash 4.5's API on ``Flash``) across two hypercorn workers sharing a
real Redis: the page's connection moves from worker to worker mid-stream and every update arrives
exactly once, in order (tests/apps/dash_cluster_app.py; the event-callback twin is in
tests/test_redis_sessions.py).

Two worker processes: nothing but the real redis-server joins them, so the run resumed on the other
worker, and its generator running only on the owner, went through Redis."""

from __future__ import annotations

import asyncio

import pytest

from flash_ws.client import FlashWsClient
from tests.conftest import TIMEOUT, eventually
from tests.test_redis_sessions import route_to

APP = "tests.apps.dash_cluster_app"
STEPS = 1500
MOVES = 4


@pytest.fixture
def workers(serve, redis_server):
    """Two hypercorn workers of the app sharing sessions through one redis-server."""
    env = {"FLASH_WS_REDIS_URL": redis_server.url, "FLASH_WS_TEST_GRACE": "10", "FLASH_WS_TEST_WORKER_TTL": "2"}
    return [serve(f"{APP}:server", **env), serve(f"{APP}:server", **env)]


def follow(run) -> tuple[list[int], list[int], asyncio.Task[None]]:
    """What a run shows as it arrives: every ``count`` value and every value appended to ``points``."""
    counts: list[int] = []
    appended: list[int] = []

    async def consume() -> None:
        async for effect in run:
            for component, props in getattr(effect, "props", ()):
                if component == "count":
                    counts.append(props["children"])
                elif component == "points":
                    operations = props["data"]["operations"]
                    appended.extend(op["params"]["value"] for op in operations if op["operation"] == "Append")

    return counts, appended, asyncio.get_running_loop().create_task(consume())


@pytest.mark.parametrize("callback, trigger", [("numbers", "go"), ("sync_numbers", "sync")])
async def test_a_dash_style_stream_resumes_exactly_on_the_other_worker(workers, callback, trigger):
    a, b = workers
    async with FlashWsClient.connect(a.url) as client:
        context = {"t": [f"{trigger}.n_clicks"]}  # what the page sends with a Dash-style start
        run = await client.start(f"{APP}.{callback}", [STEPS, context])
        counts, appended, consumer = follow(run)
        for move in range(1, MOVES + 1):
            await eventually(lambda target=move * STEPS // (MOVES + 2): len(counts) >= target,
                             what=f"{move * STEPS // (MOVES + 2)} updates")
            route_to(client, workers[move % 2])  # b, a, b, a: every move lands on the other worker
            await client.drop()
        await asyncio.wait_for(consumer, TIMEOUT)
        assert counts == list(range(STEPS))  # nothing lost, repeated or reordered
        assert appended == list(range(STEPS))  # the Patch appends too, each applied once
        assert run.ended.reason == "done" and client.lost == []
        assert client.connections >= MOVES + 1
    started = [worker.get_json("/test/events").get(f"{callback} started", 0) for worker in (a, b)]
    assert started == [1, 0]  # the generator ran once, on the worker that owns the session
