"""Graceful shutdown of one real hypercorn worker without Redis: SIGTERM to its master lets running
generators finish within ``shutdown_grace``, ends the rest as ``worker_shutdown``, then closes the
pages' connections with RECONNECT (1012); the draining service refuses new sessions and runs.
The same under ``app.run()``, whose SIGTERM handler on the event loop flash_ws chains itself to.

Real processes: SIGTERM reaches only a real one (hypercorn's master, or app.run()'s own serve loop),
whose shutdown drives the drain and closes the pages' real connections."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable

import pytest
import websockets
from dash import Input

from flash_ws.callbacks import EventCallbackRegistry
from flash_ws.client import FlashWsClient
from flash_ws.protocol import Hello
from flash_ws.protocol.close_codes import CloseCode
from flash_ws.protocol.codec import encode_message
from flash_ws.protocol.frames import Start
from flash_ws.server.draining import WorkerDraining
from flash_ws.server.service import FlashWsService
from flash_ws.server.sessions import Connection
from flash_ws.server.settings import Settings
from flash_ws.server.shutdown_watch import _ChainedHandler
from tests.conftest import ROOT, TIMEOUT, eventually, free_port, stop_process, wait_until
from tests.scrape import health

APP = "tests.apps.operated"
GRACE = 2.0


async def _frames_until_closed(ws) -> list[tuple[float, dict]]:
    """Every frame received (with its arrival time) until the server closes the connection."""
    received = []
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        try:
            message = await asyncio.wait_for(ws.recv(), TIMEOUT)
        except websockets.ConnectionClosed:
            return received
        received.extend((time.monotonic(), frame) for frame in json.loads(message))
    raise AssertionError(f"the server did not close the connection within {TIMEOUT} s")


SERVERS = {"hypercorn": {"args": ("--graceful-timeout", str(int(GRACE) + 5))},
           "uvicorn": {"FLASH_WS_TEST_BACKEND": "fastapi"}}  # hears of the signal once the drain is over


@pytest.mark.parametrize("kind", SERVERS)
async def test_sigterm_lets_runs_finish_ends_the_rest_then_sends_pages_elsewhere(serve, kind):
    server = serve(f"{APP}:server", FLASH_WS_TEST_SHUTDOWN_GRACE=str(GRACE), **SERVERS[kind])
    async with websockets.connect(server.ws_url, origin=server.url) as ws:
        await ws.send(encode_message([Hello(None, 0), Start(1, f"{APP}.finishing", [1]), Start(2, f"{APP}.endless", [1])]))
        welcome = json.loads(await ws.recv())[0]
        assert welcome["t"] == "welcome"
        signalled = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        received = await _frames_until_closed(ws)
        ends = {frame["run"]: (at - signalled, frame) for at, frame in received if frame["t"] == "end"}
        assert ends[1][1]["reason"] == "done"  # the run that could finish within the grace did
        updates_of_1 = [frame["props"][0][1]["children"] for _, frame in received if frame["t"] == "update" and frame["run"] == 1]
        assert updates_of_1[-1] == "finished"
        took, end = ends[2]
        assert end["reason"] == "error" and end["error"]["code"] == "worker_shutdown", end
        # not before the grace; how soon after it is the benchmarks' business (the reason above shows
        # the drain ended it, not hypercorn's graceful timeout at GRACE + 5)
        assert took >= GRACE - 0.5, f"the endless run ended {took:.2f} s after SIGTERM"
        assert ws.close_code == CloseCode.RECONNECT
    server.proc.wait(TIMEOUT)
    assert "drained: 1 run(s) ended as worker_shutdown" in server.output()


async def test_sigterm_without_runs_closes_at_once_and_a_restarted_worker_serves(serve):
    server = serve(f"{APP}:server", args=("--graceful-timeout", "30"), FLASH_WS_TEST_SHUTDOWN_GRACE="30")
    async with websockets.connect(server.ws_url, origin=server.url) as ws:
        await ws.send(encode_message([Hello(None, 0)]))
        assert json.loads(await ws.recv())[0]["t"] == "welcome"
        signalled = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        await _frames_until_closed(ws)
        assert ws.close_code == CloseCode.RECONNECT
        assert time.monotonic() - signalled < 15  # nothing to wait for: not the 30 s grace
    server.proc.wait(TIMEOUT)
    server.restart()
    assert health(server.url)[0] == 200


async def _run_ends_as_worker_shutdown(ws_url: str, origin: str, stop: Callable[[], None]) -> float:
    """Start an endless run, ``stop`` the server; the seconds until the run's end arrived (as
    worker_shutdown, before the server closed the connection with RECONNECT)."""
    async with websockets.connect(ws_url, origin=origin) as ws:
        await ws.send(encode_message([Hello(None, 0), Start(1, f"{APP}.endless", [1])]))
        assert json.loads(await ws.recv())[0]["t"] == "welcome"
        signalled = time.monotonic()
        stop()
        received = await _frames_until_closed(ws)
        ends = [(at - signalled, frame) for at, frame in received if frame["t"] == "end"]
        assert [frame["error"]["code"] for _, frame in ends] == ["worker_shutdown"], received[-3:]
        assert ws.close_code == CloseCode.RECONNECT
        return ends[0][0]


async def test_with_hypercorns_default_graceful_timeout_the_page_still_learns_its_run_ended(serve):
    """hypercorn gives connections 3 s by default, less than the default shutdown_grace (5 s): the
    drain fits inside it instead of being cut (the page was left showing its run as running)."""
    server = serve(f"{APP}:server", FLASH_WS_TEST_SHUTDOWN_GRACE="5")
    took = await _run_ends_as_worker_shutdown(server.ws_url, server.url, lambda: server.proc.send_signal(signal.SIGTERM))
    assert took < 5, f"the run ended {took:.2f} s after SIGTERM: not within the 3 s graceful timeout"
    server.proc.wait(TIMEOUT)
    assert "shutdown_grace 5.0 s does not fit hypercorn's graceful timeout (3.0 s)" in server.output()


@pytest.fixture
def process_group(tmp_path):
    """hypercorn (master and worker) in a process group of its own, as systemd or a terminal runs it."""
    port = free_port()
    log = tmp_path / "hypercorn.log"
    proc = subprocess.Popen([sys.executable, "-m", "hypercorn", f"{APP}:server", "--bind", f"127.0.0.1:{port}",
                             "--graceful-timeout", "8"], cwd=ROOT, stdout=log.open("wb"), stderr=subprocess.STDOUT,
                            env={**os.environ, "FLASH_WS_TEST_SHUTDOWN_GRACE": "1"}, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _answers(url, proc, log), what="hypercorn to serve")
        yield url, proc, log
    finally:
        stop_process(proc)


async def test_a_sigterm_to_the_whole_process_group_drains_instead_of_killing_the_worker(process_group):
    """systemd's default KillMode=control-group, Ctrl-C, kill 0: the worker gets the SIGTERM itself,
    which killed it at once, cutting the pages without telling them."""
    url, proc, log = process_group
    took = await _run_ends_as_worker_shutdown("ws" + url[len("http"):] + "/_flash_ws/ws", url,
                                              lambda: os.killpg(proc.pid, signal.SIGTERM))
    assert took < 1 + 2, f"the run ended {took:.2f} s after SIGTERM"
    proc.wait(TIMEOUT)


async def test_uvicorn_drains_on_sigterm_and_its_open_event_streams_let_it_exit(serve):
    """uvicorn waits for every open response to end before the app hears of the shutdown, and an event
    stream never ends by itself: flash_ws chains its drain to uvicorn's signal handler, so the run
    ends as worker_shutdown and the stream closes (without it, the worker would wait for ever)."""
    server = serve(f"{APP}:server", FLASH_WS_TEST_BACKEND="fastapi", FLASH_WS_TEST_SHUTDOWN_GRACE="1")
    assert server.command[2] == "uvicorn"
    client = await FlashWsClient.connect(server.url, transport="sse", reconnect=False)
    try:
        run = await client.start(f"{APP}.endless", [1])
        await eventually(lambda: server.get_json("/test/events").get("endless started"), what="the endless run")
        server.proc.send_signal(signal.SIGTERM)
        _, ended = await asyncio.wait_for(run.collect(), TIMEOUT)
        assert (ended.reason, ended.error and ended.error.code) == ("error", "worker_shutdown")
    finally:
        await client.close()
    assert server.proc.wait(TIMEOUT) is not None
    assert "shutting down (SIGTERM received)" in server.output()


async def test_uvicorn_keeps_serving_a_draining_page_until_the_drain_is_over(serve):
    """uvicorn stops listening (and closes idle connections) as soon as it hears of a signal, and an
    event-stream page drops its stream on a failed POST (an ack falls due every three seconds while a run
    streams): flash_ws passes the signal on once the drain is over, so the page's POSTs are answered
    during it and the run's end reaches the page on its stream."""
    server = serve(f"{APP}:server", FLASH_WS_TEST_BACKEND="fastapi", FLASH_WS_TEST_SHUTDOWN_GRACE="60")
    client = await FlashWsClient.connect(server.url, transport="sse", reconnect=False)
    try:
        run = await client.start(f"{APP}.held", [1])
        await eventually(lambda: server.get_json("/test/events").get("held waiting"), what="the held run")
        server.proc.send_signal(signal.SIGTERM)
        await eventually(lambda: "shutting down (SIGTERM received)" in server.output(), what="the drain")
        refused = await client.start(f"{APP}.count", [1])  # a POST while the held run keeps the drain on
        _, ended = await asyncio.wait_for(refused.collect(), TIMEOUT)
        assert (ended.reason, ended.error and ended.error.code) == ("refused", "worker_draining")
        assert health(server.url)[0] == 503
        server.post("/test/open/held")
        pairs, ended = await asyncio.wait_for(run.collect(), TIMEOUT)
        assert ended.reason == "done" and pairs[-1] == ["held-out", {"children": "released"}]
    finally:
        await client.close()
    assert server.proc.wait(TIMEOUT) is not None
    output = server.output()
    assert output.index("flash_ws: worker - drained") < output.index("Shutting down")


