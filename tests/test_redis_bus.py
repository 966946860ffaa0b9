"""The bus between workers (redis_bus) and a page resumed on another worker, on fakeredis: no
redis-server needed. The wire form of every message is the one workers of older releases read."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import fakeredis
import pytest

from flash_ws.protocol import Hello, Limits, decode_message
from flash_ws.protocol.frames import Update, Welcome
from flash_ws.protocol.tokens import binding
from flash_ws.server import redis_keys as keys
from flash_ws.server.redis_bus import (
    Attach,
    Bus,
    Close,
    Control,
    Detach,
    Forwarded,
    Heard,
    Reconnect,
    Replaced,
    Wake,
    Welcomed,
    decode,
    encode,
)
from flash_ws.server.redis_inbox import Inboxes
from flash_ws.server.redis_outage import Outage
from flash_ws.server.redis_remote import RemoteConnection, RemoteSession
from flash_ws.server.redis_store import RedisSessionStore
from flash_ws.server.sessions import Connection, LiveSession
from tests.conftest import TIMEOUT, eventually

MINE = binding("my browser key")

WIRE = [
    (Forwarded("s1", '[{"t":"ack","seq":3}]'), {"op": "msg", "t": "s1", "m": '[{"t":"ack","seq":3}]'}),
    (Attach("s1", "w2", "c9", 7), {"op": "attach", "t": "s1", "w": "w2", "c": "c9", "s": "7"}),
    (Detach("s1", "c9"), {"op": "detach", "t": "s1", "c": "c9"}),
    (Close("s1"), {"op": "close", "t": "s1"}),
    (Wake("s1"), {"op": "wake", "t": "s1"}),
    (Heard("s1"), {"op": "heard", "t": "s1"}),
    (Control("s1", "c9", '{"t":"ping","id":1}'), {"op": "ctl", "t": "s1", "c": "c9", "m": '{"t":"ping","id":1}'}),
    (Welcomed("s1", "c9", '{"t":"welcome"}'), {"op": "welcome", "t": "s1", "c": "c9", "m": '{"t":"welcome"}'}),
    (Replaced("s1", "c9"), {"op": "replaced", "t": "s1", "c": "c9"}),
    (Reconnect("s1", "reconnect, please"), {"op": "reconnect", "t": "s1", "m": "reconnect, please"}),
]


@pytest.mark.parametrize(("message", "wire"), WIRE, ids=[type(m).__name__ for m, _ in WIRE])
def test_every_message_keeps_its_one_letter_wire_form(message, wire):
    assert encode(message) == wire
    assert decode(wire) == message


def test_an_unknown_or_incomplete_message_is_refused():
    with pytest.raises(ValueError, match="unknown message 'nope'"):
        decode({"op": "nope", "t": "s1"})
    with pytest.raises(KeyError):
        decode({"op": "attach", "t": "s1", "c": "c9", "s": "7"})


@pytest.fixture
def server() -> fakeredis.FakeServer:
    return fakeredis.FakeServer()


def _client(server: fakeredis.FakeServer) -> fakeredis.FakeAsyncRedis:
    return fakeredis.FakeAsyncRedis(server=server, decode_responses=True)


def _bus(server: fakeredis.FakeServer, worker: str, limit: int = 1 << 20) -> Bus:
    redis = _client(server)
    return Bus(redis, worker, Inboxes(redis, limit), Outage("redis://fake"))


@pytest.fixture
async def running() -> AsyncIterator[list[asyncio.Task[None]]]:
    """Tasks the test starts (inbox loops); cancelled at the end."""
    tasks: list[asyncio.Task[None]] = []
    yield tasks
    for task in tasks:
        task.cancel()


async def test_a_message_reaches_the_handler_of_its_type_on_the_other_worker_and_leaves_its_inbox(server, running):
    a, b = _bus(server, "a"), _bus(server, "b")
    attached: list[Attach] = []
    closed: list[Close] = []
    b.handlers = {Attach: attached.append, Close: closed.append}
    running.append(asyncio.create_task(b.run()))
    a.send("b", Attach("s1", "a", "c1", 4))
    a.send("b", Close("s2"))
    await eventually(lambda: attached and closed, what="both messages handled on b")
    assert attached == [Attach("s1", "a", "c1", 4)] and closed == [Close("s2")]
    redis = _client(server)
    await _until(lambda: redis.xlen(keys.inbox("b")), 0, "b's inbox emptied")
    assert not await redis.exists(keys.inbox_bytes("b"))  # nothing counted as waiting either


async def _until(read, expected, what: str) -> None:
    """Poll an async Redis read until it returns ``expected``; fail naming ``what``."""
    for _ in range(int(TIMEOUT / 0.02)):
        if await read() == expected:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


async def test_a_message_to_this_worker_is_handled_at_once_without_redis(server):
    a = _bus(server, "a")
    woken: list[Wake] = []
    a.handlers = {Wake: woken.append}
    a.send("a", Wake("s1"))
    assert woken == [Wake("s1")]
    assert not await _client(server).exists(keys.inbox("a"))


async def test_a_garbled_entry_or_a_failing_handler_does_not_stop_the_inbox(server, running, caplog):
    a, b = _bus(server, "a"), _bus(server, "b")
    closed: list[Close] = []

    def fail(message: Wake) -> None:
        raise RuntimeError("handler bug")

    b.handlers = {Wake: fail, Close: closed.append}
    await a.inboxes.push("b", {"op": "nope", "t": "s1"})
    await a.push("b", Wake("s1"))
    await a.push("b", Close("s1"))
    with caplog.at_level(logging.WARNING, logger="flash_ws"):
        running.append(asyncio.create_task(b.run()))
        await eventually(lambda: closed, what="the close after the garbled entry and the failing handler")
    assert "unknown message 'nope'" in caplog.text and "handling wake from another worker failed" in caplog.text


async def test_a_full_inbox_refuses_a_push_and_stores_nothing(server):
    a = _bus(server, "a", limit=300)
    assert await a.push("b", Forwarded("s1", "x" * 150))
    assert not await a.push("b", Forwarded("s1", "y" * 150))
    entries = await _client(server).xrange(keys.inbox("b"))
    assert [fields["m"] for _id, fields in entries] == ["x" * 150]


async def test_a_message_queued_on_a_pipeline_leaves_with_its_commands(server):
    a = _bus(server, "a")
    redis = _client(server)
    pipe = a.redis.pipeline(transaction=False)
    pipe.set("flash_ws:test", "1")
    await a.queue(pipe, "b", Wake("s1"))
    assert not await redis.exists(keys.inbox("b"))
    await pipe.execute()
    entries = await redis.xrange(keys.inbox("b"))
    assert [{k: v for k, v in fields.items() if k != "n"} for _id, fields in entries] == [{"op": "wake", "t": "s1"}]


@pytest.fixture
async def workers(server) -> AsyncIterator[tuple[RedisSessionStore, RedisSessionStore, list[str]]]:
    """Two workers' stores on one fake Redis, and what the first one was forwarded."""
    forwarded: list[str] = []
    stores = [RedisSessionStore("redis://fake", {"cb"}, Limits(), 30.0, 5.0, lambda live: None,
                                lambda live, text: forwarded.append(text), client=_client(server)) for _ in range(2)]
    yield stores[0], stores[1], forwarded
    for store in stores:
        await store.stop()


