"""Resume after dropped connections, and the honest failure when resuming is impossible.

Both on a real hypercorn: one test per worker class (only a real server runs its event loop, uvloop
too, under the streams it cuts), and one that restarts the server's process. The in-process layer
(tests/inprocess.py) resumes a session from the WebSocket over SSE in tests/test_post.py."""

from __future__ import annotations

import asyncio

import pytest

from flash_ws.client import FlashWsClient
from tests.conftest import TIMEOUT, eventually

APP = "tests.apps.basic"


@pytest.fixture(params=["websocket", "sse"])
def transport(request) -> str:
    return request.param


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])  # uvloop: hypercorn -k uvloop, as README recommends
async def test_drops_mid_stream_lose_duplicate_and_reorder_nothing(serve, transport, loop):
    """Real hypercorn, once per worker class: only a real server runs the event loop hypercorn's
    --worker-class chose (uvloop, as the README recommends) under the connections being cut."""
    server = serve(f"{APP}:server", args=("--worker-class", loop), FLASH_WS_TEST_GRACE="10")
    assert loop in server.get_json("/test/loop")["loop"]
    async with FlashWsClient.connect(server.url, transport=transport) as client:
        run = await client.start(f"{APP}.paced", [1500])
        seen: list[int] = []

        async def consume() -> None:
            async for effect in run:
                if hasattr(effect, "props"):
                    seen.extend(pair[1]["children"] for pair in effect.props)

        consumer = asyncio.get_running_loop().create_task(consume())
        for drops in range(1, 4):
            target = drops * 350
            await eventually(lambda target=target: len(seen) >= target, what=f"{target} updates")
            await client.drop()
        await asyncio.wait_for(consumer, TIMEOUT)
        assert seen == list(range(1500))
        assert run.ended.reason == "done"
        assert client.connections >= 4 and len(client.reconnect_times) >= 3
        assert client.lost == []


async def test_a_restarted_server_tells_the_page_its_runs_are_lost(serve, transport):
    """Real hypercorn: only a real process, stopped and started again on the same address, loses its
    sessions with its memory while the page keeps reconnecting to the same URL."""
    server = serve(f"{APP}:server")
    async with FlashWsClient.connect(server.url, transport=transport) as client:
        run = await client.start(f"{APP}.endless", ["x"])
        await asyncio.wait_for(run.queue.get(), TIMEOUT)
        old_session = client.session.session
        # a crash: nothing drains and tells the page first (a SIGTERM would end the run as worker_shutdown)
        await asyncio.get_running_loop().run_in_executor(None, lambda: server.restart(crash=True))
        await eventually(lambda: run.ended, what="the run to be declared lost")
        assert (run.ended.reason, run.ended.reset) == ("lost", True)  # the page applies reset_props
        assert client.session.session != old_session and len(client.lost) == 1
        again = await client.start(f"{APP}.count", [5, None])  # and it can start again
        pairs, end = await asyncio.wait_for(again.collect(), TIMEOUT)
        assert len(pairs) == 5 and end.reason == "done"