async def test_a_chained_python_signal_handler_hears_of_the_signal_once_the_drain_is_over():
    """uvicorn's handler (a Python one) is called when the drain ends; a second signal at once."""
    over, heard = asyncio.Event(), []

    class HeldDrain:  # a drain that lasts until ``over`` is set
        task: asyncio.Task | None = None

        def begin(self, why: str) -> None:
            self.task = self.task or asyncio.get_running_loop().create_task(over.wait())

    drain = HeldDrain()
    handler = _ChainedHandler(asyncio.get_running_loop(), drain, lambda signum, frame: heard.append(signum))
    handler(signal.SIGTERM, None)
    await eventually(lambda: drain.task is not None, what="the drain")
    assert heard == []
    over.set()
    await eventually(lambda: heard, what="the chained handler")
    handler(signal.SIGINT, None)
    assert heard == [signal.SIGTERM, signal.SIGINT]


@pytest.fixture
def app_run(tmp_path):
    """``app.run()`` of the operations app in a process of its own (Dash's own hypercorn serve,
    with its SIGTERM handler on the event loop), with a shutdown grace of 1 s."""
    port = free_port()
    log = tmp_path / "app_run.log"
    code = f"from tests.apps.operated import app; app.run(port={port})"
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=log.open("wb"), stderr=subprocess.STDOUT,
                            env={**os.environ, "FLASH_WS_TEST_SHUTDOWN_GRACE": "1"})
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _answers(url, proc, log), what="app.run() to serve")
        yield url, proc, log
    finally:
        stop_process(proc)


