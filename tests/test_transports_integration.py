"""Both transports (WebSocket; SSE + POST) with the reference client, against the app in-process
(tests/inprocess.py): streams, cancel, re-trigger, errors and refusals do not depend on a real socket.
One test runs on a real hypercorn, once per worker class: only a real server shows its event loop
(asyncio, or uvloop as the README recommends) carrying the streams."""

from __future__ import annotations

import asyncio
import json

import pytest

from flash_ws.client import FlashWsClient
from flash_ws.client_links import LinkClosed, PostRefused
from tests.asgi import ConnectionClosed
from tests.conftest import TIMEOUT, eventually

APP = "tests.apps.basic"


@pytest.fixture(params=["websocket", "sse"])
def transport(request) -> str:
    return request.param


@pytest.fixture
def connect(transport):
    """A reference client of an in-process server over the transport under test: ``connect(server)``."""
    def connect_(server, path: str = "/", **options):
        return server.client(path, transport=transport, **options)
    return connect_


@pytest.fixture
async def server(serve_in_process):
    return await serve_in_process(f"{APP}:server", FLASH_WS_TEST_GRACE="1", FLASH_WS_TEST_MAX_RUNS="12")


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])  # uvloop: hypercorn -k uvloop, as README recommends
async def test_runs_of_several_callbacks_stream_at_once_on_one_connection(serve, transport, loop):
    server = serve(f"{APP}:server", args=("--worker-class", loop), FLASH_WS_TEST_GRACE="1", FLASH_WS_TEST_MAX_RUNS="12")
    assert loop in server.get_json("/test/loop")["loop"]
    async with FlashWsClient.connect(server.url, transport=transport) as client:
        count = await client.start(f"{APP}.count", [50, None])
        sync = await client.start(f"{APP}.sync_count", [5])
        endless = await client.start(f"{APP}.endless", ["x"])
        (count_pairs, _), (sync_pairs, _) = await asyncio.wait_for(asyncio.gather(count.collect(), sync.collect()), TIMEOUT)
        assert [p[1]["children"] for p in count_pairs] == list(range(50))
        assert [p[1]["children"] for p in sync_pairs] == [f"sync {i}" for i in range(5)]
        assert endless.ended is None  # the endless run is still streaming on the same connection
        assert client.connections == 1
        await client.cancel(endless.run)


async def test_many_sessions_and_runs_stream_in_order(server, connect):
    async def one_page(n: int) -> list[int]:
        async with connect(server) as client:
            run = await client.start(f"{APP}.count", [n, None])
            pairs, end = await asyncio.wait_for(run.collect(), TIMEOUT)
            assert end.reason == "done"
            return [p[1]["children"] for p in pairs]

    results = await asyncio.gather(*(one_page(100 + i) for i in range(8)))
    assert results == [list(range(100 + i)) for i in range(8)]


async def test_cancel_closes_the_generator_and_stops_updates(server, connect):
    async with connect(server) as client:
        before = server.events().get("endless finally", 0)
        run = await client.start(f"{APP}.endless", ["x"])
        await asyncio.wait_for(run.queue.get(), TIMEOUT)  # it streams
        await client.cancel(run.run)
        await eventually(lambda: server.events().get("endless finally", 0) == before + 1,
                   what="the generator's finally")
        await eventually(lambda: run.ended, what="the end of the cancelled run")
        assert (run.ended.reason, run.ended.reset) == ("cancelled", False)  # reset was applied at cancel time
        assert client.session.runs == {}


async def test_retrigger_replaces_the_previous_run(server, connect):
    async with connect(server) as client:
        first = await client.start(f"{APP}.endless", ["a"])
        await asyncio.wait_for(first.queue.get(), TIMEOUT)
        before = server.events().get("endless finally", 0)
        second = await client.start(f"{APP}.endless", ["b"])
        await asyncio.wait_for(second.queue.get(), TIMEOUT)
        await eventually(lambda: server.events().get("endless finally", 0) >= before + 1,
                   what="the replaced run's finally")
        # on the wire: end(replaced) of the first run comes before any frame of the second
        assert first.run not in client.session.runs
        await client.cancel(second.run)


async def test_error_delivers_on_error_output_then_ends_with_reset(server, connect):
    async with connect(server) as client:
        run = await client.start(f"{APP}.fails", ["x"])
        pairs, end = await asyncio.wait_for(run.collect(), TIMEOUT)
        assert pairs == [["out", {"children": "about to fail"}], ["out", {"children": "failed: boom"}]]
        assert (end.reason, end.error.code, end.reset) == ("error", "callback_error", True)
        assert "boom" not in end.error.message  # the exception's text stays in the server log (debug off)


async def test_bad_yield_is_refused_by_name_and_other_streams_go_on(server, connect):
    async with connect(server) as client:
        other = await client.start(f"{APP}.count", [30, None])
        bad = await client.start(f"{APP}.bad_yield", ["x"])
        _, end = await asyncio.wait_for(bad.collect(), TIMEOUT)
        assert end.error.code == "bad_yield" and "tests.apps.basic.bad_yield" in end.error.message
        pairs, other_end = await asyncio.wait_for(other.collect(), TIMEOUT)
        assert other_end.reason == "done" and len(pairs) == 30
    assert "bad_yield yielded dict" in server.output()


