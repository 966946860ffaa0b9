"""Prometheus metrics: who may read them (pure guard), and the counters of real runs on real
hypercorn servers, one worker and two (prometheus_client's multiprocess mode).

Real hypercorn: the metrics are process-wide (created once per process), so only a server in a
process of its own shows counters that are its runs' alone; only two worker processes show the
multiprocess sum."""

from __future__ import annotations

import asyncio
import ipaddress
import json
from pathlib import Path

import pytest
import websockets

from flash_ws.client import FlashWsClient
from flash_ws.protocol import Hello
from flash_ws.protocol.codec import encode_message
from flash_ws.protocol.frames import Start
from flash_ws.server.metrics_access import metrics_refusal, parse_allowed
from tests.conftest import TIMEOUT, eventually, wait_until
from tests.nginx import STOCK, Nginx
from tests.scrape import METRICS_ON, TOKEN, get, scrape

APP = "tests.apps.operated"
COUNT = f"{APP}.count"
LOCAL = {"host": "127.0.0.1:8050"}


def test_a_loopback_client_needs_the_token_or_an_explicit_allow_list():
    """Issue 23, item 4: a stock nginx on the same machine sends no forwarding header, so loopback
    proves nothing; the refusal names the settings that let a local scraper in."""
    for address in ("127.0.0.1", "::1"):
        why = metrics_refusal(address, LOCAL, (), None)
        assert why is not None and "metrics_token" in why and "metrics_allowed=['127.0.0.1']" in why
    loopback = parse_allowed(["127.0.0.1", "::1"])
    assert metrics_refusal("127.0.0.1", LOCAL, loopback, None) is None
    assert metrics_refusal("::1", LOCAL, loopback, None) is None
    assert metrics_refusal("127.0.0.1", {"authorization": "Bearer s3cret"}, (), "s3cret") is None
    for forwarded in ({"x-forwarded-for": "203.0.113.9"}, {"forwarded": "for=203.0.113.9"}, {"x-real-ip": "203.0.113.9"}):
        assert metrics_refusal("127.0.0.1", forwarded, loopback, None) is not None  # a proxy on this machine sent it


def test_other_clients_need_the_allow_list_or_the_token():
    allowed = parse_allowed(["10.0.0.0/8", "192.0.2.7"])
    assert allowed == (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("192.0.2.7/32"))
    assert metrics_refusal("10.1.2.3", {}, allowed, None) is None
    assert metrics_refusal("192.0.2.7", {}, allowed, None) is None
    why = metrics_refusal("192.0.2.8", {}, allowed, None)
    assert why is not None and "metrics_allowed" in why and "192.0.2.8" not in why
    assert metrics_refusal("203.0.113.9", {"authorization": "Bearer s3cret"}, (), "s3cret") is None
    refused = metrics_refusal("203.0.113.9", {"authorization": "Bearer guess"}, (), "s3cret")
    assert refused == "wrong metrics bearer token" and "s3cret" not in refused
    assert metrics_refusal("203.0.113.9", {"authorization": "Bearer s3cret"}, (), None) is not None
    assert metrics_refusal(None, {}, allowed, None) is not None


def test_a_bad_allow_list_entry_is_refused_by_name():
    with pytest.raises(ValueError, match="metrics_allowed: 'ten.0.0.0' is not an IP address or network"):
        parse_allowed(["ten.0.0.0"])


async def test_the_endpoint_is_refused_to_a_client_the_guard_refuses(serve_in_process):
    """In-process: the guard reads headers the test writes and a loopback address."""
    server = await serve_in_process(f"{APP}:server", FLASH_WS_METRICS="1", FLASH_WS_METRICS_TOKEN="s3cret")

    async def get(headers: dict[str, str]) -> tuple[int, bytes]:
        response = await server.asgi.request("GET", "/_flash_ws/metrics", headers=headers)
        return response.status, response.body

    status, body = await get({"X-Forwarded-For": "203.0.113.9"})
    assert status == 403 and b"metrics_allowed" in body and b"s3cret" not in body
    assert (await get({"X-Forwarded-For": "203.0.113.9", "Authorization": "Bearer wrong"}))[0] == 403
    status, body = await get({"X-Forwarded-For": "203.0.113.9", "Authorization": "Bearer s3cret"})
    assert status == 200 and b"flash_ws_runs_started_total" in body


async def test_metrics_are_off_by_default(serve_in_process):
    """In-process: the route is added per app."""
    server = await serve_in_process(f"{APP}:server")
    answer = await server.asgi.request("GET", "/_flash_ws/metrics")
    assert answer.status == 404 and answer.json()["code"] == "not_found"  # not Dash's page with 200 (issue 23, item 4)
    assert b"flash_ws_" not in answer.body and b"# TYPE" not in answer.body


