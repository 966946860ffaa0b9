"""Session stores: tokens with a public id, sessions bound to their browser, caps with clear refusals.

Each store is the real one: the in-process store, and the Redis store on a real redis-server (two
stores in one process are two workers sharing it); the caps are also tried through the routes, in-process.

The Redis store runs its keys and Lua scripts on a real redis-server, the one users run (they pass
on fakeredis with Lua too, as test_redis_bus uses it; a redis-server starts in a blink).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from flash_ws.protocol import Hello, Limits, encode_message
from flash_ws.protocol.tokens import binding, session_id
from flash_ws.server.sessions import Connection, InProcessSessionStore, LiveSession, SessionStoreError, TooManySessions
from tests.conftest import eventually

MINE, THEIRS = binding("my browser key"), binding("another browser key")
HERE = "10.0.0.1"


class Stores:
    """Makes stores of one kind and records what they closed (their runs would be cancelled)."""

    def __init__(self, kind: str, redis_url: str | None) -> None:
        self.kind, self.redis_url = kind, redis_url
        self.closed: list[LiveSession] = []
        self.made: list = []

    def make(self, max_sessions: int = 10_000, max_sessions_per_address: int = 256):
        if self.kind == "memory":
            store = InProcessSessionStore(set(), Limits(), 30.0, self.closed.append, max_sessions, max_sessions_per_address)
        else:
            from flash_ws.server.redis_store import RedisSessionStore

            store = RedisSessionStore(self.redis_url, set(), Limits(), 30.0, 5.0, self.closed.append, lambda live, text: None,
                                      max_sessions, max_sessions_per_address)
        self.made.append(store)
        return store


@pytest.fixture(params=["memory", "redis"])
async def stores(request) -> AsyncIterator[Stores]:
    redis_url = request.getfixturevalue("redis_server").url if request.param == "redis" else None
    made = Stores(request.param, redis_url)
    yield made
    for store in made.made:
        await store.stop()


async def test_new_sessions_get_a_token_with_a_public_id_and_are_kept_by_it(stores):
    store = stores.make()
    live, resumed = await store.open(Hello(None, 0), MINE, HERE)
    sid, secret = live.token.split(".")
    assert not resumed and live.sid == sid == session_id(live.token) and len(secret) >= 32
    again, resumed = await store.open(Hello(live.token, 0), MINE, HERE)
    assert resumed and again is live
    by_sid, resumed = await store.open(Hello(sid, 0), MINE, HERE)  # the event stream names only the sid
    assert resumed and by_sid is live
    assert [s.sid for s in store] == [sid]


@pytest.mark.parametrize("named", ["the whole token", "the sid"])
async def test_a_stranger_with_the_token_gets_a_new_session_and_the_owner_keeps_his(stores, named):
    store = stores.make()
    owner, _ = await store.open(Hello(None, 0), MINE, HERE)
    presented = owner.token if named == "the whole token" else owner.sid
    stranger, resumed = await store.open(Hello(presented, 0), THEIRS, HERE)
    assert not resumed and stranger is not owner and stranger.sid != owner.sid
    assert stores.closed == [] and owner in list(store)  # never closed, never cancelled
    assert await store.get(owner.token, THEIRS) is None  # nor can the stranger POST to it
    back, resumed = await store.open(Hello(owner.token, 0), MINE, HERE)
    assert resumed and back is owner


async def test_a_wrong_secret_with_the_right_sid_and_browser_opens_a_new_session(stores):
    store = stores.make()
    owner, _ = await store.open(Hello(None, 0), MINE, HERE)
    forged = owner.sid + ".not-the-secret"
    other, resumed = await store.open(Hello(forged, 0), MINE, HERE)
    assert not resumed and other is not owner and stores.closed == [] and owner in list(store)
    assert await store.get(forged, MINE) is None


async def test_its_own_browser_with_a_seq_that_cannot_resume_closes_the_old_session(stores):
    store = stores.make()
    owner, _ = await store.open(Hello(None, 0), MINE, HERE)
    fresh, resumed = await store.open(Hello(owner.token, 99), MINE, HERE)  # nothing was ever sent: 99 cannot resume
    assert not resumed and fresh is not owner
    assert stores.closed == [owner] and owner not in list(store)


async def test_get_needs_the_whole_token_and_the_browser(stores):
    store = stores.make()
    live, _ = await store.open(Hello(None, 0), MINE, HERE)
    assert await store.get(live.token, MINE) is live
    assert await store.get(live.sid, MINE) is None
    assert await store.get(live.token, THEIRS) is None
    assert await store.get(live.token, "") is None


async def test_caps_refuse_new_sessions_naming_the_setting_but_never_a_resume(stores):
    store = stores.make(max_sessions=5, max_sessions_per_address=3)
    mine = [(await store.open(Hello(None, 0), MINE, HERE))[0] for _ in range(3)]
    with pytest.raises(TooManySessions, match="max_sessions_per_address"):
        await store.open(Hello(None, 0), MINE, HERE)
    with pytest.raises(TooManySessions, match="max_sessions_per_address"):  # a stranger's "resume" is a new session
        await store.open(Hello(mine[0].token, 0), THEIRS, HERE)
    assert isinstance(TooManySessions("x"), SessionStoreError)
    resumed = await store.open(Hello(mine[0].token, 0), MINE, HERE)
    assert resumed == (mine[0], True)  # at the cap, a page still resumes its own session
    others = [(await store.open(Hello(None, 0), MINE, f"10.0.0.{i}"))[0] for i in (2, 3)]
    with pytest.raises(TooManySessions, match=r"max_sessions\)"):
        await store.open(Hello(None, 0), MINE, "10.0.0.9")
    store.close(mine[1])
    store.close(others[0])
    assert (await store.open(Hello(None, 0), MINE, HERE))[1] is False  # closing freed a slot
    assert len(store) == 4


async def test_on_redis_the_binding_is_checked_by_every_worker_and_keys_never_hold_the_token(redis_server):
    import redis.asyncio as aioredis

    from flash_ws.server.redis_remote import RemoteSession

    made = Stores("redis", redis_server.url)
    a, b = made.make(), made.make()
    try:
        owner, _ = await a.open(Hello(None, 0), MINE, HERE)
        stranger, resumed = await b.open(Hello(owner.token, 0), THEIRS, HERE)
        assert not resumed and stranger.sid != owner.sid
        assert await b.get(owner.token, THEIRS) is None and await b.get(owner.sid, MINE) is None
        handle = await b.get(owner.token, MINE)
        assert isinstance(handle, RemoteSession) and handle.owner == a.worker
        remote, resumed = await b.open(Hello(owner.sid, 0), MINE, HERE)  # the page's event stream, on b
        assert resumed and isinstance(remote, RemoteSession)
        remote.bind(Connection("the page's event stream"))
        # a's inbox is read in order: once a welcomed b's resume, it had read whatever b sent before
        await eventually(lambda: remote.welcomed, what="a's welcome for the resume on b")
        assert made.closed == [] and owner in list(a) and not owner.closed
        client = aioredis.Redis.from_url(redis_server.url, decode_responses=True)
        try:
            names = [key async for key in client.scan_iter("flash_ws:*")]
        finally:
            await client.aclose()
        assert f"flash_ws:s:{{{owner.sid}}}" in names
        assert not [name for name in names if owner.token.split(".")[1] in name]
    finally:
        for store in made.made:
            await store.stop()


# ----- through the routes, in-process: 300 sessions opened and dropped in a burst from one address

def _browser(server, name: str = "k") -> dict[str, str]:
    """One browser's key cookie, signed as the server signs them (one per ``name`` and server)."""
    from flash_ws.protocol.tokens import new_browser_key

    keys = server.__dict__.setdefault("test_browser_keys", {})
    key = keys.setdefault(name, new_browser_key(server.app.flash_ws.key_secret))
    return {"Cookie": f"flash_ws_key={key}"}


