"""The fallback's POST route refuses what it must, with a 4xx and a JSON reason; a session moves
from the WebSocket to the fallback; a POST that cannot connect leaves the event stream open. In-process
(tests/inprocess.py), but for a body that stops coming and a server that stops listening, which only
a real socket shows."""

from __future__ import annotations

import asyncio
import json
from http.cookiejar import CookieJar as BlockingJar
from http.cookiejar import DefaultCookiePolicy

import httpx
import pytest

from flash_ws.client import LINKS, FlashWsClient
from flash_ws.client_links import SseLink
from tests.conftest import TIMEOUT, eventually, free_port

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


class StopsListening:
    """The server as one client's links see it: after ``stop()`` every new request (a POST, a new
    event stream) goes to a port nobody listens on and fails to connect, while the event stream
    already open goes on: a server draining (hypercorn stops listening at once, and its open streams
    still carry the runs' ends). ``failed`` lists the methods of the requests that failed so."""

    def __init__(self) -> None:
        self.listening = True
        self.dead_port = free_port()
        self.failed: list[str] = []

    def stop(self) -> None:
        self.listening = False

    def link(self, *args, **kwargs) -> SseLink:
        server = self

        class Link(SseLink):
            def http_client(self) -> httpx.AsyncClient:
                return httpx.AsyncClient(transport=_Stoppable(server), timeout=10.0, trust_env=False,
                                         cookies=BlockingJar(DefaultCookiePolicy(allowed_domains=[])))

        return Link(*args, **kwargs)


class _Stoppable(httpx.AsyncBaseTransport):
    def __init__(self, server: StopsListening) -> None:
        self.server = server
        self.inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not self.server.listening:
            request.url = request.url.copy_with(port=self.server.dead_port)
            try:
                return await self.inner.handle_async_request(request)
            except httpx.TransportError:
                self.server.failed.append(request.method)
                raise
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_a_post_that_cannot_connect_leaves_the_event_stream_open_and_the_run_end_comes_on_it(serve):
    """Real hypercorn: a page's POST (the ack that falls due while its run streams) fails to connect
    while its event stream goes on, as during a drain. The stream is kept and read: the rest of the
    run and its end come on it (reconnecting is impossible here: every new request fails)."""
    app = "tests.apps.operated"
    server = serve(f"{app}:server")
    stops = StopsListening()
    client = await FlashWsClient.connect(server.url, transport="sse", links={**LINKS, "sse": stops.link})
    try:
        run = await client.start(f"{app}.held", [1])
        await eventually(lambda: server.get_json("/test/events").get("held waiting"), what="the held run")
        await eventually(lambda: client.session.applied_seq >= 1, what="the held run's first update")
        stops.stop()
        await eventually(lambda: "POST" in stops.failed, what="a POST (the ack falls due) that fails to connect")
        server.post("/test/open/held")
        pairs, ended = await asyncio.wait_for(run.collect(), TIMEOUT)
        assert ended.reason == "done" and pairs == [["held-out", {"children": "held"}], ["held-out", {"children": "released"}]]
        assert client.connections == 1 and stops.failed.count("GET") == 0, "the first event stream carried it all"
    finally:
        await client.close(bye=False)
