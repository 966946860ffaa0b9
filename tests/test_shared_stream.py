"""The shared event stream (several tabs' sessions on one stream, their messages in one POST):
the wire cases of tests/vectors/shared_stream.json, then the routes, on the app in-process
(tests/inprocess.py): the stream is read as the app writes it, and nothing here depends on a real
socket's timing."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from flash_ws.protocol import Hello
from flash_ws.server.requests import ClientRequest
from flash_ws.server.shared_post import entries_of
from flash_ws.server.shared_stream import lane_closed_event, lane_event, lanes_from_query

VECTORS = json.loads((Path(__file__).parent / "vectors" / "shared_stream.json").read_text(encoding="utf-8"))
APP = "tests.apps.basic"


def _args(query: str) -> ClientRequest:
    return ClientRequest(headers={}, cookies={}, remote_addr="", scheme="http", path="/_flash_ws/shared", query_string=query.encode())


@pytest.mark.parametrize("case", VECTORS["queries"], ids=lambda case: case["name"])
def test_the_server_reads_the_lanes_of_the_query(case: dict) -> None:
    expected = {lane["lane"]: Hello((lane["hello"]["session"] or "").split(".")[0] or None, lane["hello"]["seq"], 1)
                for lane in case["lanes"]}
    assert lanes_from_query(_args(case["query"]), 64) == expected


@pytest.mark.parametrize("case", VECTORS["bad_queries"], ids=lambda case: case["name"])
def test_a_bad_query_is_refused_saying_what_is_wrong(case: dict) -> None:
    with pytest.raises(ValueError, match=re.escape(case["message_contains"])):
        lanes_from_query(_args(case["query"]), 64)


def test_more_lanes_than_max_shared_sessions_are_refused_naming_the_setting() -> None:
    with pytest.raises(ValueError, match=r"3 lanes, over the limit of 2 \(max_shared_sessions\)"):
        lanes_from_query(_args("v=1&lane=1::0&lane=2::0&lane=3::0"), 2)


@pytest.mark.parametrize("case", VECTORS["events"], ids=lambda case: case["name"])
def test_the_server_writes_each_event_as_the_vector_says(case: dict) -> None:
    if "message" in case:
        written = lane_event(case["lane"], case["message"])
    else:
        written = lane_closed_event(case["lane"], case["closed"]["code"], case["closed"]["reason"])
    assert written == f"data: {case['data']}\n\n".encode()


@pytest.mark.parametrize("case", VECTORS["batches"], ids=lambda case: case["name"])
def test_the_server_reads_the_pairs_of_a_batch(case: dict) -> None:
    assert entries_of(case["body"].encode(), 8) == [tuple(pair) for pair in case["pairs"]]


@pytest.mark.parametrize("body, says", [
    (b"{", "not JSON"),
    (b"[]", "non-empty JSON array"),
    (b'[["a.b"]]', "entry 0 is not a [token, message] pair"),
    (b'[["a.b", []], [1, []]]', "entry 1 is not"),
    (b'[["a", []], ["b", []], ["c", []]]', "3 entries, over the limit of 2"),
])
def test_a_bad_batch_is_refused_saying_what_is_wrong(body: bytes, says: str) -> None:
    with pytest.raises(ValueError, match=re.escape(says)):
        entries_of(body, 2)


# ----- the routes, in-process


class SharedStream:
    """A shared event stream of the in-process app, read as it is written."""

    def __init__(self, chunks: AsyncIterator[bytes], cookie: str) -> None:
        self.chunks, self.cookie, self.buffer = chunks, cookie, b""

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, server, query: str, cookie: str = "") -> AsyncIterator[SharedStream]:
        """``async with SharedStream.open(server, query) as stream``; leaving the block hangs up."""
        headers = {"Cookie": cookie} if cookie else {}
        async with server.asgi.stream("GET", f"/_flash_ws/shared?{query}", headers=headers) as (response, chunks):
            assert response.status == 200, response.status
            for set_cookie in response.headers.get_all("set-cookie"):
                cookie = set_cookie.split(";", 1)[0].strip()
            yield cls(chunks, cookie)

    async def _line(self) -> bytes:
        while b"\n" not in self.buffer:
            chunk = await anext(self.chunks, None)  # tests/asgi.py waits TIMEOUT at most for the app
            assert chunk is not None, "the stream ended"
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return line + b"\n"

    async def event(self) -> tuple[int, object]:
        """The next event: (lane, frames) for a message, (lane, {"code", "reason"}) for a lane's end."""
        while True:
            line = await self._line()
            if line.startswith(b"data: "):
                lane, payload = line[6:].decode().rstrip("\n").split(" ", 1)
                return int(lane), json.loads(payload)

    async def frames_until(self, done) -> dict[int, list[dict]]:
        seen: dict[int, list[dict]] = {}
        while not done(seen):
            lane, payload = await self.event()
            seen.setdefault(lane, []).extend(payload if isinstance(payload, list) else [payload])
        return seen


