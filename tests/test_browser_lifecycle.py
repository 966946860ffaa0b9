"""What a page lives through, in a real headless Chromium against a real hypercorn
(tests/apps/lifecycle_app.py): its JavaScript stopped for longer than the server's heartbeat
allows, and its connection replaced by a newer one of its own. Either way the page streams on:
the same run, every update applied once and in order, nothing reset, no "giving up"."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest

from tests.browser import PageWatch, open_page
from tests.conftest import TIMEOUT

pytestmark = pytest.mark.browser
APP = "tests.apps.lifecycle_app:server"
FROZEN_FOR = 35.0  # seconds: past the default heartbeat limit (15 + 10 s), within the 30 s grace after the close


@pytest.fixture(params=["websocket", "sse"])
def transport(request) -> str:
    return request.param


def _chart_y(page: PageWatch) -> list:
    return page.chart_y("chart")


def _assert_streamed_on(page: PageWatch, beyond: int) -> None:
    """The same run goes on past ``beyond`` points, each applied once and in order, nothing reset."""
    page.wait_until(lambda: len(_chart_y(page)) >= beyond, f"the stream to go past {beyond} points", timeout=2 * TIMEOUT)
    points = _chart_y(page)
    assert points == list(range(len(points))), "a gap or a duplicate in the stream"
    assert "lost" not in (page.page.get_attribute("#chart", "class") or ""), "reset_props were applied"
    assert not [line for line in page.console if "giving up" in line or "interrupted" in line], page.console
    assert page.flash_ws_console("error") == []


def _frozen(page: PageWatch, seconds: float, until: Callable[[], bool] = lambda: True) -> None:
    """Stop the page's JavaScript (timers, socket and event-stream handlers) for ``seconds`` and
    until ``until()`` holds, as a tab frozen in the background is: the debugger's pause stops the
    main thread outright (Page.setWebLifecycleState 'frozen' lets socket handlers run)."""
    cdp = page.page.context.new_cdp_session(page.page)
    cdp.send("Debugger.enable")
    cdp.send("Debugger.pause")
    resumes_at = time.monotonic() + seconds
    try:
        page.wait_until(lambda: time.monotonic() >= resumes_at and until(), f"{seconds:.0f} s frozen", seconds + 2 * TIMEOUT)
    finally:
        cdp.send("Debugger.resume")
        cdp.send("Debugger.disable")
        cdp.detach()


def test_a_page_stopped_for_35_s_continues_the_same_run(browser, serve, transport):
    server = serve(APP, FLASH_WS_TEST_TRANSPORT=transport)
    sockets: list = []
    page = open_page(browser, server.url)
    page.page.on("websocket", lambda socket: sockets.append(socket))
    page.page.reload()
    page.page.wait_for_selector("#chart .js-plotly-plot")
    page.click("endless-start")
    page.wait_until(lambda: len(_chart_y(page)) >= 50, "the endless stream to start")
    before = len(_chart_y(page))
    # over the WebSocket, the server closes it (4008 heartbeat timeout) while the page is frozen
    _frozen(page, FROZEN_FOR, until=lambda: transport == "sse" or sockets[0].is_closed())
    # 35 s at 50 points a second were produced meanwhile: the page catches up on them, then goes on
    _assert_streamed_on(page, before + int(FROZEN_FOR * 50) + 100)
    assert any("session resumed" in line for line in page.flash_ws_console("info")[1:]), page.console
    page.page.close()


def test_a_connection_replaced_by_a_newer_one_of_the_page_streams_on(browser, serve):
    server = serve(APP, FLASH_WS_TEST_TRANSPORT="websocket")
    page = open_page(browser, server.url)
    seen: dict[str, object] = {}

    def watch(ws) -> None:
        ws.on("framereceived", lambda payload: _note(seen, payload, "welcome", "session"))
        ws.on("framesent", lambda payload: _note(seen, payload, "ack", "seq"))

    page.page.on("websocket", watch)
    page.page.reload()
    page.page.wait_for_selector("#chart .js-plotly-plot")
    page.click("endless-start")
    page.wait_until(lambda: "seq" in seen and "session" in seen, "the page's welcome and first ack")
    before = len(_chart_y(page))
    # a second WebSocket of the same page presents the session: the server hands it the session
    # and closes the page's own connection as replaced (4009)
    hello = json.dumps([{"t": "hello", "v": 1, "session": seen["session"], "seq": seen["seq"]}])
    page.page.evaluate("""([url, hello]) => new Promise((resolve, reject) => {
        const socket = new WebSocket(url);
        window.__second = socket;
        socket.onopen = () => socket.send(hello);
        socket.onmessage = (event) => { if (event.data.includes('"welcome"')) resolve(); };
        socket.onclose = (event) => reject(new Error('second socket closed: ' + event.code));
    })""", [server.ws_url, hello])
    page.wait_until(lambda: any("newer connection took over" in line for line in page.console), "the page to see 4009")
    _assert_streamed_on(page, before + 200)
    page.page.close()


def _note(seen: dict[str, object], payload: str | bytes, frame_type: str, member: str) -> None:
    """Keep ``member`` of the last ``frame_type`` frame in a WebSocket message."""
    try:
        frames = json.loads(payload)
    except ValueError:
        return
    for frame in frames if isinstance(frames, list) else []:
        if isinstance(frame, dict) and frame.get("t") == frame_type:
            seen[member] = frame[member]
