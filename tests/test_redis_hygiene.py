"""Redis hygiene on a real redis-server: inboxes emptied once handled and bounded in bytes, forwarded
messages re-encoded (junk never reaches Redis), Redis URLs masked in logs and in what pages read."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request

import pytest
import redis

from flash_ws.client import FlashWsClient
from flash_ws.protocol import Hello, Limits, encode_message
from flash_ws.server import redis_keys as keys
from flash_ws.server.redis_outage import masked_url
from flash_ws.server.redis_remote import RemoteSession
from flash_ws.server.redis_store import RedisSessionStore
from flash_ws.server.sessions import StoreUnavailable
from tests.conftest import TIMEOUT, eventually, free_port

APP = "tests.apps.basic"
MB = 1_000_000
GROWTH_BOUND = 2 << 20  # bytes Redis may grow by while 50 MB of padded acks are forwarded


def _post(url: str, token: str, body: str, cookies: dict[str, str]) -> int:
    request = urllib.request.Request(url + "/_flash_ws/post", data=body.encode(), method="POST",
                                     headers={"Content-Type": "application/json", "Origin": url, "X-Flash-Ws-Session": token,
                                              **cookies})
    with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
        return response.status


async def test_50_padded_acks_of_1_mb_through_another_worker_leave_redis_small_and_the_inbox_empty(serve, redis_server):
    """Real redis-server: its own INFO memory measures what the forwarded acks cost; two worker
    processes, so the POSTs to the one that does not own the session cross Redis to the owner."""
    env = {"FLASH_WS_REDIS_URL": redis_server.url, "FLASH_WS_TEST_GRACE": "30"}
    a, b = serve(f"{APP}:server", **env), serve(f"{APP}:server", **env)
    owner_id = a.get_json("/test/worker")["worker"]
    direct = redis.Redis.from_url(redis_server.url)
    try:
        async with FlashWsClient.connect(a.url) as client:  # the session is owned by worker a
            token = client.session.session
            before = direct.info("memory")["used_memory"]
            junk = '[{"t":"ack","seq":0,"pad":"' + "x" * MB + '"}]'
            loop = asyncio.get_running_loop()
            for _ in range(50):
                assert await loop.run_in_executor(None, _post, b.url, token, junk, client.cookies.headers()) == 204
            grown = direct.info("memory")["used_memory"] - before
            assert grown < GROWTH_BOUND, f"Redis grew by {grown} bytes"
            await eventually(lambda: direct.xlen(keys.inbox(owner_id)) == 0, what="the owner's inbox emptied")
            assert not direct.exists(keys.inbox_bytes(owner_id))  # nothing counted as waiting either
            assert not [k for k in direct.scan_iter("flash_ws:*") if token.split(".")[1].encode() in k]
    finally:
        direct.close()


@pytest.fixture
async def forwarding(redis_server):
    """A worker's store with a 4 KiB inbox bound, and a handle on a session owned by a worker that
    reads nothing (so whatever was forwarded stays in its inbox to be looked at)."""
    store = RedisSessionStore(redis_server.url, set(), Limits(), 30.0, 5.0, lambda live: None, lambda live, text: None,
                              inbox_bytes=4096)
    await store.start()
    yield store, RemoteSession(store, "sid", "sid.secret", "silent-worker", 0)
    await store.stop()


def _inbox(redis_server) -> list[dict[bytes, bytes]]:
    client = redis.Redis.from_url(redis_server.url)
    try:
        return [fields for _id, fields in client.xrange(keys.inbox("silent-worker"))]
    finally:
        client.close()


async def test_forwarded_messages_are_re_encoded_and_malformed_ones_never_leave(forwarding, redis_server):
    """Real redis-server: the inbox as Redis itself holds it, read back with a client of its own
    (fakeredis with Lua, as test_redis_bus uses, would show the same; a redis-server starts in a blink)."""
    _store, remote = forwarding
    assert await remote.forward('[{"t":"ack","seq":3,"pad":"' + "x" * 1000 + '"}]  ') == []
    refused = await remote.forward('[{"t":"ack"}]')
    assert refused[0].code == "bad_frame" and "seq" in refused[0].message
    assert (await remote.forward('[{"t":"start","run":1,"cb":"x","args":[NaN]}]'))[0].code == "bad_frame"
    assert [fields[b"m"] for fields in _inbox(redis_server)] == [b'[{"t":"ack","seq":3}]']


async def test_the_inbox_is_bounded_in_bytes_and_a_forward_past_it_is_refused(forwarding, redis_server):
    """Real redis-server: the inbox as Redis itself holds it, read back with a client of its own
    (fakeredis with Lua, as test_redis_bus uses, would show the same; a redis-server starts in a blink)."""
    _store, remote = forwarding
    start = '[{"t":"start","run":1,"cb":"x","args":["' + "y" * 900 + '"]}]'
    for _ in range(4):
        await remote.forward(start)
    with pytest.raises(StoreUnavailable) as refused:
        await remote.forward(start)
    assert str(refused.value).startswith("the session store (Redis) is unavailable")
    assert len(_inbox(redis_server)) == 4
    client = redis.Redis.from_url(redis_server.url)
    try:
        assert int(client.get(keys.inbox_bytes("silent-worker"))) <= 4096
    finally:
        client.close()


@pytest.mark.parametrize(("url", "shown"), [
    ("redis://alice:S3cretPw@db.internal:6380/2?password=S3cretQ", "redis://db.internal:6380/2"),
    ("rediss://:S3cretPw@cache.example", "rediss://cache.example:6379/0"),
    ("unix://alice:S3cretPw@/run/redis.sock?db=3", "unix:///run/redis.sock?db=3"),
    ("not a url", "(a Redis URL that cannot be parsed)"),
])
def test_redis_urls_are_masked_by_redis_py_s_own_parsing(url, shown):
    assert masked_url(url) == shown


async def test_pages_and_logs_never_see_the_redis_host_or_password(serve):
    """Real hypercorn: its whole output (hypercorn's, Quart's and flash_ws's logs, tracebacks too)
    is searched for the password; the in-process layer keeps flash_ws's logger only."""
    import websockets

    port = free_port()  # nothing listens there: the store is unavailable
    server = serve(f"{APP}:server", FLASH_WS_REDIS_URL=f"redis://alice:S3cretPw@127.0.0.1:{port}/0?password=S3cretQ")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(server.url + "/_flash_ws/sse?v=1", timeout=TIMEOUT)
    body = json.loads(refused.value.read())
    assert refused.value.code == 503 and body == {"code": "store_unavailable",
                                                  "message": "the session store (Redis) is unavailable; try again later"}
    async with websockets.connect(server.ws_url, origin=server.url) as ws:
        await ws.send(encode_message([Hello()]))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), TIMEOUT)
    reason = closed.value.rcvd.reason
    assert closed.value.rcvd.code == 1011 and reason.startswith("the session store (Redis) is unavailable")
    for page_text in (body["message"], reason):
        assert "S3cret" not in page_text and str(port) not in page_text and "127.0.0.1" not in page_text
    await eventually(lambda: f"redis://127.0.0.1:{port}/0" in server.output(), what="the masked URL in the log")
    assert "S3cret" not in server.output() and "alice" not in server.output()


async def test_the_store_loads_its_append_script_when_it_starts_not_at_its_first_batch(redis_server):
    """Real redis-server: a fresh one has no script cached, and its SCRIPT EXISTS is the answer that
    matters (a fresh fakeredis would answer the same)."""
    import hashlib

    client = redis.Redis.from_url(redis_server.url)
    store = RedisSessionStore(redis_server.url, set(), Limits(), 30.0, 5.0, lambda live: None, lambda live, text: None)
    sha = hashlib.sha1(keys.APPEND.encode()).hexdigest()
    try:
        assert client.script_exists(sha) == [False]  # a fresh redis-server
        await store.start()
        await eventually(lambda: client.script_exists(sha) == [True], what="the append script loaded, no session yet")
        assert len(store) == 0
    finally:
        await store.stop()
        client.close()