async def test_unknown_callback_and_wrong_arity_are_refused(server, connect):
    async with connect(server) as client:
        unknown = await client.start("no.such.callback", [1])
        _, end = await asyncio.wait_for(unknown.collect(), TIMEOUT)
        assert (end.reason, end.error.code) == ("refused", "unknown_callback")
        short = await client.start(f"{APP}.count", [1])
        _, end = await asyncio.wait_for(short.collect(), TIMEOUT)
        assert end.reason == "refused" and "expected 2 (1 Input, 1 State)" in end.error.message


async def test_malformed_and_oversized_messages_are_refused_and_the_connection_goes_on(server, connect, transport):
    async with connect(server) as client:
        refusals = []
        for text in ['[{"t":"start","run":"x"}]', "[" + " " * (1 << 20) + "]", "not json"]:
            try:
                await client.send_raw(text)
            except PostRefused as exc:  # SSE + POST: the POST itself is answered with a 4xx
                refusals.append((exc.status, exc.code))
        if transport == "sse":
            assert refusals == [(400, "bad_frame"), (413, "too_large"), (400, "bad_frame")]
            await eventually(lambda: len(client.errors) == 2, what="two error frames on the event stream")
            assert [e.code for e in client.errors] == ["bad_frame", "bad_frame"]
        else:
            await eventually(lambda: len(client.errors) == 3, what="three error frames")
            assert [e.code for e in client.errors] == ["bad_frame", "too_large", "bad_frame"]
        assert "'start' needs a non-negative integer 'run'" in client.errors[0].message
        run = await client.start(f"{APP}.count", [3, None])
        pairs, _ = await asyncio.wait_for(run.collect(), TIMEOUT)
        assert len(pairs) == 3


async def test_too_many_runs_for_one_page_is_refused(serve_in_process, connect):
    server = await serve_in_process(f"{APP}:server", FLASH_WS_TEST_MAX_RUNS="2")
    async with connect(server) as client:
        first = await client.start(f"{APP}.endless", ["x"])
        second = await client.start(f"{APP}.sync_count", [1000])
        third = await client.start(f"{APP}.count", [1, None])
        _, end = await asyncio.wait_for(third.collect(), TIMEOUT)
        assert (end.reason, end.error.code) == ("refused", "too_many_runs")
        assert f"'{APP}.count' refused: this page already has 2 active runs" in end.error.message
        assert first.ended is None and second.ended is None  # the others go on
        await client.cancel(first.run)
        await client.cancel(second.run)


async def test_page_that_says_bye_has_its_runs_cancelled(serve_in_process, connect):
    server = await serve_in_process(f"{APP}:server", FLASH_WS_TEST_GRACE="60")  # so only the bye can end it in time
    before = server.events().get("endless finally", 0)
    client = await connect(server)
    run = await client.start(f"{APP}.endless", ["x"])
    await asyncio.wait_for(run.queue.get(), TIMEOUT)
    await client.close(bye=True)
    await eventually(lambda: server.events().get("endless finally", 0) == before + 1, what="finally after bye")


async def test_page_that_vanishes_has_its_runs_cancelled_after_the_grace_period(server, connect):
    before = server.events().get("endless finally", 0)
    client = await connect(server)
    run = await client.start(f"{APP}.endless", ["x"])
    await asyncio.wait_for(run.queue.get(), TIMEOUT)
    await client.close(bye=False)
    await eventually(lambda: server.events().get("endless finally", 0) == before + 1,
               what="finally after the 1 s grace period")


async def test_foreign_origin_is_refused(server, connect):
    with pytest.raises(LinkClosed, match="403|4003"):
        await connect(server, origin="http://evil.example")


async def test_first_frame_must_be_hello(server):
    ws = await server.asgi.websocket("/_flash_ws/ws", {"Origin": server.url})
    await ws.send(json.dumps([{"t": "ping", "id": 1}]))
    with pytest.raises(ConnectionClosed) as closed:
        await ws.recv()
    assert closed.value.code == 4000


async def test_dash_websocket_hooks_guard_flash_ws(serve_in_process):
    server = await serve_in_process("tests.apps.guarded:server")
    with pytest.raises(LinkClosed, match="4001"):
        await server.client()
    ws = await server.asgi.websocket("/_flash_ws/ws", {"Origin": server.url, "Cookie": "auth=ok"})
    await ws.send(json.dumps([{"t": "hello", "v": 1, "session": None, "seq": 0}]))
    welcome = json.loads(await ws.recv())
    assert welcome[0]["t"] == "welcome"
    await ws.send(json.dumps([{"t": "start", "run": 1, "cb": "tests.apps.guarded.hello", "args": [1]}]))
    update = json.loads(await ws.recv())
    assert update[0]["props"] == [["out", {"children": "hello 1"}]]
    await ws.send(json.dumps([{"t": "start", "run": 2, "cb": "forbidden", "args": []}]))
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            await ws.recv()
    assert (closed.value.code, closed.value.reason) == (4002, "Forbidden callback")


async def test_session_tokens_are_unguessable(server, connect):
    tokens = set()
    for _ in range(3):
        async with connect(server) as client:
            tokens.add(client.session.session)
    assert len(tokens) == 3 and all(len(t) >= 32 for t in tokens)


async def test_an_app_under_a_path_prefix_serves_flash_ws_under_it(serve_in_process, connect):
    server = await serve_in_process("tests.apps.prefixed:server", FLASH_WS_TEST_PREFIX="/dash/")
    async with connect(server, "/dash/") as client:
        run = await client.start("tests.apps.prefixed.hello", [1])
        pairs, end = await asyncio.wait_for(run.collect(), TIMEOUT)
        assert pairs == [["out", {"children": "hello 1"}]] and end.reason == "done"
