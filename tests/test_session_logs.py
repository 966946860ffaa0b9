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
        await asyncio.wait_for(_until(lambda: client.connections >= 2 and client.session.session == token), TIMEOUT)
    sse = await FlashWsClient.connect(server.url, transport="sse")
    await sse.close()
    events = wait_until(lambda: (found := _events(server.output())) and len(found) >= 5 and found, what="five session events")
    ours = [(e["event"], e["transport"], e["reason"]) for e in events if e["session"] == short_id(token)]
    assert ours == [("opened", "websocket", "-"), ("resumed", "websocket", "-"), ("closed", "-", "page_left")]
    assert [e["event"] for e in events if e["session"] != short_id(token)] == ["opened", "fallback", "closed"]
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