def test_through_a_stock_nginx_on_the_same_machine_the_metrics_need_the_token(serve):
    """Real nginx as a distribution ships it (a bare proxy_pass: no forwarding header, the upstream's
    address as Host) in front of a real hypercorn: every request arrives from loopback, and the
    metrics are refused without the token (issue 23, item 4); the scraper's token reads them."""
    server = serve(f"{APP}:server", **METRICS_ON)
    proxy = Nginx(server.port, STOCK)
    try:
        status, body = get(proxy.url + "/_flash_ws/metrics")
        assert status == 403 and b"# TYPE" not in body
        assert b"metrics_token" in body and b"metrics_allowed" in body and TOKEN.encode() not in body
        status, body = get(proxy.url + "/_flash_ws/metrics", {"Authorization": f"Bearer {TOKEN}"})
        assert status == 200 and b"flash_ws_runs_started_total" in body
        assert get(server.url + "/_flash_ws/metrics")[0] == 403  # asked directly on loopback: the same
    finally:
        proxy.stop()
    warned = [line for line in server.output().splitlines() if "metrics are on but" in line]
    assert warned == []  # a token is set: nothing to warn about


def test_metrics_on_without_a_token_or_allow_list_are_refused_to_all_and_said_so_at_start(serve):
    """Real hypercorn: what a user who scraped on loopback before now sees, in the log and the 403."""
    server = serve(f"{APP}:server", FLASH_WS_METRICS="1")
    status, body = get(server.url + "/_flash_ws/metrics")
    assert status == 403 and b"metrics_allowed=['127.0.0.1']" in body
    assert any(line.startswith("flash_ws: metrics are on but no client may read them: set metrics_token")
               for line in server.output().splitlines())  # Python's last-resort handler: WARNING and up
    local = serve(f"{APP}:server", FLASH_WS_METRICS="1", FLASH_WS_TEST_METRICS_ALLOWED="127.0.0.1")
    assert get(local.url + "/_flash_ws/metrics")[0] == 200  # the operator allowed this machine


@pytest.mark.parametrize("transport", ["websocket", "sse"])
async def test_counters_move_by_what_a_run_did(serve, transport):
    server = serve(f"{APP}:server", **METRICS_ON)
    before = scrape(server.url)
    async with FlashWsClient.connect(server.url, transport=transport) as client:
        pairs, end = await asyncio.wait_for((await client.start(COUNT, [25])).collect(), TIMEOUT)
        assert end.reason == "done" and len(pairs) == 25
        await eventually(lambda: scrape(server.url).value("flash_ws_ack_latency_seconds_count") >= 25,
                         what="the page's acknowledgements of the 25 updates to be timed")
        endless = await client.start(f"{APP}.endless", [1])
        await eventually(lambda: scrape(server.url).value("flash_ws_active_runs") == 1, what="one active run")
        during = scrape(server.url)
        assert during.value("flash_ws_connections", transport=transport) == 1
        await client.cancel(endless.run)
        await asyncio.wait_for(endless.collect(), TIMEOUT)
    after = await eventually(lambda: (found := scrape(server.url)).value("flash_ws_connections") == 0 and found,
                             what="the connection to be counted closed")

    def moved(name: str, **labels: str) -> float:
        return after.value(name, **labels) - before.value(name, **labels)

    assert moved("flash_ws_sessions_opened_total", transport=transport) == 1
    assert moved("flash_ws_runs_started_total", callback=COUNT) == 1
    assert moved("flash_ws_runs_ended_total", callback=COUNT, reason="done") == 1
    assert moved("flash_ws_runs_ended_total", callback=f"{APP}.endless", reason="cancelled") == 1
    assert after.value("flash_ws_active_runs") == 0
    assert moved("flash_ws_updates_sent_total", transport=transport) >= 25
    assert moved("flash_ws_bytes_sent_total", transport=transport) > 25 * len('{"t":"update"}')
    assert moved("flash_ws_fallbacks_total", reason="page_choice") == (1 if transport == "sse" else 0)
    assert moved("flash_ws_sessions_ended_total", reason="page_left") == 1


