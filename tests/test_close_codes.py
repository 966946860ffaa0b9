"""The close-code table (tests/vectors/close_codes.json, shared with client/test/close_codes.test.js)
and what the Python reference client does for each action, against scripted servers on loopback:
a WebSocket server that closes with the code under test, an HTTP server that answers the POST
under test. Both set the ``flash_ws_key`` cookie when a request lacks it, as the server will.

Scripted servers on loopback, not the app: only they close with any code of the table or answer a
POST with any status; the client's own links (websockets, httpx) read them off real connections."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve

from flash_ws.client import FlashWsClient
from flash_ws.client_links import UPLINK_LOST_WAIT, LinkClosed, PostRefused, SseLink
from flash_ws.protocol.close_codes import CloseAction, CloseCode, http_action, websocket_action
from tests.conftest import eventually
from tests.fake_http import FakeHttp, open_event_stream

TABLE = json.loads((Path(__file__).parent / "vectors" / "close_codes.json").read_text(encoding="utf-8"))
COOKIE = "flash_ws_key=k1; HttpOnly; SameSite=Strict; Path=/_flash_ws/"


# ----- the table


@pytest.mark.parametrize("row", TABLE["websocket"], ids=[f"{row['code']} {row['name']}" for row in TABLE["websocket"]])
def test_every_named_code_has_its_member_and_action(row: dict) -> None:
    assert CloseCode[row["name"]] == row["code"]
    assert websocket_action(row["code"]) == CloseAction(row["action"])


def test_the_enum_names_exactly_the_codes_of_the_table() -> None:
    assert {code.name for code in CloseCode} == {row["name"] for row in TABLE["websocket"]}
    assert {action.value for action in CloseAction} == set(TABLE["actions"])


@pytest.mark.parametrize("span", TABLE["websocket_ranges"], ids=[f"{r['from']}-{r['to']}" for r in TABLE["websocket_ranges"]])
def test_codes_outside_the_table_take_the_action_of_their_range(span: dict) -> None:
    named = {row["code"] for row in TABLE["websocket"]}
    for code in range(span["from"], span["to"] + 1):
        if code not in named:
            assert websocket_action(code) == CloseAction(span["action"]), code


@pytest.mark.parametrize("row", TABLE["http"], ids=[f"{r['route']} {r['status']} {r['code']}" for r in TABLE["http"]])
def test_every_http_answer_has_its_action(row: dict) -> None:
    assert http_action(row["route"], row["status"], row["code"]) == CloseAction(row["action"])


# ----- a scripted WebSocket server


def _welcome(resumed: bool, run: int) -> str:
    return json.dumps([{"t": "welcome", "v": 1, "session": "tok", "epoch": "e", "resumed": resumed, "seq": 0, "run": run}])


class ClosingServer:
    """Welcomes every connection; closes the first one with ``code`` once it has received a start
    (or, ``at_hello``, instead of welcoming it)."""

    def __init__(self, code: int, at_hello: bool = False) -> None:
        self.code, self.at_hello = code, at_hello
        self.hellos: list[dict[str, Any]] = []
        self.cookies: list[str | None] = []  # the Cookie header of each handshake
        self.highest_run = 0

    def _set_cookie(self, connection: ServerConnection, request: Any, response: Any) -> None:
        if "Cookie" not in request.headers:
            response.headers["Set-Cookie"] = COOKIE

    async def _serve(self, ws: ServerConnection) -> None:
        first = not self.hellos
        self.cookies.append(ws.request.headers.get("Cookie"))
        self.hellos.append(json.loads(await ws.recv())[0])
        if self.at_hello:
            await ws.close(self.code, "scripted refusal")
            return
        await ws.send(_welcome(resumed=not first, run=self.highest_run))
        async for message in ws:
            for frame in json.loads(message):
                if frame["t"] == "start":
                    self.highest_run = max(self.highest_run, frame["run"])
                    if first:
                        await ws.close(self.code, "scripted close")
                        return

    def serve(self):
        return serve(self._serve, "127.0.0.1", 0, process_response=self._set_cookie)


async def _client_closed_with(code: int) -> tuple[ClosingServer, FlashWsClient, Any]:
    """A client that started a run on a server which then closed its connection with ``code``."""
    server = ClosingServer(code)
    async with server.serve() as ws_server:
        port = ws_server.sockets[0].getsockname()[1]
        client = await FlashWsClient.connect(f"http://127.0.0.1:{port}/")
        handle = await client.start("app.cb", [])
        await eventually(lambda: len(server.hellos) == 2 or client._task.done(), what="a reconnection or a stop")
        await client.close()
    return server, client, handle


@pytest.mark.parametrize("code", [CloseCode.HEARTBEAT_TIMEOUT, CloseCode.REPLACED, CloseCode.RECONNECT, CloseCode.NORMAL])
async def test_a_resuming_close_reconnects_to_the_same_session(code: int) -> None:
    server, client, handle = await _client_closed_with(code)

    assert [hello["session"] for hello in server.hellos] == [None, "tok"]
    assert server.hellos[1]["seq"] == 0
    assert client.refusal is None and handle.ended is None  # the run goes on


@pytest.mark.parametrize("code", [CloseCode.REJECTED, CloseCode.FORBIDDEN_ORIGIN, CloseCode.POLICY, 4321])
async def test_a_refusal_stops_the_client_and_ends_its_runs_as_refused(code: int) -> None:
    server, client, handle = await _client_closed_with(code)

    assert len(server.hellos) == 1  # it stopped: no reconnection
    assert client.refusal is not None and str(code) in str(client.refusal)
    assert handle.ended is not None and (handle.ended.reason, handle.ended.reset) == ("refused", True)


@pytest.mark.parametrize("transport", ["websocket", "auto"])
async def test_a_refused_first_connection_makes_connect_raise_without_trying_sse(transport: str) -> None:
    server = ClosingServer(CloseCode.UNSUPPORTED_VERSION, at_hello=True)
    async with server.serve() as ws_server:
        port = ws_server.sockets[0].getsockname()[1]
        with pytest.raises(LinkClosed) as refused:
            await FlashWsClient.connect(f"http://127.0.0.1:{port}/", transport=transport)

    assert refused.value.action is CloseAction.GIVE_UP and "4400" in str(refused.value)
    assert len(server.hellos) == 1


async def test_the_cookie_of_the_handshake_is_sent_on_the_next_one() -> None:
    server, _client, _handle = await _client_closed_with(CloseCode.HEARTBEAT_TIMEOUT)

    assert server.cookies == [None, "flash_ws_key=k1"]


# ----- a scripted HTTP server: the event stream and the POSTs


class ScriptedHttp(FakeHttp):
    """Serves ``GET .../sse`` (a welcome, then an open stream, until ``end_streams``) and answers
    each POST with the next of ``answers`` ((status, JSON body or None); 204 once they run out;
    status None: the connection closes, no answer)."""

    def __init__(self, answers: list[tuple[int | None, dict[str, str] | None]]) -> None:
        super().__init__()
        self.answers = answers
        self.requests: list[tuple[str, dict[str, str]]] = []  # (method, headers), in order
        self._streams: list[asyncio.StreamWriter] = []

    def send_event(self, message: str) -> None:
        """One event on every open event stream."""
        event = f"data: {message}\n\n".encode()
        for writer in self._streams:
            if not writer.is_closing():
                writer.write(f"{len(event):x}\r\n".encode() + event + b"\r\n")

    def end_streams(self) -> None:
        """End the open event streams (their last chunk), as a server does."""
        for writer in self._streams:
            if not writer.is_closing():
                writer.write(b"0\r\n\r\n")
                writer.close()

    @property
    def streams(self) -> int:
        return sum(method == "GET" for method, _ in self.requests)

    async def answer(self, method: str, headers: dict[str, str], body: bytes,
                     reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        self.requests.append((method, headers))
        cookie = "" if "cookie" in headers else f"Set-Cookie: {COOKIE}\r\n"
        if method == "GET":
            self._streams.append(writer)
            return await open_event_stream(reader, writer, _welcome(resumed=self.streams > 1, run=0), cookie)
        status, answer = self.answers.pop(0) if self.answers else (204, None)
        if status is None:
            return False  # no answer: the connection closes (the network failed)
        reply = json.dumps(answer).encode() if answer else b""
        writer.write(f"HTTP/1.1 {status} Scripted\r\nContent-Length: {len(reply)}\r\n{cookie}\r\n".encode() + reply)
        await writer.drain()
        return True

async def test_a_post_answered_404_without_unknown_session_is_a_refused_message_only() -> None:
    http = ScriptedHttp([(404, {"code": "not_found", "message": "no such route"})])
    async with http as url, FlashWsClient.connect(url, transport="sse") as client:
        with pytest.raises(PostRefused) as refused:
            await client.send_raw('[{"t":"ack","seq":0}]')
        assert (refused.value.status, refused.value.code) == (404, "not_found")
        await client.send_raw('[{"t":"ack","seq":0}]')  # the connection goes on
        assert http.streams == 1


@pytest.mark.parametrize("status, code", [(404, "unknown_session"), (503, "store_unavailable"), (429, None)])
async def test_a_post_that_means_resume_reconnects(status: int, code: str | None) -> None:
    """The POST's answer ends the uplink, not the event stream (it may still carry frames): the
    client reads it until it ends, then reconnects."""
    http = ScriptedHttp([(status, {"code": code, "message": "later"} if code else None)])
    async with http as url, FlashWsClient.connect(url, transport="sse") as client:
        await client.start("app.cb", [])
        link = client._link
        await eventually(lambda: link.uplink_lost is not None, what="the POST's answer")
        assert (client._link, http.streams) == (link, 1), "the event stream is kept"
        http.end_streams()
        await eventually(lambda: http.streams == 2, what="a second event stream")
        assert client.refusal is None


def test_the_wait_after_a_failed_post_is_the_tables() -> None:
    """tests/vectors/close_codes.json, uplink_lost_wait_s (client/test/sse_transport.test.js checks the page's)."""
    assert UPLINK_LOST_WAIT == TABLE["uplink_lost_wait_s"]
    assert SseLink("http://h/_flash_ws/", "http://h").uplink_lost_wait == UPLINK_LOST_WAIT
    assert FlashWsClient("http://h/", transport="sse").uplink_lost_wait == UPLINK_LOST_WAIT


@pytest.mark.parametrize("status, code", [(None, None), (503, "store_unavailable"), (429, None)])
async def test_a_post_that_means_resume_on_a_stream_that_stays_open_reconnects_after_the_wait(status: int | None, code: str | None) -> None:
    """The POST failed but the event stream is healthy and quiet: the client does not wait for the
    server's heartbeat timeout without an uplink; after ``uplink_lost_wait`` it closes the stream
    and resumes (tests/vectors/close_codes.json, post_failures_rule)."""
    answer = (status, {"code": code, "message": "later"} if code else None)
    http = ScriptedHttp([answer] * (2 if status is None else 1))  # no answer: the client tries once more
    async with http as url, FlashWsClient.connect(url, transport="sse", uplink_lost_wait=0.2) as client:
        link = client._link
        assert isinstance(link, SseLink) and link.uplink_lost_wait == 0.2
        await client.start("app.cb", [])
        await eventually(lambda: http.streams == 2, what="the resume, though the first stream never ended")
        await eventually(lambda: client._link is not None and client._link is not link and client.session.connected,
                         what="the new link's welcome")
        assert link.uplink_lost is not None and link.uplink_lost.action is CloseAction.RESUME
        assert client.refusal is None


@pytest.mark.parametrize("status", [401, 403])
async def test_a_post_answered_401_or_403_stops_the_client(status: int) -> None:
    http = ScriptedHttp([(status, {"code": "rejected", "message": "log in first"})])
    async with http as url:
        client = await FlashWsClient.connect(url, transport="sse")
        handle = await client.start("app.cb", [])
        await eventually(lambda: client._task.done(), what="the client to stop")
        assert http.streams == 1
        assert handle.ended is not None and handle.ended.reason == "refused"
        assert "log in first" in str(client.refusal)
        await client.close()


async def test_the_cookie_of_the_event_stream_goes_with_every_post_and_the_next_stream() -> None:
    http = ScriptedHttp([(503, None)])
    async with http as url, FlashWsClient.connect(url, transport="sse") as client:
        await client.start("app.cb", [])  # answered 503: the client opens a new stream once this one ends
        link = client._link
        await eventually(lambda: link.uplink_lost is not None, what="the POST's answer")
        http.end_streams()
        await eventually(lambda: http.streams == 2, what="a second event stream")
        await client.send_raw('[{"t":"ack","seq":0}]')

    cookies = [(method, headers.get("cookie")) for method, headers in http.requests]
    assert cookies[0] == ("GET", None)
    assert cookies[1:] == [(method, "flash_ws_key=k1") for method, _ in http.requests[1:]]
    assert [method for method, _ in http.requests].count("POST") >= 2


@pytest.mark.parametrize("row", TABLE["post_failures"], ids=[row["name"] for row in TABLE["post_failures"]])
async def test_what_a_posts_outcome_does_to_its_connection(row: dict) -> None:
    """tests/vectors/close_codes.json, post_failures (shared with client/test/sse_transport.test.js)."""
    answer = (row["status"], {"code": row["code"], "message": "m"} if row["code"] else None)
    http = ScriptedHttp([answer, answer])  # no answer: the client tries once more, on a new connection
    async with http as url:
        client = await FlashWsClient.connect(url, transport="sse")
        try:
            link = client._link
            handle = await client.start("app.cb", [])
            posts = lambda: sum(method == "POST" for method, _ in http.requests)  # noqa: E731
            if row["after"] == "closed":
                await eventually(lambda: client._task.done(), what="the client to stop")
                assert client.refusal is not None and client.refusal.action is CloseAction(row["action"])
                assert http.streams == 1
                return
            if row["after"] == "posting":
                await eventually(lambda: link.refused, what="the refusal of the start's POST")
                with pytest.raises(PostRefused):  # that refusal, raised once the next POST went out
                    await client.send_raw('[{"t":"ack","seq":0}]')
                assert posts() == 2, "the next POST leaves"
                assert (client._link, http.streams) == (link, 1)
                return
            assert row["after"] == "stream_only"
            await eventually(lambda: link.uplink_lost is not None, what="the POST's outcome")
            assert link.uplink_lost.action is CloseAction(row["action"])
            sent = posts()
            http.send_event(json.dumps([{"t": "end", "seq": 1, "run": handle.run, "reason": "error",
                                         "error": {"code": "worker_shutdown", "message": "the worker is shutting down"}}]))
            await eventually(lambda: handle.ended is not None, what="the end that comes on the stream")
            assert handle.ended.error.code == "worker_shutdown"
            await client.send_raw('[{"t":"ack","seq":1}]')
            assert (posts(), client._link, http.streams) == (sent, link, 1), "nothing more is posted; the stream is kept"
            http.end_streams()
            await eventually(lambda: http.streams == 2, what="the resume, once the stream ended")
            assert client.refusal is None
        finally:
            await client.close(bye=False)


# ----- docs/protocol.md shows the same table


def test_the_close_code_tables_of_docs_protocol_md_match_the_vectors() -> None:
    text = (Path(__file__).parent.parent / "docs" / "protocol.md").read_text(encoding="utf-8")
    section = text[text.index("## Close codes"):text.index("## Page config")]
    rows = {line for line in section.splitlines() if line.startswith("| ")}

    for row in TABLE["websocket"]:
        assert f"| {row['code']} | {row['name']} | {row['action']} | {row['when']} |" in rows, row
    for row in TABLE["http"]:
        code = f"`{row['code']}`" if row["code"] else "—"
        assert f"| {row['route']} | {row['status']} | {code} | {row['action']} |" in rows, row
    for action, meaning in TABLE["actions"].items():
        assert f"- `{action}`: {meaning}" in section