def _answers(url: str, proc: subprocess.Popen, log) -> bool:
    if proc.poll() is not None:
        raise RuntimeError(f"app.run() exited: {log.read_text()[-2000:]}")
    try:
        return health(url)[0] == 200
    except OSError:
        return False


async def test_app_run_drains_on_sigterm_through_the_chained_signal_handler(app_run):
    url, proc, log = app_run
    async with websockets.connect("ws" + url[len("http"):] + "/_flash_ws/ws", origin=url) as ws:
        await ws.send(encode_message([Hello(None, 0), Start(1, f"{APP}.endless", [1])]))
        assert json.loads(await ws.recv())[0]["t"] == "welcome"
        signalled = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        received = await _frames_until_closed(ws)
        ends = [(at - signalled, frame) for at, frame in received if frame["t"] == "end"]
        assert [frame["error"]["code"] for _, frame in ends] == ["worker_shutdown"]
        assert ends[0][0] <= 1 + 1, f"the run ended {ends[0][0]:.2f} s after SIGTERM"
        assert ws.close_code == CloseCode.RECONNECT
    proc.wait(TIMEOUT)
    assert "shutting down (SIGTERM received)" in log.read_text()


async def test_a_draining_service_refuses_new_sessions_and_runs():
    callbacks = EventCallbackRegistry()

    async def ticking(_):
        yield None

    callback = callbacks.add(ticking, [Input("x", "n_clicks")])
    service = FlashWsService(callbacks, Settings())
    live = await service.attach(Hello(None, 0), Connection("websocket from test"), "binding", "127.0.0.1")
    service.draining = True
    try:
        await service.attach(Hello(None, 0), Connection("websocket from test"), "binding", "127.0.0.1")
    except WorkerDraining as refused:
        assert refused.close_code == CloseCode.TRY_AGAIN_LATER
    else:
        raise AssertionError("a draining worker opened a session")
    service.receive_local(live, encode_message([Start(1, callback.name, [1])]))
    output = live.core.take_output()
    assert '"reason":"refused"' in output and '"code":"worker_draining"' in output
    assert live.core.active_runs() == []