async def _open_page(server, session: str | None = None) -> tuple[str, object]:
    """One WebSocket of one browser that says hello, reads its first answer, and drops."""
    from tests.asgi import ConnectionClosed

    ws = await server.asgi.websocket("/_flash_ws/ws", {"Origin": server.url, **_browser(server)})
    try:
        await ws.send(encode_message([Hello(session, 0)]))
        try:
            first = await ws.recv()
        except ConnectionClosed as closed:
            return "refused", closed
        return "welcome", json.loads(first)[0]
    finally:
        await ws.close()


async def test_a_burst_of_300_sessions_from_one_address_keeps_only_the_cap(serve_in_process):
    """In-process: the cap counts sessions by address, and the answers are the routes' (a close
    code, a 503)."""
    server = await serve_in_process("tests.apps.basic:server", FLASH_WS_TEST_GRACE="60")
    outcomes = [await _open_page(server) for _ in range(300)]  # each dropped at once
    welcomes = [what for kind, what in outcomes if kind == "welcome"]
    refusals = [what for kind, what in outcomes if kind == "refused"]
    assert len(welcomes) == 256 and len(refusals) == 44
    assert {(close.code, "max_sessions_per_address" in close.reason) for close in refusals} == {(1013, True)}
    assert len(await server.get_json("/test/sessions")) == 256  # all in their grace period: the count is bounded
    refused = await server.asgi.request("GET", "/_flash_ws/sse?v=1")  # the event stream is refused alike
    body = refused.json()
    assert refused.status == 503 and body["code"] == "too_many_sessions" and "max_sessions_per_address" in body["message"]
    kind, welcome = await _open_page(server, welcomes[0]["session"])
    assert kind == "welcome" and welcome["resumed"] is True  # a resume is never refused by a cap


