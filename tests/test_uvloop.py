"""flash_ws under hypercorn's uvloop worker class (``hypercorn -k uvloop``, which README's
operations section recommends and the scale benchmark measures): runs stream side by side in
order, a cancel closes its generator, and dropped connections resume exactly, on both transports."""

from __future__ import annotations

import asyncio

import pytest

from flash_ws.client import FlashWsClient
from tests.conftest import TIMEOUT, eventually

APP = "tests.apps.basic"
UVLOOP = ("--worker-class", "uvloop")


@pytest.fixture(params=["websocket", "sse"])
def transport(request) -> str:
    return request.param


@pytest.fixture
def server(serve):
    server = serve(f"{APP}:server", args=UVLOOP, FLASH_WS_TEST_GRACE="10")
    assert "uvloop" in server.get_json("/test/loop")["loop"]
    return server


async def test_runs_stream_side_by_side_and_a_cancel_closes_its_generator(server, transport):
    async with FlashWsClient.connect(server.url, transport=transport) as client:
        count = await client.start(f"{APP}.count", [200, None])
        sync = await client.start(f"{APP}.sync_count", [5])
        endless = await client.start(f"{APP}.endless", ["x"])
        (count_pairs, _), (sync_pairs, _) = await asyncio.wait_for(asyncio.gather(count.collect(), sync.collect()), TIMEOUT)
        assert [p[1]["children"] for p in count_pairs] == list(range(200))
        assert [p[1]["children"] for p in sync_pairs] == [f"sync {i}" for i in range(5)]
        before = server.get_json("/test/events").get("endless finally", 0)
        await client.cancel(endless.run)
        await eventually(lambda: server.get_json("/test/events").get("endless finally", 0) == before + 1,
                         what="the cancelled generator's finally")
        assert client.connections == 1


async def test_drops_mid_stream_lose_duplicate_and_reorder_nothing(server, transport):
    async with FlashWsClient.connect(server.url, transport=transport) as client:
        run = await client.start(f"{APP}.paced", [900])
        seen: list[int] = []

        async def consume() -> None:
            async for effect in run:
                if hasattr(effect, "props"):
                    seen.extend(pair[1]["children"] for pair in effect.props)

        consumer = asyncio.get_running_loop().create_task(consume())
        for drops in range(1, 3):
            await eventually(lambda target=drops * 300: len(seen) >= target, what=f"{drops * 300} updates")
            await client.drop()
        await asyncio.wait_for(consumer, TIMEOUT)
        assert seen == list(range(900))
        assert run.ended.reason == "done"
        assert client.connections >= 3 and client.lost == []