async def _posts(server, body: object, cookie: str, origin: str | None = None) -> tuple[int, dict]:
    headers = {"Content-Type": "application/json", "Origin": origin or server.url, "Cookie": cookie}
    response = await server.asgi.request("POST", "/_flash_ws/posts", json.dumps(body).encode(), headers)
    return response.status, response.json()


def _welcome(frames: list[dict]) -> dict:
    return next(f for f in frames if f.get("t") == "welcome")


def _ended(lane: int):
    return lambda seen: any(f.get("t") == "end" for f in seen.get(lane, []))


async def test_two_sessions_on_one_stream_run_their_streams_from_one_post(serve_in_process) -> None:
    server = await serve_in_process(f"{APP}:server")
    async with SharedStream.open(server, "v=1&lane=1::0&lane=7::0") as stream:
        seen = await stream.frames_until(lambda seen: all(any(f.get("t") == "welcome" for f in seen.get(n, [])) for n in (1, 7)))
        tokens = {n: _welcome(seen[n])["session"] for n in (1, 7)}
        assert tokens[1] != tokens[7]
        batch = [[tokens[1], [{"t": "start", "run": 1, "cb": f"{APP}.count", "args": [20, None]}]],
                 ["nobody.guessed", [{"t": "ack", "seq": 1}]],
                 [tokens[7], [{"t": "start", "run": 1, "cb": f"{APP}.count", "args": [30, None]}]]]
        status, answer = await _posts(server, batch, stream.cookie)
        assert status == 200
        assert [a["status"] for a in answer["answers"]] == [204, 404, 204]
        assert answer["answers"][1]["code"] == "unknown_session"
        seen = await stream.frames_until(lambda seen: _ended(1)(seen) and _ended(7)(seen))
        for lane, count in ((1, 20), (7, 30)):
            updates = [f for f in seen[lane] if f.get("t") == "update"]
            assert [f["props"][0][1]["children"] for f in updates] == list(range(count))
            assert [f["seq"] for f in seen[lane] if "seq" in f and f.get("t") != "welcome"] == list(range(1, count + 2))


async def test_a_newer_stream_takes_a_lane_over_and_the_old_stream_says_so(serve_in_process) -> None:
    server = await serve_in_process(f"{APP}:server")
    async with SharedStream.open(server, "v=1&lane=1::0") as first:
        token = _welcome((await first.frames_until(lambda seen: 1 in seen))[1])["session"]
        sid = token.split(".")[0]
        async with SharedStream.open(server, f"v=1&lane=2:{sid}:0", first.cookie) as second:
            welcome = _welcome((await second.frames_until(lambda seen: 2 in seen))[2])
            assert welcome["resumed"] is True and welcome["session"] == token
            lane, closed = await first.event()
            assert (lane, closed["code"]) == (1, 4009)


async def test_another_browser_resumes_nothing_and_posts_nothing(serve_in_process) -> None:
    server = await serve_in_process(f"{APP}:server")
    async with SharedStream.open(server, "v=1&lane=1::0") as owner:
        token = _welcome((await owner.frames_until(lambda seen: 1 in seen))[1])["session"]
        async with SharedStream.open(server, f"v=1&lane=1:{token.split('.')[0]}:0") as stranger:
            welcome = _welcome((await stranger.frames_until(lambda seen: 1 in seen))[1])
            assert welcome["resumed"] is False and welcome["session"] != token
            status, answer = await _posts(server, [[token, [{"t": "ack", "seq": 0}]]], stranger.cookie)
            assert answer["answers"][0]["status"] == 404


async def test_the_gate_refuses_a_foreign_origin_and_a_bad_query(serve_in_process) -> None:
    server = await serve_in_process(f"{APP}:server")
    status, answer = await _posts(server, [["a.b", []]], "", origin="http://evil.example")
    assert (status, answer["code"]) == (403, "origin")
    refused = await server.asgi.request("GET", "/_flash_ws/shared?v=1&lane=1:abc.secret:0")
    assert refused.status == 400 and "bad lane" in refused.json()["message"]


@pytest.mark.parametrize("setting, value, says", [
    ("max_shared_sessions", 0, "max_shared_sessions must be a positive integer"),
    ("stall_warning", 0.0, "stall_warning must be positive seconds"),
])
def test_settings_of_the_shared_stream_are_checked(setting: str, value: object, says: str) -> None:
    from flash_ws.server.settings import Settings

    with pytest.raises(ValueError, match=says):
        Settings(**{setting: value})


def test_the_page_learns_the_shared_routes_unless_the_app_turns_sharing_off() -> None:
    from flash_ws import Flash

    shared, unshared = Flash("shared_on"), Flash("shared_off", shared_event_stream=False, stall_warning=4)
    on, off = shared._config()["flash_ws"], unshared._config()["flash_ws"]
    assert (on["shared_url"], on["posts_url"], on["stall_warning_ms"]) == ("/_flash_ws/shared", "/_flash_ws/posts", 10000)
    assert "shared_url" not in off and off["stall_warning_ms"] == 4000
    assert any(rule.rule.endswith("_flash_ws/shared") for rule in shared.server.url_map.iter_rules())
    assert not any(rule.rule.endswith("_flash_ws/shared") for rule in unshared.server.url_map.iter_rules())
