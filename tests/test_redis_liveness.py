"""Worker liveness and reaping (redis_liveness), on fakeredis: no redis-server needed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import fakeredis
import pytest

from flash_ws.protocol import Hello, Limits
from flash_ws.protocol.tokens import binding
from flash_ws.server import redis_keys as keys
from flash_ws.server.redis_liveness import Liveness
from flash_ws.server.redis_outage import Outage
from flash_ws.server.redis_store import RedisSessionStore
from tests.conftest import eventually

TTL = 0.4  # seconds: a missing worker is dead after 0.2 s as seen by a survivor


class FakeSurvivor:
    """Records what liveness asks of the sessions a worker owns."""

    def __init__(self, owned: list[str] | None = None) -> None:
        self.sessions = owned or []
        self.restored: list[list[str]] = []
        self.refreshed = 0
        self.adopted: list[tuple[str, str]] = []

    def owned(self) -> list[str]:
        return list(self.sessions)

    async def restore(self, sessions: list[str]) -> None:
        self.restored.append(sessions)

    def refresh_idle(self) -> None:
        self.refreshed += 1

    async def adopt(self, sid: str, dead: str) -> None:
        self.adopted.append((sid, dead))


@pytest.fixture
def server() -> fakeredis.FakeServer:
    return fakeredis.FakeServer()


def _client(server: fakeredis.FakeServer) -> fakeredis.FakeAsyncRedis:
    return fakeredis.FakeAsyncRedis(server=server, decode_responses=True)


def _liveness(server: fakeredis.FakeServer, worker: str, survivor: FakeSurvivor, ttl: float = TTL) -> Liveness:
    return Liveness(_client(server), worker, ttl, Outage("redis://fake"), survivor)


async def _dead_worker(server: fakeredis.FakeServer, name: str, sids: set[str]) -> None:
    """A worker that registered and owned ``sids``, then stopped beating (no liveness key)."""
    redis = _client(server)
    await redis.sadd(keys.WORKERS, name)
    await redis.sadd(keys.owned(name), *sids)
    await redis.xadd(keys.inbox(name), {"op": "wake", "t": "s1"})


async def test_a_silent_worker_is_reaped_after_half_a_ttl_by_exactly_one_survivor(server):
    await _dead_worker(server, "dead", {"s1", "s2"})
    first, second = FakeSurvivor(), FakeSurvivor()
    a, b = _liveness(server, "a", first), _liveness(server, "b", second)
    for survivor in (a, b):
        await survivor.check("dead")
        assert not survivor.is_dead("dead")  # missing just now: maybe Redis restarted
    await eventually(lambda: a.is_dead("dead") and b.is_dead("dead"), what="half a TTL")
    await a.check("dead")
    await b.check("dead")
    assert sorted(first.adopted) == [("s1", "dead"), ("s2", "dead")] and second.adopted == []
    redis = _client(server)
    assert await redis.smembers(keys.WORKERS) == set()
    assert not await redis.exists(keys.owned("dead"), keys.inbox("dead"))


async def test_a_worker_that_beats_again_is_alive_again(server):
    a = _liveness(server, "a", FakeSurvivor())
    await a.check("slow")
    await eventually(lambda: a.is_dead("slow"), what="half a TTL")
    await _client(server).set(keys.alive("slow"), "1")
    await a.check("slow")
    assert not a.is_dead("slow")


async def test_a_beat_registers_the_worker_and_stores_again_what_redis_forgot(server):
    survivor = FakeSurvivor(owned=["x"])
    a = _liveness(server, "a", survivor)
    redis = _client(server)
    await a.beat()
    assert await redis.sismember(keys.WORKERS, "a") and 0 < await redis.pttl(keys.alive("a")) <= TTL * 1000
    assert survivor.restored == [["x"]] and survivor.refreshed == 1  # no owned set: Redis forgot them
    await redis.sadd(keys.owned("a"), "x")
    await a.beat()
    assert survivor.restored == [["x"]] and survivor.refreshed == 2


async def test_the_beat_comes_at_once_when_redis_is_back_and_a_leaving_worker_deletes_its_key(server):
    a = _liveness(server, "a", FakeSurvivor(), ttl=300.0)  # the next beat would come in 100 s
    redis = _client(server)
    task = asyncio.create_task(a.run())
    try:
        await eventually(lambda: a.survivor.refreshed == 1, what="the first beat")
        a.outage.failed(ConnectionError("gone"), "a test outage")
        a.outage.recovered()
        await eventually(lambda: a.survivor.refreshed == 2, what="a beat once Redis is back")
    finally:
        task.cancel()
    await a.leave()
    assert not await redis.exists(keys.alive("a"))


@pytest.fixture
async def stores(server) -> AsyncIterator[list[RedisSessionStore]]:
    made: list[RedisSessionStore] = []
    yield made
    for store in made:
        await store.stop()


async def test_a_survivor_takes_over_the_sessions_of_a_stopped_worker_and_ends_their_runs_as_lost(server, stores):
    def store() -> RedisSessionStore:
        made = RedisSessionStore("redis://fake", {"cb"}, Limits(), 30.0, TTL, lambda live: None, lambda live, text: None,
                                 client=_client(server))
        stores.append(made)
        return made

    a = store()
    live, _ = await a.open(Hello(None, 0), binding("key"), "10.0.0.1")
    live.core.receive_message('[{"t":"start","run":1,"cb":"cb","args":[]}]')
    live.emit(1, '[["x",{"n":1}]]')
    redis = _client(server)
    await eventually(lambda: live.stored_seq == 1, what="the update stored")
    assert await redis.hget(keys.meta(live.sid), "runs") == '{"1": "cb"}'
    await a.stop()  # its liveness key goes with it
    stores.remove(a)

    b = store()
    await b.start()
    await eventually(lambda: [owned.sid for owned in b] == [live.sid], what="the session taken over")
    adopted = next(iter(b))
    held = [text for _seq, text in adopted.core.replay.after(0)]
    assert adopted.core.active_runs() == [] and held[-2].startswith('{"t":"void"') and "worker_lost" in held[-1]
    assert await redis.hget(keys.meta(live.sid), "owner") == b.worker