def _run_here(live: LiveSession, text: str | bytes, frames: object) -> list:
    raise AssertionError("a session owned by another worker never runs here")


async def test_a_page_resumed_on_another_worker_is_welcomed_by_the_owner_and_forwards_to_it(workers):
    a, b, forwarded = workers
    live, _ = await a.open(Hello(None, 0), MINE, "10.0.0.1")
    first = Connection("websocket on a")
    live.bind(first)
    live.core.receive_message('[{"t":"start","run":1,"cb":"cb","args":[]}]')
    assert isinstance(live, LiveSession) and live.emit(1, '[["x",{"n":1}]]')
    await eventually(lambda: live.stored_seq == 1, what="the update stored")

    remote, resumed = await b.open(Hello(live.token, 0), MINE, "10.0.0.1")
    assert resumed and isinstance(remote, RemoteSession) and remote.owner == a.worker
    second = Connection("websocket on b")
    remote.bind(second)
    await eventually(lambda: remote.welcomed, what="the owner's welcome")
    frames = [frame for message in await remote.take_messages(second) for frame in decode_message(message, "server")]
    assert frames[0] == Welcome(live.token, live.core.epoch, True, 1, 1)
    assert isinstance(frames[1], Update) and frames[1].seq == 1
    assert first.replaced and isinstance(live.connection, RemoteConnection) and live.connection.worker == b.worker

    assert await remote.deliver('[{"t":"ack","seq":1}]', None, _run_here) == []
    await eventually(lambda: forwarded, what="the ack forwarded to the owner")
    assert forwarded == ['[{"t":"ack","seq":1}]']
