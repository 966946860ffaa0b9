"""The store's batch on a real redis-server: one append call per batch carries every session's new
frames in a single JSON argument, and Redis holds each frame's text exactly as the worker sent it."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from flash_ws.protocol import Hello, Limits
from flash_ws.protocol.tokens import binding
from flash_ws.server import redis_keys as keys
from flash_ws.server.redis_owned import OwnedSession
from flash_ws.server.redis_store import RedisSessionStore
from tests.conftest import eventually

# Props a frame may carry: escapes, non-ASCII, a character outside the BMP, NUL, and a large one.
TEXTS = ['[["x",{"s":"quote \\" backslash \\\\ newline \\n"}]]', '[["x",{"s":"é ☃ 𝄞 日本"}]]',
         '[["x",{"s":"nul \\u0000 end"}]]', '[["x",{"s":"' + "y" * 100_000 + '"}]]']


@pytest.fixture
async def store(redis_server):
    made = RedisSessionStore(redis_server.url, {"cb"}, Limits(), 30.0, 5.0, lambda live: None, lambda live, text: None)
    await made.start()
    yield made
    await made.stop()


def _spy_on_pipelines(store: RedisSessionStore) -> list[tuple[Any, ...]]:
    """The commands of every pipeline the store's recorder executes, in order."""
    sent: list[tuple[Any, ...]] = []
    make = store.recorder.redis.pipeline

    def pipeline(*args: Any, **kwargs: Any) -> Any:
        pipe = make(*args, **kwargs)
        execute = pipe.execute

        async def recorded(*exec_args: Any, **exec_kwargs: Any) -> Any:
            sent.extend(command for command, _options in pipe.command_stack)
            return await execute(*exec_args, **exec_kwargs)

        pipe.execute = recorded
        return pipe

    store.recorder.redis.pipeline = pipeline  # type: ignore[method-assign]
    return sent


async def _sessions_with_a_run(store: RedisSessionStore, count: int) -> list[OwnedSession]:
    made = []
    for index in range(count):
        live, _ = await store.open(Hello(None, 0), binding(f"key{index}"), "10.0.0.1")
        assert isinstance(live, OwnedSession)
        live.core.receive_message('[{"t":"start","run":1,"cb":"cb","args":[]}]')
        made.append(live)
    return made


async def test_one_call_carries_a_batch_of_sessions_in_one_argument(store):
    sessions = await _sessions_with_a_run(store, 3)
    await eventually(lambda: all(live.is_stored() for live in sessions), what="the new sessions stored")
    sent = _spy_on_pipelines(store)
    for live in sessions:  # in one loop turn: one batch
        assert live.emit(1, '[["x",{"n":1}]]') and live.emit(1, '[["x",{"n":2}]]')
    await eventually(lambda: all(live.stored_seq == 2 for live in sessions), what="the updates stored")
    appends = [command for command in sent if command[:2] == ("EVALSHA", store.recorder._append.sha)]
    assert len(appends) == 1
    _evalsha, _sha, key_count, *rest = appends[0]
    assert key_count == 6
    assert rest[:6] == [name for live in sessions for name in (keys.meta(live.sid), keys.frames(live.sid))]
    assert len(rest) == 6 + 2  # the owner, then the whole batch in one argument


async def test_redis_holds_every_frame_exactly_as_the_worker_encoded_it(store, redis_server):
    (live,) = await _sessions_with_a_run(store, 1)
    for text in TEXTS:
        assert live.emit(1, text)
    await eventually(lambda: live.stored_seq == len(TEXTS), what="the updates stored")
    direct = redis.Redis.from_url(redis_server.url, decode_responses=True)
    try:
        held = [(int(entry_id.split("-")[0]), fields["f"]) for entry_id, fields in direct.xrange(keys.frames(live.sid))]
        assert held == live.core.replay.after(0)
        assert direct.hget(keys.meta(live.sid), "last_seq") == str(len(TEXTS))
        assert direct.hget(keys.meta(live.sid), "runs") == '{"1": "cb"}'
    finally:
        direct.close()
