"""Session events as structured log lines: a real server with ``FLASH_WS_LOG_FORMAT=json``, read
back line by line; the formatter on its own; never a token in them."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from flash_ws.client import FlashWsClient
from flash_ws.logs import JsonFormatter, configure
from flash_ws.server.observe import short_id
from tests.conftest import TIMEOUT, wait_until

APP = "tests.apps.operated"


def _events(output: str) -> list[dict]:
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("logger") == "flash_ws.events"]


async def test_opened_resumed_and_closed_sessions_are_logged_as_json_without_the_token(serve):
    """Real hypercorn: the log format is set for the whole process, so only a server's own output
    shows the JSON lines an operator reads, its pid in the worker's name, and no token anywhere."""
    server = serve(f"{APP}:server", FLASH_WS_LOG_FORMAT="json")
    async with FlashWsClient.connect(server.url) as client:
        token = client.session.session
        await client.drop()
        # welcomed again before it closes: a client closing before its welcome sends no bye
        await asyncio.wait_for(_until(lambda: client.connections >= 2 and client._welcomed.is_set()), TIMEOUT)
        assert client.session.session == token
    sse = await FlashWsClient.connect(server.url, transport="sse")
    await sse.close()
    mine = short_id(token)

    def both_sessions_logged() -> list[dict] | None:  # three events of each session, whatever their order in the file
        found = _events(server.output())
        counts = [sum(e["session"] == mine for e in found), sum(e["session"] != mine for e in found)]
        return found if min(counts) >= 3 else None

    events = wait_until(both_sessions_logged, what="three session events of each session")
    ours = [(e["event"], e["transport"], e["reason"]) for e in events if e["session"] == mine]
    assert ours == [("opened", "websocket", "-"), ("resumed", "websocket", "-"), ("closed", "-", "page_left")]
    assert [e["event"] for e in events if e["session"] != mine] == ["opened", "fallback", "closed"]
    pid = server.get_json("/test/worker")["pid"]
    assert all(e["worker"].endswith(f"-{pid}") and e["level"] == "INFO" for e in events)  # host-pid without Redis
    assert token not in server.output() and token[len(short_id(token)):] not in server.output()


async def _until(condition) -> None:
    while not condition():
        await asyncio.sleep(0.02)


def test_the_formatter_writes_the_event_fields_and_tracebacks():
    record = logging.LogRecord("flash_ws.events", logging.WARNING, __file__, 1, "session %s refused", ("abc",), None)
    for name, value in {"event": "refused", "session": "abc", "worker": "w1", "transport": "sse", "reason": "worker_draining"}.items():
        setattr(record, name, value)
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "session abc refused" and line["level"] == "WARNING"
    assert {k: line[k] for k in ("event", "session", "worker", "transport", "reason")} == {
        "event": "refused", "session": "abc", "worker": "w1", "transport": "sse", "reason": "worker_draining"}
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        failed = logging.LogRecord("flash_ws", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    assert "ValueError: boom" in json.loads(JsonFormatter().format(failed))["exc_info"]


def test_an_unknown_log_format_is_refused_by_name():
    with pytest.raises(ValueError, match="log_format must be one of text, json, got 'xml'"):
        configure("xml")


def _status(port: int, method: str, path: str, headers: dict[str, str], body: bytes | None = None) -> int:
    """The status of one request, redirects not followed (a login's answer is what it is)."""
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    try:
        connection.request(method, path, body=body, headers=headers)
        return connection.getresponse().status
    finally:
        connection.close()


def test_refusals_are_logged_at_warning_with_logging_as_it_comes(serve):
    """Real hypercorn, no log_format and no logging setup of the app's: Python's last-resort handler
    prints WARNING and up only, so each line found here is a WARNING. A refused Host, Origin and
    login on the HTTP transports each say what was refused and why, once per kind."""
    server = serve("tests.apps.basic:server", FLASH_WS_TEST_HOSTS="127.0.0.1")
    evil = {"Host": f"evil.example:{server.port}", "Origin": f"http://evil.example:{server.port}"}
    post = {"Content-Type": "application/json", "X-Flash-Ws-Session": "x.y"}
    for _ in range(2):
        assert _status(server.port, "POST", "/_flash_ws/post", {**evil, **post}, b"[]") == 403
        assert _status(server.port, "GET", "/_flash_ws/sse?v=1&sid=&seq=0", evil) == 403
        assert _status(server.port, "POST", "/_flash_ws/post", {"Origin": "http://elsewhere.example", **post}, b"[]") == 403
    login = serve("tests.apps.login:server", args=("--workers", "1"), FLASH_WS_TEST_BACKEND="flask")
    assert _status(login.port, "POST", "/_flash_ws/post", {"Origin": login.url, **post}, b"[]") >= 300
    expected = {
        server: [f"flash_ws: refused a post request: Host 'evil.example:{server.port}' is not in the app's allowed_hosts",
                 f"flash_ws: refused a sse request: Host 'evil.example:{server.port}' is not in the app's allowed_hosts",
                 "flash_ws: refused a post request from Origin 'http://elsewhere.example' to Host "
                 f"'127.0.0.1:{server.port}': if a proxy rewrote the Host header"],
        login: ["flash_ws: refused a post request from 127.0.0.1 (the app's login or websocket_connect hook)"],
    }
    def refused(where) -> list[str]:
        return [line for line in where.output().splitlines() if "refused a" in line]

    for where, starts in expected.items():
        count = len(starts)
        lines = wait_until(lambda w=where, n=count: (found := refused(w)) and len(found) >= n and found,
                           what="the refusals to be logged")
        assert len(lines) == count, lines  # once per kind, not per request
        for start in starts:
            assert any(line.startswith(start) for line in lines), (start, lines)


async def test_a_stalled_session_is_logged_as_lost_with_the_reason_stalled(serve):
    """Real hypercorn: a page that reads but never acknowledges is ended after stalled_session_timeout;
    its session_ended event says why (it said closed, page_left: the page had not left)."""
    import websockets

    server = serve("tests.apps.basic:server", FLASH_WS_LOG_FORMAT="json", FLASH_WS_TEST_REPLAY_BYTES=str(256 << 10),
                   FLASH_WS_TEST_STALL="2")
    async with websockets.connect(server.ws_url, origin=server.url, max_size=None) as ws:
        await ws.send(json.dumps([{"t": "hello", "v": 1, "session": None, "seq": 0},
                                  {"t": "start", "run": 1, "cb": "tests.apps.basic.flood", "args": [1_000_000]}]))
        token = json.loads(await ws.recv())[0]["session"]
        with pytest.raises(websockets.ConnectionClosed):
            async with asyncio.timeout(TIMEOUT):
                while True:
                    await ws.recv()  # read, never acknowledge
    events = wait_until(lambda: (found := [e for e in _events(server.output()) if e["session"] == short_id(token)])
                        and len(found) >= 2 and found, what="the stalled session's events")
    assert [(e["event"], e["reason"]) for e in events] == [("opened", "-"), ("lost", "stalled")]
