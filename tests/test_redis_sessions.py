"""Sessions shared by two workers through a real Redis: any worker serves a (re)connecting page.

Two hypercorn processes: nothing but Redis joins them, so whatever one worker does for the other's
session went through Redis; only a worker process can be killed (SIGKILL), and only a real
redis-server can be restarted, paused (SIGSTOP) or stopped under them."""

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

APP = "tests.apps.basic"


@pytest.fixture
def workers(serve, redis_server):
    """Two hypercorn workers of the basic app sharing sessions through one redis-server."""
    env = {"FLASH_WS_REDIS_URL": redis_server.url, "FLASH_WS_TEST_GRACE": "10", "FLASH_WS_TEST_WORKER_TTL": "2"}
    return [serve(f"{APP}:server", **env), serve(f"{APP}:server", **env)]


def route_to(client: FlashWsClient, server) -> None:
    """Send the client's next connection to ``server`` (what a round-robin load balancer may do)."""
    client.base_url, client.origin = server.url + "/_flash_ws/", server.url


def numbers(effect) -> list[int]:
    return [pair[1]["children"] for pair in getattr(effect, "props", ())]


def follow(run) -> tuple[list[int], asyncio.Task[None]]:
    """The numbers a run shows, as they arrive, and the task collecting them (done when the run ends)."""
    seen: list[int] = []

    async def consume() -> None:
        async for effect in run:
            seen.extend(numbers(effect))

    return seen, asyncio.get_running_loop().create_task(consume())


def highest_stored_run(admin: redis.Redis, client: FlashWsClient) -> int:
    """The highest run of the client's session that Redis (``admin``, a client of it) knows."""
    return int(admin.hget(keys.meta(session_id(client.session.session)), "highest_run") or 0)


def stored_frames(redis_server) -> int:
    """How many sequenced frames Redis holds, over every session."""
    import redis

    client = redis.Redis.from_url(redis_server.url)
    try:
        return sum(client.xlen(key) for key in client.scan_iter("flash_ws:f:*"))
    finally:
        client.close()


def test_the_redis_store_is_chosen_by_the_argument_then_the_environment(monkeypatch):
    from flash_ws import Flash

    monkeypatch.setenv("FLASH_WS_REDIS_URL", "redis://from-env:6379/0")
    assert Flash("a", redis_url="redis://from-argument:6379/1").flash_ws.store.url == "redis://from-argument:6379/1"
    assert Flash("b").flash_ws.store.url == "redis://from-env:6379/0"
    monkeypatch.delenv("FLASH_WS_REDIS_URL")
    assert type(Flash("c").flash_ws.store).__name__ == "InProcessSessionStore"


async def test_reconnections_to_the_other_worker_resume_exactly(workers, redis_server):
    a, b = workers
    async with FlashWsClient.connect(a.url) as client:
        run = await client.start(f"{APP}.paced", [1200])
        seen, consumer = follow(run)
        for drops in range(1, 4):
            await eventually(lambda target=drops * 300: len(seen) >= target, what=f"{drops * 300} updates")
            route_to(client, workers[(drops + 1) % 2])  # a, b, then a again (the owner: its own ack path)
            await client.drop()
        await asyncio.wait_for(consumer, TIMEOUT)
        assert seen == list(range(1200))
        assert run.ended.reason == "done" and client.lost == []
        assert client.connections >= 4
        # what the page acknowledged is trimmed from Redis too (1,200 updates + the end were stored)
        await eventually(lambda: stored_frames(redis_server) == 0, what="the acknowledged frames trimmed in Redis")
    owned = [len(a.get_json("/test/sessions")), len(b.get_json("/test/sessions"))]
    assert sorted(owned) == [0, 0] or owned.count(1) <= 1  # the session lived on one worker only


