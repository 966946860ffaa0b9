"""Through a real nginx: a stock proxy_pass (WebSockets blocked, buffering on) and one that passes
WebSockets. The reference client chooses its transport like the browser does (transport="auto").

Real nginx: only the real proxy shows what its configurations do: the stock one refuses the
upgrade and would buffer an event stream the server did not mark, the documented one passes the
upgrade (101 in its access log)."""

from __future__ import annotations

import asyncio

import pytest

from flash_ws.client import FlashWsClient
from tests.conftest import TIMEOUT, free_port
from tests.nginx import STOCK, WEBSOCKETS, Nginx

pytestmark = pytest.mark.proxy
APP = "tests.apps.basic"


@pytest.fixture
def behind(serve):
    """Start the app behind nginx with the given location block; yields the nginx."""
    proxies: list[Nginx] = []

    def start(location: str) -> Nginx:
        port = free_port()
        server = serve(f"{APP}:server", FLASH_WS_TEST_ORIGINS=f"http://127.0.0.1:{port}")
        proxy = Nginx(server.port, location, port)
        proxy.server = server
        proxies.append(proxy)
        return proxy

    yield start
    for proxy in proxies:
        proxy.stop()


async def test_stock_nginx_blocks_the_websocket_and_the_fallback_streams(behind):
    proxy = behind(STOCK)
    async with FlashWsClient.connect(proxy.url, transport="auto") as client:
        assert client.link_class.__name__ == "SseLink" and client.fallback_reason
        run = await client.start(f"{APP}.slow", [1])
        first = await asyncio.wait_for(run.queue.get(), TIMEOUT)
        # the first updates are here while the generator is still producing: nothing was buffered
        # to the end (a loaded machine may send two of them, 0.3 s apart, in one message: a rerun)
        assert first.props[0] == ["out", {"children": 0}] and len(first.props) < 10
        assert "slow done" not in proxy.server.get_json("/test/events")
        pairs, end = await asyncio.wait_for(run.collect(), TIMEOUT)
        assert [p[1]["children"] for p in first.props + pairs] == list(range(10)) and end.reason == "done"
    assert " 101 " not in proxy.access_log()  # no upgrade went through


async def test_stock_nginx_carries_every_semantic_of_the_fallback(behind):
    proxy = behind(STOCK)
    async with FlashWsClient.connect(proxy.url, transport="auto") as client:
        runs = [await client.start(f"{APP}.count", [300, None]), await client.start(f"{APP}.fails", ["x"])]
        endless = await client.start(f"{APP}.endless", ["x"])
        (count_pairs, count_end), (fail_pairs, fail_end) = await asyncio.wait_for(
            asyncio.gather(runs[0].collect(), runs[1].collect()), TIMEOUT)
        assert [p[1]["children"] for p in count_pairs] == list(range(300))
        assert fail_end.error.code == "callback_error" and fail_pairs[-1] == ["out", {"children": "failed: boom"}]
        await client.cancel(endless.run)
        await asyncio.wait_for(endless.collect(), TIMEOUT)
        assert endless.ended.reason == "cancelled"


async def test_nginx_that_forwards_upgrade_keeps_the_websocket(behind):
    proxy = behind(WEBSOCKETS)
    async with FlashWsClient.connect(proxy.url, transport="auto") as client:
        assert client.link_class.__name__ == "WebSocketLink" and client.fallback_reason is None
        run = await client.start(f"{APP}.count", [50, None])
        pairs, _ = await asyncio.wait_for(run.collect(), TIMEOUT)
        assert len(pairs) == 50
    assert " 101 " in proxy.access_log()
