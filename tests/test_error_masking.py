"""Errors out, secrets in: what a failing run shows the page and what it leaves in the server log;
client strings in log lines (issue 10).

All in-process: the service, its runner and the in-process store with caplog, then the app through
its routes (tests/inprocess.py), with debug off and on, its flash_ws log read back tracebacks included.
"""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
from dash import Input

from flash_ws.callbacks import EventCallbackRegistry
from flash_ws.protocol import Hello, Limits, decode_message
from flash_ws.protocol.frames import End
from flash_ws.server.log import session_name
from flash_ws.server.runner import CALLBACK_ERROR_MESSAGE
from flash_ws.server.service import FlashWsService
from flash_ws.server.sessions import Connection
from flash_ws.server.settings import Settings
from tests.conftest import TIMEOUT, eventually

SECRET = "S3cretPw"
SEEN_BY_ON_ERROR: list[Exception] = []


async def leaky(_n):
    raise RuntimeError(f"could not connect to postgresql://app:{SECRET}@db")
    yield  # an event callback is a generator


def service_with_leaky(**limits: int) -> FlashWsService:
    registry = EventCallbackRegistry()
    registry.add(leaky, [Input("go", "n_clicks")], on_error=SEEN_BY_ON_ERROR.append)
    return FlashWsService(registry, Settings(limits=Limits(**limits)))


def ends(live) -> list[End]:
    found = []
    while (text := live.core.take_output()) is not None:
        found += [frame for frame in decode_message(text, "server") if isinstance(frame, End)]
    return found


async def run_to_its_end(service: FlashWsService, live, run: int) -> End:
    service.receive_local(live, json.dumps([{"t": "start", "run": run, "cb": f"{__name__}.leaky", "args": [1]}]))
    await eventually(lambda: not live.core.is_active(run), what=f"the end of run {run}")
    (end,) = ends(live)
    return end


async def test_the_page_gets_a_generic_message_unless_debug_is_on_when_the_error_happens(caplog):
    SEEN_BY_ON_ERROR.clear()
    service = service_with_leaky()
    live = await service.attach(Hello(), Connection("test connection"), "binding", "127.0.0.1")
    ends(live)
    caplog.set_level(logging.INFO, logger="flash_ws")

    masked = await run_to_its_end(service, live, 1)
    service.debug = True  # as app.run(debug=True) sets it, after the app was built
    shown = await run_to_its_end(service, live, 2)

    assert (masked.reason, masked.error.code, masked.error.message) == ("error", "callback_error", CALLBACK_ERROR_MESSAGE)
    assert SECRET not in masked.error.message
    assert shown.error.message == f"RuntimeError: could not connect to postgresql://app:{SECRET}@db"
    assert [str(exc) for exc in SEEN_BY_ON_ERROR] == [f"could not connect to postgresql://app:{SECRET}@db"] * 2
    records = [r for r in caplog.records if "raised" in r.getMessage()]
    assert len(records) == 2
    line = records[0].getMessage()
    assert f"{__name__}.leaky raised RuntimeError" in line and "run 1" in line
    assert session_name(live.token) in line and live.token not in line
    assert SECRET in caplog.text  # the whole error, with its traceback, stays in the server log


async def test_refusals_are_logged_once_per_connection_escaped_and_counted(caplog):
    service = service_with_leaky(max_refused_frames=5000)
    connection = Connection("test connection")
    live = await service.attach(Hello(), connection, "binding", "127.0.0.1")
    caplog.set_level(logging.INFO, logger="flash_ws")
    forged = "x\nflash_ws: FORGED admin logged in"

    for run in range(1, 1001):
        service.receive_local(live, json.dumps([{"t": "start", "run": run, "cb": forged + "y" * 200, "args": []}]))
    service.detach(live, connection, page_left=False)

    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2, lines
    first, summary = lines
    assert first.startswith(f"flash_ws: refused from session {session_name(live.token)} ('x\\nflash_ws: FORGED")
    assert "\n" not in first and len(first) < 400
    assert summary.startswith(f"flash_ws: 999 more refused frame(s) from session {session_name(live.token)}")
    assert all(live.token not in line for line in lines)


async def test_a_wrong_argument_count_is_refused_and_counted_like_any_refusal(caplog):
    service = service_with_leaky(max_refused_frames=2)
    live = await service.attach(Hello(), Connection("test connection"), "binding", "127.0.0.1")
    ends(live)

    for run in (1, 2, 3):
        commands = service.receive_local(live, json.dumps([{"t": "start", "run": run, "cb": f"{__name__}.leaky", "args": []}]))

    assert [type(c).__name__ for c in commands] == ["StartRun", "Refused", "Misbehaved"]
    assert "carries 0 values, expected 1 (1 Input, 0 State)" in commands[1].message
    assert len(service.store) == 0  # the misbehaving session is closed
    assert "closing session" in caplog.text and "more than 2 refused frames" in caplog.text


# ----- through the routes, in-process


@pytest.mark.parametrize("debug", [False, True])
async def test_exception_text_reaches_the_page_only_with_debug_on(serve_in_process, debug):
    """In-process: the log read is flash_ws's, tracebacks included."""
    server = await serve_in_process("tests.apps.bounded:server", FLASH_WS_TEST_DEBUG="1" if debug else "0")
    async with server.client() as client:
        run = await client.start("tests.apps.bounded.leaks", [1])
        pairs, end = await asyncio.wait_for(run.collect(), TIMEOUT)
        token = client.session.session
    assert (end.reason, end.error.code, pairs) == ("error", "callback_error", [])
    if debug:
        assert end.error.message == f"RuntimeError: could not connect to postgresql://app:{SECRET}@db"
    else:
        assert end.error.message == CALLBACK_ERROR_MESSAGE
        assert all(SECRET not in error.message for error in client.errors)
    seen = server.events()  # on_error receives the real exception either way
    assert (seen.get("on_error got RuntimeError"), seen.get("on_error saw the secret")) == (1, 1)
    log = server.output()
    assert "tests.apps.bounded.leaks raised RuntimeError (run 1 of session " + session_name(token) in log
    assert f"RuntimeError: could not connect to postgresql://app:{SECRET}@db" in log and token not in log
