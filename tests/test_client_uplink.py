"""What the reference client sends, and when, against scripted servers on loopback: acks by count
as messages come and by time (``ack_interval``) when none comes; over SSE + POST, the messages
that gathered while a POST was out go together in the next one.

Scripted servers on loopback, not the app: only they send updates in batches of a chosen size and
hold a POST unanswered; the client's own links (websockets, httpx) carry its acks and POSTs."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from websockets.asyncio.server import ServerConnection, serve

from flash_ws.client import FlashWsClient
from flash_ws.client_links import LinkClosed, SseLink
from tests.conftest import eventually
from tests.fake_http import FakeHttp, open_event_stream

WELCOME = [{"t": "welcome", "v": 1, "session": "tok", "epoch": "e", "resumed": False, "seq": 0, "run": 0}]


def _updates(first: int, count: int, run: int) -> str:
    return json.dumps([{"t": "update", "seq": seq, "run": run, "props": [["out", {"children": seq}]]}
                       for seq in range(first, first + count)])


class UpdatingServer:
    """Welcomes the client, answers its first start with ``batches`` (messages of that many
    updates), then only listens; ``received`` holds every frame the client sent."""

    def __init__(self, batches: list[int]) -> None:
        self.batches = batches
        self.received: list[dict[str, Any]] = []
        self.connections = 0

    async def _serve(self, ws: ServerConnection) -> None:
        self.connections += 1
        async for message in ws:
            for frame in json.loads(message):
                self.received.append(frame)
                if frame["t"] == "hello":
                    await ws.send(json.dumps(WELCOME))
                elif frame["t"] == "start":
                    seq = 1
                    for count in self.batches:
                        await ws.send(_updates(seq, count, frame["run"]))
                        seq += count

    def acks(self) -> list[int]:
        return [frame["seq"] for frame in self.received if frame["t"] == "ack"]

    def serve(self):
        return serve(self._serve, "127.0.0.1", 0)


def _url(ws_server: Any) -> str:
    return f"http://127.0.0.1:{ws_server.sockets[0].getsockname()[1]}/"


async def test_a_lone_update_is_acked_once_its_interval_is_over() -> None:
    server = UpdatingServer([1])
    async with server.serve() as ws_server, FlashWsClient.connect(_url(ws_server), ack_interval=0.05) as client:
        run = await client.start("app.cb", [])
        await eventually(lambda: run.queue.qsize() == 1, what="the update")
        await eventually(lambda: server.acks() == [1], what="the ack of the lone update")
        assert server.connections == 1  # receiving went on: nothing was cut or reopened


async def test_a_message_of_many_updates_is_acked_by_count_and_comes_as_one_apply() -> None:
    server = UpdatingServer([100])
    async with server.serve() as ws_server, FlashWsClient.connect(_url(ws_server), ack_interval=3600) as client:
        run = await client.start("app.cb", [])
        await eventually(lambda: server.acks() == [100], what="the ack of the whole message")
        apply = run.queue.get_nowait()
        assert [pair[1]["children"] for pair in apply.props] == list(range(1, 101))
        assert run.queue.empty()


class HeldPosts(FakeHttp):
    """An event stream that welcomes, and a POST route that records each body and answers the
    first POST only once ``release`` is set (204 for every POST)."""

    def __init__(self) -> None:
        super().__init__()
        self.bodies: list[list[dict[str, Any]]] = []
        self.release = asyncio.Event()

    async def answer(self, method: str, headers: dict[str, str], body: bytes,
                     reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        if method == "GET":
            return await open_event_stream(reader, writer, json.dumps(WELCOME))
        self.bodies.append(json.loads(body))
        if len(self.bodies) == 1:
            await self.release.wait()
        writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
        await writer.drain()
        return True

async def test_messages_queued_while_a_post_is_out_go_in_the_next_post_in_order() -> None:
    http = HeldPosts()
    async with http as url, FlashWsClient.connect(url, transport="sse") as client:
        await client.start("app.a", [])
        await eventually(lambda: len(http.bodies) == 1, what="the first POST")
        await client.start("app.b", [])
        await client.cancel(1)
        http.release.set()
        await eventually(lambda: len(http.bodies) == 2, what="the second POST")

        assert [[frame["t"] for frame in body] for body in http.bodies] == [["start"], ["start", "cancel"]]
        assert (http.bodies[1][0]["cb"], http.bodies[1][1]["run"]) == ("app.b", 1)


async def test_a_post_whose_link_closes_during_its_first_attempt_fails_as_link_closed() -> None:
    """The first attempt fails (a server shutting down drops the kept connection) and the link's HTTP
    client closes meanwhile (the event stream ended): the retry raises LinkClosed, which close() and
    the sender handle, not httpx's RuntimeError for a closed client (seen from close() in CI29)."""
    link = SseLink("http://127.0.0.1:9/_flash_ws/", "http://127.0.0.1:9")
    attempts = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal attempts
        attempts += 1
        assert link._http is not None
        await link._http.aclose()  # what the link's close does when the stream ends
        raise httpx.ReadError("connection dropped", request=request)

    link.session = "tok"
    link._http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    with pytest.raises(LinkClosed, match="the link is closed"):
        await link.send_last('[{"t":"bye"}]', 5)
    assert attempts == 1
