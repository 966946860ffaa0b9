"""The reference client's goodbye over SSE + POST: ``close(bye=True)`` posts the bye even after a
POST failed (the link's uplink is lost, and it posts nothing else), so the server ends the session
at once instead of waiting out its resume grace; the bye goes out once, failure or not.

The app in-process (tests/inprocess.py), its POSTs through a "proxy" that answers one POST 502
without passing it on, as a proxy that lost its upstream for a moment does."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from flash_ws.client import FlashWsClient
from tests.asgi_links import AsgiSseLink, AsgiTransport, asgi_links
from tests.conftest import TIMEOUT, eventually

APP = "tests.apps.basic"


class FlakyProxy:
    """The client's SSE links, their POSTs going through ``_FlakyTransport``: after ``fail_next()``
    the next POST is answered 502 and never reaches the app. ``byes`` counts the bye frames that
    reached it."""

    def __init__(self, server) -> None:
        self.server = server
        self.failing = False
        self.failed = 0
        self.byes = 0

    def fail_next(self) -> None:
        self.failing = True

    def links(self):
        proxy = self

        class Link(AsgiSseLink):
            def http_client(self) -> httpx.AsyncClient:
                return httpx.AsyncClient(transport=_FlakyTransport(proxy, self.asgi), timeout=10.0)

        return {**asgi_links(self.server.asgi), "sse": lambda *args, **kwargs: Link(self.server.asgi, *args, **kwargs)}


class _FlakyTransport(AsgiTransport):
    def __init__(self, proxy: FlakyProxy, asgi) -> None:
        super().__init__(asgi)
        self.proxy = proxy

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            if self.proxy.failing:
                self.proxy.failing = False
                self.proxy.failed += 1
                return httpx.Response(502, text="Bad Gateway", request=request)
            body = json.loads(await request.aread())
            self.proxy.byes += sum(frame.get("t") == "bye" for frame in body)
        return await super().handle_async_request(request)


@pytest.mark.parametrize("post_failed", [True, False])
async def test_the_bye_goes_out_once_and_ends_the_session_before_the_grace(serve_in_process, post_failed):
    """After a failed POST the link posts nothing more, yet the bye still goes (it once was dropped:
    the session then lived on for its whole resume grace)."""
    server = await serve_in_process(f"{APP}:server", FLASH_WS_TEST_GRACE="60")  # only the bye ends it in time
    proxy = FlakyProxy(server)
    before = server.events().get("endless finally", 0)
    # a long uplink_lost_wait: the link stays open after the failed POST until close()
    client = await FlashWsClient.connect(server.url + "/", transport="sse", links=proxy.links(), uplink_lost_wait=3600)
    run = await client.start(f"{APP}.endless", ["x"])
    await asyncio.wait_for(run.queue.get(), TIMEOUT)
    link = client._link
    if post_failed:
        proxy.fail_next()  # the next POST (an ack of the endless run's updates) is answered 502
        await eventually(lambda: link.uplink_lost is not None, what="the failed POST")
        assert proxy.failed == 1
    await client.close(bye=True)
    await eventually(lambda: server.events().get("endless finally", 0) == before + 1,
                     what="the run cancelled by the bye, long before the 60 s grace")
    await eventually(lambda: "page_left" in server.output(), what="the session ended as page_left")
    assert proxy.byes == 1




async def test_a_bye_on_a_link_already_closed_is_refused_as_link_closed(serve_in_process):
    """The link's HTTP client closed while the client still held the link (in CI24 a worker's
    shutdown ended the stream just before ``close``): the bye has nothing to post on. The link says
    ``LinkClosed``, which ``close(bye=True)`` gives up quietly, where the POST raised httpx's "the
    client has been closed" RuntimeError out of ``close``."""
    from flash_ws.client_links import LinkClosed
    from flash_ws.protocol import encode_message
    from flash_ws.protocol.frames import Bye

    server = await serve_in_process(f"{APP}:server")
    proxy = FlakyProxy(server)
    client = await FlashWsClient.connect(server.url + "/", transport="sse", links=proxy.links(), reconnect=False)
    link = client._link
    try:
        await link._http.aclose()  # what the link's own close does, here with the client still holding it
        with pytest.raises(LinkClosed):
            await link.send_last(encode_message([Bye()]), TIMEOUT)
        assert proxy.byes == 0
    finally:
        await client.close(bye=False)