async def test_a_start_sent_to_another_worker_runs_on_the_owner_and_cancel_reaches_it(workers):
    a, b = workers
    async with FlashWsClient.connect(a.url) as client:
        route_to(client, b)
        await client.drop()  # now connected to b; the session stays owned by a
        await eventually(lambda: client.connections >= 2 and client._welcomed.is_set(), what="reconnection to b")
        run = await client.start(f"{APP}.endless", ["x"])
        await asyncio.wait_for(run.queue.get(), TIMEOUT)
        assert a.get_json("/test/events").get("endless started") == 1
        assert b.get_json("/test/events").get("endless started") is None
        await client.cancel(run.run)
        await eventually(lambda: run.ended, what="the cancelled run's end")
        assert run.ended.reason == "cancelled"
        await eventually(lambda: a.get_json("/test/events").get("endless finally") == 1, what="the generator's finally on a")


async def test_a_killed_worker_s_runs_are_declared_lost_and_the_page_starts_again(workers, redis_server):
    a, b = workers
    async with FlashWsClient.connect(a.url) as client:
        run = await client.start(f"{APP}.endless", ["x"])
        await asyncio.wait_for(run.queue.get(), TIMEOUT)
        old_session = client.session.session
        # a run Redis knows is ended by the survivor (one it never heard of: tests/test_redis_ahead.py)
        with redis.Redis.from_url(redis_server.url, decode_responses=True) as admin:
            await eventually(lambda: highest_stored_run(admin, client) >= run.run, what="Redis to know the run")
        route_to(client, b)
        os.kill(a.get_json("/test/worker")["pid"], signal.SIGKILL)  # the worker process, not hypercorn's parent
        await eventually(lambda: run.ended, timeout=TIMEOUT * 2, what="the run of the killed worker to end")
        assert (run.ended.reason, run.ended.reset) == ("error", True)  # the page applies reset_props
        assert run.ended.error is not None and run.ended.error.code == "worker_lost"
        assert client.session.session == old_session and client.lost == []  # the session itself survived
        again = await client.start(f"{APP}.count", [5, None])
        pairs, end = await asyncio.wait_for(again.collect(), TIMEOUT)
        assert [p[1]["children"] for p in pairs] == list(range(5)) and end.reason == "done"
        assert b.get_json("/test/events").get("endless started") is None


@pytest.mark.parametrize("reconnect_to", [0, 1])
async def test_a_restarted_redis_is_refilled_by_the_owner_and_the_page_resumes_exactly(workers, redis_server, reconnect_to):
    a, _b = workers
    async with FlashWsClient.connect(a.url) as client:
        run = await client.start(f"{APP}.paced", [1500])
        seen, consumer = follow(run)
        await eventually(lambda: len(seen) >= 100, what="100 updates")
        old_session = client.session.session
        route_to(client, workers[reconnect_to])
        await asyncio.get_running_loop().run_in_executor(None, redis_server.restart)  # every key is gone
        await asyncio.wait_for(consumer, TIMEOUT * 2)
        assert seen == list(range(1500)) and run.ended.reason == "done"
        assert client.session.session == old_session and client.lost == []
        assert client.connections >= 2  # the owner made the page reconnect once it had refilled Redis
    assert "stored them again" in a.output()


@pytest.mark.proxy
async def test_sse_and_posts_spread_round_robin_over_workers(serve, redis_server):
    """Real nginx balances the event stream and the POSTs round-robin; its access log says which
    worker answered each."""
    from tests.conftest import free_port
    from tests.nginx import STOCK, Nginx, parse_access_log

    port = free_port()
    env = {"FLASH_WS_REDIS_URL": redis_server.url, "FLASH_WS_TEST_GRACE": "10",
           "FLASH_WS_TEST_ORIGINS": f"http://127.0.0.1:{port}"}
    workers = [serve(f"{APP}:server", **env), serve(f"{APP}:server", **env)]
    proxy = Nginx(upstreams=[w.port for w in workers], location=STOCK, port=port)
    try:
        async with FlashWsClient.connect(proxy.url, transport="sse") as client:
            runs = [await client.start(f"{APP}.paced", [400]), await client.start(f"{APP}.count", [50, None])]
            seen, consumer = follow(runs[0])
            await eventually(lambda: len(seen) >= 150, what="150 updates")
            await client.drop()  # the event stream reconnects through nginx, to either worker
            await asyncio.wait_for(consumer, TIMEOUT)
            pairs, end = await asyncio.wait_for(runs[1].collect(), TIMEOUT)
            assert seen == list(range(400)) and runs[0].ended.reason == "done"
            assert [p[1]["children"] for p in pairs] == list(range(50)) and end.reason == "done"
            assert client.lost == []
            # (read before closing: closing the client aborts the POSTs in flight, which nginx logs as 499)
            posts = [e for e in parse_access_log((proxy.root / "access.log").read_text()) if e.method == "POST"]
            assert {e.port for e in posts} == {w.port for w in workers}, "POSTs went to one worker only"
            statuses = [e.status for e in posts]  # 499: a POST in flight when drop() cut the link (resent)
            assert set(statuses) <= {204, 499} and statuses.count(499) <= 1, statuses
    finally:
        proxy.stop()


