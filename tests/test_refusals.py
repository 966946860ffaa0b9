"""The refusal table (flash_ws/protocol/refusals.py, tests/vectors/refusals.json): one row per refusal
with its wire code, HTTP status and WebSocket close code, read by every transport; a refusal leads
the page to the same kind of action whichever transport carried it.

In-process (tests/inprocess.py): which answer a transport gives is decided before any socket timing
matters. The draining worker is the case that had drifted (1013 on a WebSocket, 1011 on a shared
stream's lane, 503 ``store_unavailable`` on an event stream)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flash_ws.protocol.close_codes import CloseAction, http_action, websocket_action
from flash_ws.protocol.refusals import REFUSALS, Refusal
from flash_ws.server.draining import WorkerDraining
from flash_ws.server.gate import refusal_for
from flash_ws.server.sessions import SessionGone, SessionMoved, StoreUnavailable, TooManySessions
from tests.test_admission import HELLO, WS, close_code, http

VECTORS = json.loads((Path(__file__).parent / "vectors" / "refusals.json").read_text(encoding="utf-8"))["refusals"]


def test_the_table_is_the_vectors() -> None:
    rows = [{"code": kind.code, "status": kind.status,
             "close_code": None if kind.close_code is None else int(kind.close_code), "when": kind.when}
            for kind in REFUSALS.values()]
    assert rows == VECTORS


@pytest.mark.parametrize("row", [r for r in VECTORS if r["status"] and r["close_code"]], ids=lambda r: r["code"])
def test_a_refusal_leads_to_the_same_kind_of_action_over_a_websocket_and_an_event_stream(row: dict) -> None:
    def stops(action: CloseAction) -> bool:
        return action == CloseAction.GIVE_UP

    assert stops(websocket_action(row["close_code"])) == stops(http_action("sse", row["status"], row["code"])), row


def test_a_code_outside_the_table_is_a_bug_caught_where_it_is_made() -> None:
    with pytest.raises(ValueError, match="unknown refusal code 'nope'"):
        Refusal("nope", "text")


def test_the_apps_own_status_and_close_code_win_over_the_tables() -> None:
    assert Refusal("rejected", "login first", app_status=401).status == 401
    assert Refusal("rejected", "login first", app_close_code=4401).close_code == 4401
    assert (Refusal("rejected", "no").status, Refusal("rejected", "no").close_code) == (403, 4001)


@pytest.mark.parametrize(("error", "code"), [
    (WorkerDraining("stopping"), "worker_draining"), (TooManySessions("full"), "too_many_sessions"),
    (StoreUnavailable("redis down"), "store_unavailable"), (SessionMoved("moved"), "session_moved"),
    (SessionGone("lost"), "session_moved"),
], ids=lambda value: value if isinstance(value, str) else type(value).__name__)
def test_every_store_error_has_one_refusal(error, code) -> None:
    assert refusal_for(error).code == code


async def test_a_draining_worker_refuses_a_new_session_alike_on_every_transport(serve_in_process) -> None:
    server = await serve_in_process("tests.apps.basic:server")
    server.app.flash_ws.draining = True
    ws = await server.asgi.websocket(WS, {"Origin": server.url})
    await ws.send(json.dumps([HELLO]))
    code, reason = await close_code(ws)
    assert (code, reason) == (1013, "this worker is shutting down: connect again")
    status, answer, _ = await http(server, "/_flash_ws/sse?v=1&sid=&seq=0")
    assert (status, answer["code"]) == (503, "worker_draining")
    async with server.asgi.stream("GET", "/_flash_ws/shared?v=1&lane=3::0", headers={"Origin": server.url}) as (response, body):
        assert response.status == 200
        event = b""
        async for chunk in body:
            event += chunk
            if b"\ndata: 3 " in b"\n" + event:
                break
    lane = json.loads(event.split(b"data: 3 ", 1)[1].split(b"\n", 1)[0])
    assert lane["code"] == 1013 and "shutting down" in lane["reason"]
