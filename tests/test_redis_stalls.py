"""A page connected through another worker than its session's owner is ended as stalled, as one
connected to the owner is (issue 24, item 3): two hypercorn workers and a real redis-server, since
only real sockets leave a page's output unacknowledged, and only Redis joins the two workers."""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets

from flash_ws.server.redis_bus import Stalled, decode, encode
from tests.conftest import TIMEOUT, eventually, wait_until
from tests.scrape import METRICS_ON, scrape

APP = "tests.apps.basic"


def test_the_stalled_message_keeps_its_one_letter_wire_form():
    wire = {"op": "stalled", "t": "s1", "c": "c9"}
    assert encode(Stalled("s1", "c9")) == wire and decode(wire) == Stalled("s1", "c9")


def _events(output: str) -> list[dict]:
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("logger") == "flash_ws.events"]


async def test_a_page_connected_through_another_worker_than_the_owner_is_ended_as_stalled(serve, redis_server):
    env = {"FLASH_WS_REDIS_URL": redis_server.url, "FLASH_WS_SECRET": "a secret both workers share",
           "FLASH_WS_TEST_GRACE": "30", "FLASH_WS_TEST_WORKER_TTL": "2", "FLASH_WS_TEST_REPLAY_BYTES": str(256 << 10),
           "FLASH_WS_TEST_STALL": "2", "FLASH_WS_LOG_FORMAT": "json", **METRICS_ON}
    owner, other = serve(f"{APP}:server", **env), serve(f"{APP}:server", **env)
    async with websockets.connect(owner.ws_url, origin=owner.url) as ws:  # opens the session on the owner
        await ws.send(json.dumps([{"t": "hello", "v": 1, "session": None, "seq": 0}]))
        token = json.loads(await ws.recv())[0]["session"]
        browser_key = ws.response.headers["Set-Cookie"].split(";", 1)[0]  # the session is bound to it
    await eventually(lambda: len(owner.get_json("/test/sessions")) == 1, what="the session waiting for its page")
    resume_and_flood = json.dumps([{"t": "hello", "v": 1, "session": token, "seq": 0},
                                   {"t": "start", "run": 1, "cb": f"{APP}.flood", "args": [1_000_000]}])
    cookie = {"Cookie": browser_key}
    async with websockets.connect(other.ws_url, origin=other.url, max_size=None, additional_headers=cookie) as ws:
        await ws.send(resume_and_flood)
        with pytest.raises(websockets.ConnectionClosed) as closed:
            async with asyncio.timeout(TIMEOUT):  # before: never closed (the owner did not judge it)
                while True:
                    await ws.recv()  # read, never acknowledge: the owner's buffer fills and stays full
    assert owner.get_json("/test/events").get("flood yields", 0) > 0  # the run was the owner's
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
    assert "acknowledged nothing for 2 s while its replay buffer was full (stalled_session_timeout)" in closed.value.rcvd.reason
    await eventually(lambda: owner.get_json("/test/sessions") == [], what="the stalled session ended on its owner")
    assert scrape(owner.url).value("flash_ws_sessions_ended_total", reason="stalled") == 1  # its memory given back
    assert scrape(other.url).value("flash_ws_refused_frames_total", code="stalled") == 1
    ended = wait_until(lambda: [e for e in _events(owner.output()) if e["event"] in ("lost", "closed")],
                       what="the owner's session_ended event")
    assert [(e["event"], e["reason"]) for e in ended] == [("lost", "stalled")]