async def test_a_stalled_redis_delays_the_stream_but_loses_nothing(serve, redis_server):
    env = {"FLASH_WS_REDIS_URL": redis_server.url, "FLASH_WS_TEST_GRACE": "10", "FLASH_WS_TEST_WORKER_TTL": "2",
           "FLASH_WS_TEST_AHEAD": "50"}
    workers = [serve(f"{APP}:server", **env), serve(f"{APP}:server", **env)]
    a = workers[0]
    async with FlashWsClient.connect(a.url) as client:
        run = await client.start(f"{APP}.paced", [600])
        seen, consumer = follow(run)
        await eventually(lambda: len(seen) >= 100, what="100 updates")
        redis_server.proc.send_signal(signal.SIGSTOP)  # Redis answers nothing for 3 s (longer than worker_ttl)
        try:
            await asyncio.sleep(3)
            stalled_at = len(seen)
        finally:
            redis_server.proc.send_signal(signal.SIGCONT)
        await asyncio.wait_for(consumer, TIMEOUT)
        assert stalled_at < 600  # output waited for Redis (at most 50 frames are sent before they are stored)
        assert seen == list(range(600)) and run.ended.reason == "done"
        assert client.lost == []
    for worker in workers:
        assert "taking over" not in worker.output()  # nobody was declared dead


async def test_without_redis_pages_are_refused_with_the_reason_and_served_again_when_it_returns(workers, redis_server):
    import json
    import urllib.error
    import urllib.request

    import websockets

    from flash_ws.protocol import Hello, encode_message

    a, _b = workers
    redis_server.stop()
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(a.url + "/_flash_ws/sse?v=1", timeout=TIMEOUT)
    body = json.loads(refused.value.read())
    assert refused.value.code == 503 and body["code"] == "store_unavailable" and "Redis" in body["message"]
    async with websockets.connect(a.ws_url, origin=a.url) as ws:
        await ws.send(encode_message([Hello()]))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), TIMEOUT)
    assert closed.value.rcvd.code == 1011 and "Redis" in closed.value.rcvd.reason  # the page retries later
    redis_server.start()
    async with FlashWsClient.connect(a.url) as client:
        pairs, end = await asyncio.wait_for((await client.start(f"{APP}.count", [5, None])).collect(), TIMEOUT)
        assert len(pairs) == 5 and end.reason == "done"


async def test_hypercorn_workers_sharing_one_port_resume_every_page_exactly(serve, redis_server):
    """``hypercorn --workers 2``: the kernel hands each connection to either process."""
    server = serve(f"{APP}:server", args=("--workers", "2"), FLASH_WS_REDIS_URL=redis_server.url, FLASH_WS_TEST_GRACE="10")

    async def page() -> tuple[list[int], int]:
        async with FlashWsClient.connect(server.url) as client:
            run = await client.start(f"{APP}.paced", [600])
            seen, consumer = follow(run)
            for drops in range(1, 4):
                await eventually(lambda target=drops * 150: len(seen) >= target, what=f"{drops * 150} updates")
                await client.drop()
            await asyncio.wait_for(consumer, TIMEOUT)
            return seen, client.connections

    results = await asyncio.gather(*(page() for _ in range(8)))
    assert all(seen == list(range(600)) and connections == 4 for seen, connections in results)
    assert "stored them again" not in server.output() and "taking over" not in server.output()
