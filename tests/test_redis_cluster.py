"""Sessions shared by two workers through a real Redis Cluster of 3 masters (``tests.redis_cluster``).

The workers are given one node's URL and find out it is a cluster; every key of a session is in one
hash slot, every key of a worker in another; a page streams through both workers with nothing lost;
a master crashing and coming back empty mid-stream ends in an exact resume or an honest reset.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

import pytest
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.cluster import RedisCluster as SyncRedisCluster

from benchmarks.redis_cluster import RedisCluster
from flash_ws.client import FlashWsClient
from flash_ws.protocol.tokens import new_token, session_id
from flash_ws.server import redis_keys as keys
from flash_ws.server.redis_client import detect_cluster, is_cluster, make_client
from flash_ws.server.settings import redis_cluster_mode
from tests.conftest import TIMEOUT, eventually
from tests.redis_cluster import start_cluster
from tests.test_redis_sessions import follow, highest_stored_run, route_to

APP = "tests.apps.basic"


@pytest.fixture
def redis_cluster() -> Iterator[RedisCluster]:
    cluster = start_cluster()
    yield cluster
    cluster.stop()


@pytest.fixture
def workers(serve, redis_cluster):
    """Two hypercorn workers of the basic app sharing sessions through the cluster (named by one node)."""
    env = {"FLASH_WS_REDIS_URL": redis_cluster.url, "FLASH_WS_TEST_GRACE": "10", "FLASH_WS_TEST_WORKER_TTL": "2"}
    return [serve(f"{APP}:server", **env), serve(f"{APP}:server", **env)]


def sync_client(cluster: RedisCluster) -> SyncRedisCluster:
    return SyncRedisCluster.from_url(cluster.url, decode_responses=True)


def slot(client: SyncRedisCluster, key: str) -> int:
    return int(client.cluster_keyslot(key))


# ----- detection and the override


async def test_a_cluster_node_s_url_makes_a_cluster_client_and_a_server_s_a_plain_one(redis_cluster, redis_server):
    assert detect_cluster(redis_cluster.url) is True and detect_cluster(redis_server.url) is False
    on_cluster, on_server = make_client(redis_cluster.url), make_client(redis_server.url)
    forced_plain = make_client(redis_cluster.url, "no")
    try:
        assert isinstance(on_cluster, AsyncRedisCluster) and is_cluster(on_cluster) and is_cluster(on_cluster.pipeline())
        assert not is_cluster(on_server) and not is_cluster(forced_plain)
        assert await on_server.ping() and await on_cluster.ping()
    finally:
        for client in (on_cluster, on_server, forced_plain):
            await client.aclose()


def test_yes_is_never_asked_and_an_unreachable_node_is_spoken_to_as_one_server(caplog):
    from tests.conftest import free_port

    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    assert isinstance(make_client(nowhere, "yes"), AsyncRedisCluster)  # made without a connection
    with caplog.at_level(logging.WARNING, logger="flash_ws"):
        assert not is_cluster(make_client(nowhere, "auto"))
    assert "FLASH_WS_REDIS_CLUSTER=yes" in caplog.text
    with pytest.raises(ValueError):
        make_client(nowhere, "maybe")


def test_the_override_comes_from_the_argument_then_the_environment(monkeypatch, redis_cluster):
    from flash_ws import Flash

    assert [redis_cluster_mode(v) for v in (True, False, "auto", "YES", "off", "1")] == ["yes", "no", "auto", "yes", "no", "yes"]
    with pytest.raises(ValueError):
        redis_cluster_mode("sometimes")
    monkeypatch.setenv("FLASH_WS_REDIS_CLUSTER", "no")
    assert redis_cluster_mode() == "no"
    assert not is_cluster(Flash("a", redis_url=redis_cluster.url).flash_ws.store.redis)  # the environment said no
    store = Flash("b", redis_url=redis_cluster.url, redis_cluster="auto").flash_ws.store
    assert store is not None and is_cluster(store.redis)  # the argument wins, and asks the node
    monkeypatch.delenv("FLASH_WS_REDIS_CLUSTER")
    assert is_cluster(Flash("c", redis_url=redis_cluster.url).flash_ws.store.redis)  # auto by default
    assert Flash("d", redis_url=redis_cluster.url, redis_cluster=False).flash_ws_settings.redis_cluster == "no"


# ----- the key layout


def test_every_key_of_a_session_shares_a_slot_and_every_key_of_a_worker_another(redis_cluster):
    client = sync_client(redis_cluster)
    try:
        slots_of_sessions = set()
        for _ in range(50):
            sid = session_id(new_token())
            session_slot = slot(client, keys.meta(sid))
            assert slot(client, keys.frames(sid)) == session_slot
            slots_of_sessions.add(session_slot)
        assert len(slots_of_sessions) > 40  # sessions spread over the slots (and so the masters)
        worker = "host-1234-abcdef"
        worker_keys = [keys.alive(worker), keys.owned(worker), keys.inbox(worker), keys.inbox_bytes(worker), keys.reap(worker)]
        assert len({slot(client, key) for key in worker_keys}) == 1
    finally:
        client.close()


# ----- pages through two workers


async def test_a_page_streams_through_both_workers_over_the_cluster_and_loses_nothing(workers, redis_cluster):
    a, b = workers
    async with FlashWsClient.connect(a.url) as client:
        run = await client.start(f"{APP}.paced", [1200])
        seen, consumer = follow(run)
        for drops in range(1, 4):
            await eventually(lambda target=drops * 300: len(seen) >= target, what=f"{drops * 300} updates")
            route_to(client, workers[drops % 2])  # b, a, then b again
            await client.drop()
        await asyncio.wait_for(consumer, TIMEOUT)
        assert seen == list(range(1200))
        assert run.ended.reason == "done" and client.lost == []
        assert client.connections >= 4
        sid = session_id(client.session.session)
        # what the page sent through b reached the owner a: a start on b runs on a
        route_to(client, b)
        await client.drop()
        again = await client.start(f"{APP}.count", [5, None])
        pairs, end = await asyncio.wait_for(again.collect(), TIMEOUT)
        assert [p[1]["children"] for p in pairs] == list(range(5)) and end.reason == "done"
    client_ = sync_client(redis_cluster)
    try:
        found = list(client_.scan_iter(f"{keys.PREFIX}*", target_nodes=SyncRedisCluster.PRIMARIES))
        session_keys = [key for key in found if f"{{{sid}}}" in key]
        assert keys.meta(sid) in session_keys or not session_keys  # (closed pages' keys are deleted)
        by_tag: dict[str, set[int]] = {}
        for key in found:
            if "{" in key:
                by_tag.setdefault(key[key.index("{"):key.index("}") + 1], set()).add(slot(client_, key))
        assert by_tag and all(len(slots) == 1 for slots in by_tag.values()), by_tag
        workers_ids = {w.get_json("/test/worker")["worker"] for w in workers}
        for worker in workers_ids:
            assert client_.exists(keys.alive(worker))
            assert slot(client_, keys.inbox(worker)) == slot(client_, keys.alive(worker))
    finally:
        client_.close()
    assert_no_slot_errors(workers)


async def test_many_pages_at_once_each_stream_exactly_through_either_worker(workers):
    """Pages owned by one worker are stored together (their keys in many slots, so on every master)."""
    async def page(i: int) -> tuple[list[int], str, int]:
        async with FlashWsClient.connect(workers[i % 2].url) as client:
            run = await client.start(f"{APP}.paced", [400])
            seen, consumer = follow(run)
            await eventually(lambda: len(seen) >= 150, what="150 updates")
            route_to(client, workers[(i + 1) % 2])
            await client.drop()
            await asyncio.wait_for(consumer, TIMEOUT)
            assert run.ended is not None
            return seen, run.ended.reason, len(client.lost)

    results = await asyncio.gather(*(page(i) for i in range(8)))
    assert all(result == (list(range(400)), "done", 0) for result in results), [r[1:] for r in results]
    assert_no_slot_errors(workers)


async def test_a_killed_worker_s_sessions_are_taken_over_through_the_cluster(workers, redis_cluster):
    import os
    import signal

    a, b = workers
    async with FlashWsClient.connect(a.url) as client:
        run = await client.start(f"{APP}.endless", ["x"])
        await asyncio.wait_for(run.queue.get(), TIMEOUT)
        old_session = client.session.session
        with sync_client(redis_cluster) as admin:  # the survivor ends a run the cluster knows
            await eventually(lambda: highest_stored_run(admin, client) >= run.run, what="the cluster to know the run")
        route_to(client, b)
        os.kill(a.get_json("/test/worker")["pid"], signal.SIGKILL)
        await eventually(lambda: run.ended, timeout=TIMEOUT * 2, what="the run of the killed worker to end")
        assert run.ended is not None and (run.ended.reason, run.ended.reset) == ("error", True)
        assert run.ended.error is not None and run.ended.error.code == "worker_lost"
        assert client.session.session == old_session and client.lost == []  # b took the session over
        again = await client.start(f"{APP}.count", [5, None])
        pairs, end = await asyncio.wait_for(again.collect(), TIMEOUT)
        assert [p[1]["children"] for p in pairs] == list(range(5)) and end.reason == "done"
    assert_no_slot_errors([b])


def assert_no_slot_errors(servers) -> None:
    """No command or script of a worker spanned two slots, and none of its loops stopped."""
    for server in servers:
        output = server.output()
        for sign in ("CROSSSLOT", "same key slot", "same slot", "stopped\nTraceback"):
            assert sign not in output, output[-4000:]


# ----- a master restarting mid-stream


def _master_of(cluster: RedisCluster, key: str) -> int:
    client = sync_client(cluster)
    try:
        return cluster.node_of_slot(slot(client, key))
    finally:
        client.close()


@pytest.mark.parametrize(("which", "through"), [("session", "owner"), ("session", "other"), ("owner", "other")])
async def test_a_master_restarting_mid_stream_gives_an_exact_resume_or_an_honest_reset(workers, redis_cluster, which, through):
    """The master holding the session's keys (or its owner's keys: liveness, inbox, set of sessions)
    is killed and started again empty while the page streams through its owner, or the other worker."""
    a, b = workers
    async with FlashWsClient.connect(a.url) as client:
        run = await client.start(f"{APP}.paced", [1500])
        seen, consumer = follow(run)
        await eventually(lambda: len(seen) >= 100, what="100 updates")
        old_session = client.session.session
        if through == "other":
            route_to(client, b)
            await client.drop()  # served by b from the cluster, owned by a
        await eventually(lambda: len(seen) >= 200, what="200 updates")
        owner = a.get_json("/test/worker")["worker"]
        key = keys.meta(session_id(old_session)) if which == "session" else keys.owned(owner)
        master = _master_of(redis_cluster, key)
        await asyncio.get_running_loop().run_in_executor(None, redis_cluster.restart, master)
        try:
            await asyncio.wait_for(consumer, TIMEOUT * 3)
        except TimeoutError:
            pytest.fail(f"the stream stopped at {len(seen)} updates\n--- a\n{a.output()[-4000:]}\n--- b\n{b.output()[-4000:]}")
        assert seen == list(range(len(seen))), "a gap, a duplicate or a reordering"
        if run.ended.reason == "done":  # an exact resume
            assert seen == list(range(1500)) and client.lost == []
            assert client.session.session == old_session
        else:  # an honest reset: the page is told, and applies the run's reset_props
            assert run.ended.reset and (client.lost or run.ended.reason in ("lost", "error")), run.ended
    print(f"master of the {which}'s keys restarted, page through the {through}: {run.ended.reason}, {len(seen)} updates")
    assert_no_slot_errors(workers)
    if which == "session":
        assert "stored them again" in a.output() or run.ended.reason != "done", a.output()[-3000:]


# ----- flash_ws.celery's streams on a cluster


async def test_a_celery_task_s_stream_on_a_cluster_node_is_followed_in_order(redis_cluster, redis_server):
    """Celery's broker and backend on one redis-server, the tasks' streams on the cluster
    (``flash_ws_stream_url``): both sides find out it is a cluster."""
    import uuid

    from flash_ws.celery import follow, stream_key
    from flash_ws.celery.redis_stream import is_cluster_url
    from tests.test_celery import ACKS, REPORTED, eager_app, run_eager

    ACKS.queue.clear()
    REPORTED.clear()
    app = eager_app(redis_server.url)
    app.conf.flash_ws_stream_url = redis_cluster.url
    assert is_cluster_url(redis_cluster.url) and not is_cluster_url(redis_server.url)
    task_id = str(uuid.uuid4())
    thread = run_eager(app, task_id, 12)
    items = []
    async with follow(app.AsyncResult(task_id), poll_interval=0.2) as stream:
        async for item in stream:
            items.append(item)
            ACKS.put(item["i"])
    assert items == [{"i": i, "square": i * i} for i in range(12)] and stream.return_value == {"n": 12}
    assert all(REPORTED)
    client = sync_client(redis_cluster)
    try:
        assert not client.exists(stream_key(task_id))  # deleted by the follower, on whichever master holds it
    finally:
        client.close()
    await asyncio.to_thread(thread.join, TIMEOUT)