async def test_a_resume_counts_the_frames_replayed(serve):
    """A page that acknowledged nothing resumes from seq 0: every frame is sent again. The counts
    are absolute: only a process of its own has counted nothing else."""
    server = serve(f"{APP}:server", **METRICS_ON)
    async with websockets.connect(server.ws_url, origin=server.url) as ws:
        browser = {"Cookie": ws.response.headers["Set-Cookie"].split(";")[0]}  # the page's browser key
        await ws.send(encode_message([Hello(None, 0), Start(1, COUNT, [30])]))
        frames = []
        while not any(frame["t"] == "end" for frame in frames):
            frames.extend(json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT)))
        token = frames[0]["session"]
        sequenced = [frame["seq"] for frame in frames if frame["t"] in ("update", "end")]
        assert sequenced == list(range(1, 32))  # 30 updates and the end
    async with websockets.connect(server.ws_url, origin=server.url, additional_headers=browser) as ws:  # the cut page comes back
        await ws.send(encode_message([Hello(token, 0)]))
        welcome = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))[0]
        assert welcome["resumed"] is True
        found = await eventually(lambda: (scraped := scrape(server.url)).value("flash_ws_sessions_resumed_total") == 1 and scraped,
                                 what="the resume to be counted")
    assert found.value("flash_ws_frames_replayed_total") == 31
    assert found.value("flash_ws_sessions_opened_total") == 1


def test_two_workers_add_up_in_multiprocess_mode(serve, tmp_path: Path):
    """hypercorn --workers 2 on one port: every scrape (whichever worker answers) sums both. Only
    two real processes write prometheus_client's multiprocess files."""
    metrics_dir = tmp_path / "prometheus"
    metrics_dir.mkdir()
    server = serve(f"{APP}:server", args=("--workers", "2"), **METRICS_ON, PROMETHEUS_MULTIPROC_DIR=str(metrics_dir))

    async def one_page() -> None:
        async with FlashWsClient.connect(server.url) as client:
            _, end = await asyncio.wait_for((await client.start(COUNT, [10])).collect(), TIMEOUT)
            assert end.reason == "done"

    async def pages() -> None:
        for _ in range(8):
            await one_page()

    asyncio.run(pages())
    served: dict[int, int] = {}  # runs each worker served, by pid (each answer comes from either worker)
    wait_until(lambda: served.update([((answer := server.get_json("/test/count-runs"))["pid"], answer["runs"])]) or len(served) == 2,
               what="both workers to answer")
    assert sum(served.values()) == 8
    for _ in range(6):  # several scrapes: each may be answered by either worker, and says the same
        found = scrape(server.url)
        assert found.value("flash_ws_runs_started_total", callback=COUNT) == 8
        assert found.value("flash_ws_runs_ended_total", callback=COUNT, reason="done") == 8
        assert found.value("flash_ws_sessions_opened_total") == 8


HEARTBEAT = 0.5  # the server's ping interval and timeout in the silent-connection test


async def _held_silent(server, transport: str) -> bytes:
    """Open a session over ``transport`` and say nothing more: what the server sent until it ended it."""
    if transport == "websocket":
        async with websockets.connect(server.ws_url, origin=server.url) as ws:
            await ws.send(encode_message([Hello(None, 0)]))
            with pytest.raises(websockets.ConnectionClosedError):
                while True:
                    await asyncio.wait_for(ws.recv(), TIMEOUT)
            return f"closed {ws.close_code}".encode()
    path = "sse?v=1&seq=0" if transport == "sse" else "shared?v=1&lane=1::0"
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(f"GET /_flash_ws/{path} HTTP/1.0\r\nHost: 127.0.0.1:{server.port}\r\n\r\n".encode())
        return await asyncio.wait_for(reader.read(), TIMEOUT)  # an HTTP/1.0 body ends with the connection
    finally:
        writer.close()


@pytest.mark.parametrize("transport, label, named, ended", [
    ("websocket", "websocket", "websocket from", b"closed 4008"),
    ("sse", "sse", "event stream from", b'data: [{"t":"welcome"'),
    ("shared", "sse", "lane 1 of a shared event stream", b'data: 1 {"code": 4008'),
], ids=["websocket", "sse", "shared"])
async def test_a_connection_silent_past_its_heartbeat_is_ended_logged_and_counted(serve, transport, label, named, ended):
    """Real hypercorn: its own output holds the JSON log line (the format is set for the process),
    and its counter is this connection's alone."""
    server = serve(f"{APP}:server", **METRICS_ON, FLASH_WS_LOG_FORMAT="json", FLASH_WS_TEST_HEARTBEAT=str(HEARTBEAT))
    assert ended in await _held_silent(server, transport)
    await eventually(lambda: scrape(server.url).value("flash_ws_heartbeat_timeouts_total") == 1,
                     what="the heartbeat timeout to be counted")
    assert scrape(server.url).value("flash_ws_heartbeat_timeouts_total", transport=label) == 1
    silent = await eventually(lambda: [line for line in server.output().splitlines() if "went silent" in line],
                              what="the heartbeat timeout to be logged")
    assert len(silent) == 1 and json.loads(silent[0])["level"] == "INFO" and named in silent[0], silent
