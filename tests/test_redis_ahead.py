"""Frames sent before Redis holds them (docs/protocol.md, "Frames sent before Redis holds them"), at
each boundary, on two hypercorn workers and a real redis-server. ``CLIENT PAUSE ... WRITE`` holds
every store while reads go on, so the page is really ahead of Redis when the test acts."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest
import redis

from flash_ws.client import FlashWsClient
from flash_ws.protocol.tokens import session_id
from flash_ws.server import redis_keys as keys
from tests.conftest import TIMEOUT, eventually
from tests.test_redis_sessions import APP, follow, route_to

AHEAD = 200


@pytest.fixture
def workers(serve, redis_server):
    env = {"FLASH_WS_REDIS_URL": redis_server.url, "FLASH_WS_TEST_GRACE": "10", "FLASH_WS_TEST_WORKER_TTL": "2",
           "FLASH_WS_TEST_AHEAD": str(AHEAD)}
    return [serve(f"{APP}:server", **env), serve(f"{APP}:server", **env)]


@pytest.fixture
def admin(redis_server):
    client = redis.Redis.from_url(redis_server.url, decode_responses=True)
    yield client
    client.client_unpause()
    client.close()


def stored_seq(admin: redis.Redis, client: FlashWsClient) -> int:
    """The last sequence number Redis holds for the client's session (a read: allowed while paused)."""
    return int(admin.hget(keys.meta(session_id(client.session.session)), "last_seq") or 0)


def store_waits(admin: redis.Redis) -> bool:
    """Whether a store (the ``EVALSHA`` of a pipeline of frames) waits on ``CLIENT PAUSE``."""
    return any(client["cmd"] == "evalsha" and "b" in client["flags"] for client in admin.client_list())


async def ahead_of_redis(admin: redis.Redis, client: FlashWsClient, frames: int = 20) -> int:
    """Wait until the page applied ``frames`` frames Redis does not hold; return what Redis holds."""
    await eventually(lambda: client.session.applied_seq >= stored_seq(admin, client) + frames,
                     what=f"the page {frames} frames ahead of Redis")
    return stored_seq(admin, client)


async def test_a_page_ahead_of_redis_resumes_exactly_on_another_worker_while_the_owner_lives(workers, admin):
    a, b = workers
    async with FlashWsClient.connect(a.url) as client:
        run = await client.start(f"{APP}.paced", [1000])
        seen, consumer = follow(run)
        await eventually(lambda: len(seen) >= 100, what="100 updates")
        admin.client_pause(1500, all=False)  # writes wait 1.5 s: no store, no inbox message
        stored = await ahead_of_redis(admin, client)
        assert client.session.applied_seq <= stored + AHEAD  # never further than the window
        route_to(client, b)
        await client.drop()  # resumes on b, which asks the owner (through Redis, once writes go on)
        await asyncio.wait_for(consumer, TIMEOUT)
        assert seen == list(range(1000)) and run.ended.reason == "done"  # nothing lost, duplicated or reordered
        assert client.lost == [] and client.connections >= 2


async def test_a_worker_killed_after_sending_and_before_storing_voids_what_the_page_may_hold(workers, admin):
    a, b = workers
    async with FlashWsClient.connect(a.url) as client:
        old_session = client.session.session
        run = await client.start(f"{APP}.paced", [100_000])
        seen, _consumer = follow(run)
        await eventually(lambda: len(seen) >= 100, what="100 updates")
        pid = a.get_json("/test/worker")["pid"]
        admin.client_pause(30_000, all=False)
        stored = await ahead_of_redis(admin, client)
        route_to(client, b)
        os.kill(pid, signal.SIGKILL)  # frames the page applied die with the worker, unstored
        applied_at_kill = client.session.applied_seq
        admin.client_unpause()
        await eventually(lambda: run.ended, timeout=TIMEOUT * 2, what="the run of the killed worker to end")
        assert run.ended.reason == "error" and run.ended.reset  # an honest reset: the page applies reset_props
        assert run.ended.error is not None and run.ended.error.code == "worker_lost"
        assert applied_at_kill > stored  # the page did hold frames Redis never got
        # the survivor numbered on past everything the dead worker could have sent: a void, then the end
        assert client.session.applied_seq >= stored + AHEAD + 2
        assert client.session.session == old_session and client.lost == []
        assert seen == list(range(len(seen)))  # what the page showed came in order, once each
        again = await client.start(f"{APP}.count", [5, None])
        pairs, end = await asyncio.wait_for(again.collect(), TIMEOUT)
        assert [p[1]["children"] for p in pairs] == list(range(5)) and end.reason == "done"


async def test_a_run_whose_worker_died_before_redis_knew_it_is_lost_on_the_page_not_started_again(workers, admin):
    a, b = workers
    async with FlashWsClient.connect(a.url) as client:
        pid = a.get_json("/test/worker")["pid"]
        known = await client.start(f"{APP}.paced", [100_000])
        seen, _consumer = follow(known)
        await eventually(lambda: len(seen) >= 100, what="100 updates")
        admin.client_pause(30_000, all=False)
        # the owner's store waits in Redis with frames of the first run only: it sends nothing more
        # (not the next run) until that pipeline returns, which it never will
        await eventually(lambda: store_waits(admin), what="the owner's store to wait on the pause")
        unknown = await client.start(f"{APP}.endless", [None])
        await eventually(lambda: unknown.run in client.session.seen, what="a frame of the run Redis never heard of")
        route_to(client, b)
        os.kill(pid, signal.SIGKILL)
        admin.client_unpause()
        await eventually(lambda: known.ended and unknown.ended, timeout=TIMEOUT * 2, what="both runs to end")
        assert known.ended.reason == "error" and known.ended.error.code == "worker_lost"  # the survivor's end
        # the page saw frames of a run the survivor never heard of: lost, reset, and not started again
        assert unknown.ended.reason == "lost" and unknown.ended.reset and unknown.ended.error.code == "worker_lost"
        assert [lost.reason for lost in client.lost] == ["worker_lost"] and unknown.run not in client.session.runs
        assert b.get_json("/test/events").get("endless started", 0) == 0
        again = await client.start(f"{APP}.count", [5, None])
        pairs, end = await asyncio.wait_for(again.collect(), TIMEOUT)
        assert [p[1]["children"] for p in pairs] == list(range(5)) and end.reason == "done"