@pytest.mark.parametrize("name", ["max_sessions", "max_sessions_per_address", "redis_inbox_bytes"])
def test_a_cap_below_one_is_refused_naming_the_setting(name):
    from flash_ws.server.settings import Settings

    with pytest.raises(ValueError, match=f"^{name} must be a positive integer, got 0$"):
        Settings(**{name: 0})


async def test_through_the_routes_a_stolen_token_without_the_browser_cookie_takes_nothing(serve_in_process):
    """In-process: the cookies are headers the test writes, and the answers are the routes'."""
    server = await serve_in_process("tests.apps.basic:server", FLASH_WS_TEST_GRACE="30")
    cookie = {"mine": _browser(server, "mine"), "theirs": _browser(server, "theirs")}
    owner = await server.asgi.websocket("/_flash_ws/ws", {"Origin": server.url, **cookie["mine"]})
    await owner.send(encode_message([Hello()]))
    token = json.loads(await owner.recv())[0]["session"]
    await owner.send('[{"t":"start","run":1,"cb":"tests.apps.basic.endless","args":["x"]}]')
    await owner.recv()  # the run streams
    thief = await server.asgi.websocket("/_flash_ws/ws", {"Origin": server.url, **cookie["theirs"]})
    await thief.send(encode_message([Hello(token, 1)]))
    welcome = json.loads(await thief.recv())[0]
    await thief.close()
    assert welcome["resumed"] is False and welcome["session"].split(".")[0] != token.split(".")[0]
    for who, status in (("theirs", 404), ("mine", 204)):
        answer = await server.asgi.request("POST", "/_flash_ws/post", b'[{"t":"ack","seq":1}]',
                                           {"Content-Type": "application/json", "Origin": server.url,
                                            "X-Flash-Ws-Session": token, **cookie[who]})
        assert answer.status == status, who
    updates = 0
    while updates < 300:  # the owner's stream goes on (longer than anything buffered before): 3 s of ticks
        frames = json.loads(await owner.recv())
        updates += sum(frame["t"] == "update" and frame["run"] == 1 for frame in frames)
    assert server.events().get("endless finally") is None  # the run was never cancelled
    await owner.close()
