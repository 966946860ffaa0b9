"""The fallback's POST route refuses what it must, with a 4xx and a JSON reason."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request

import pytest

from flash_ws.client import FlashWsClient
from flash_ws.client_links import SseLink
from tests.conftest import TIMEOUT, eventually

APP = "tests.apps.basic"


def post(server, body: bytes, headers: dict[str, str]) -> tuple[int, dict]:
    request = urllib.request.Request(server.url + "/_flash_ws/post", data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, {}
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.fixture
def server(serve):
    return serve(f"{APP}:server")


@pytest.mark.parametrize("headers, status, code, says", [
    ({"Content-Type": "application/json"}, 400, "unknown_session", "X-Flash-Ws-Session"),
    ({"Content-Type": "application/json", "X-Flash-Ws-Session": "guessed"}, 404, "unknown_session", "no such session"),
    ({"Content-Type": "text/plain", "X-Flash-Ws-Session": "guessed"}, 415, "bad_frame", "application/json"),
    ({"Content-Type": "application/json", "Origin": "http://evil.example"}, 403, "origin", "not allowed"),
])
def test_bad_posts_are_refused_with_a_reason(server, headers, status, code, says):
    headers = {"Origin": server.url, **headers}
    got_status, reason = post(server, b'[{"t":"ack","seq":0}]', headers)
    assert (got_status, reason["code"]) == (status, code) and says in reason["message"]


async def test_a_session_opened_on_the_websocket_resumes_over_sse(serve):
    server = serve(f"{APP}:server", FLASH_WS_TEST_GRACE="10")
    async with FlashWsClient.connect(server.url, transport="websocket") as client:
        run = await client.start(f"{APP}.paced", [600])
        seen: list[int] = []

        async def consume() -> None:
            async for effect in run:
                if hasattr(effect, "props"):
                    seen.extend(pair[1]["children"] for pair in effect.props)

        consumer = asyncio.get_running_loop().create_task(consume())
        await eventually(lambda: len(seen) >= 100, what="100 updates over the WebSocket")
        session = client.session.session
        client.link_class = SseLink  # the next connection is an event stream, as after a fallback
        await client.drop()
        await asyncio.wait_for(consumer, TIMEOUT)
        assert seen == list(range(600)) and client.session.session == session and client.lost == []
