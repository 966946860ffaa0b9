"""The fallback's POST route refuses what it must, with a 4xx and a JSON reason; a session moves
from the WebSocket to the fallback. In-process (tests/inprocess.py), but for a body that stops
coming, which only a real socket shows."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.conftest import TIMEOUT, eventually

APP = "tests.apps.basic"


async def post(server, body: bytes, headers: dict[str, str]) -> tuple[int, dict]:
    response = await server.asgi.request("POST", "/_flash_ws/post", body, headers)
    return response.status, (response.json() if response.status >= 400 else {})


@pytest.fixture
async def server(serve_in_process):
    return await serve_in_process(f"{APP}:server")


@pytest.mark.parametrize("headers, status, code, says", [
    ({"Content-Type": "application/json"}, 400, "unknown_session", "X-Flash-Ws-Session"),
    ({"Content-Type": "application/json", "X-Flash-Ws-Session": "guessed"}, 404, "unknown_session", "no such session"),
    ({"Content-Type": "text/plain", "X-Flash-Ws-Session": "guessed"}, 415, "bad_frame", "application/json"),
    ({"Content-Type": "application/json", "Origin": "http://evil.example"}, 403, "origin", "not allowed"),
])
async def test_bad_posts_are_refused_with_a_reason(server, headers, status, code, says):
    headers = {"Origin": server.url, **headers}
    got_status, reason = await post(server, b'[{"t":"ack","seq":0}]', headers)
    assert (got_status, reason["code"]) == (status, code) and says in reason["message"]


async def test_a_session_opened_on_the_websocket_resumes_over_sse(serve_in_process):
    server = await serve_in_process(f"{APP}:server", FLASH_WS_TEST_GRACE="10")
    async with server.client(transport="websocket") as client:
        run = await client.start(f"{APP}.paced", [600])
        seen: list[int] = []

        async def consume() -> None:
            async for effect in run:
                if hasattr(effect, "props"):
                    seen.extend(pair[1]["children"] for pair in effect.props)

        consumer = asyncio.get_running_loop().create_task(consume())
        await eventually(lambda: len(seen) >= 100, what="100 updates over the WebSocket")
        session = client.session.session
        client.link_class = client.links["sse"]  # the next connection is an event stream, as after a fallback
        await client.drop()
        await asyncio.wait_for(consumer, TIMEOUT)
        assert seen == list(range(600)) and client.session.session == session and client.lost == []


async def test_a_post_whose_body_stalls_is_answered_408_and_its_connection_let_go(serve):
    """Issue 24, item 4. Real hypercorn: only a real socket shows a body that stops coming, and the
    connection closed after the answer."""
    server = serve(f"{APP}:server", FLASH_WS_TEST_BODY_TIMEOUT="1")
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write((f"POST /_flash_ws/post HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nOrigin: {server.url}\r\n"
                  "Content-Type: application/json\r\nX-Flash-Ws-Session: x\r\nContent-Length: 1000000\r\n\r\n[").encode())
    await writer.drain()  # one byte of a million, then nothing
    answer = await asyncio.wait_for(reader.read(), TIMEOUT)  # the whole answer, up to the server's close
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.split()[1] == b"408", answer[:300]
    reason = json.loads(body)
    assert reason["code"] == "body_timeout" and "post_body_timeout" in reason["message"]
    writer.close()
