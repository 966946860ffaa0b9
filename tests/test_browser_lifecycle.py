"""What a page lives through, in a real headless Chromium against a real hypercorn
(tests/apps/lifecycle_app.py): its JavaScript stopped for longer than the server's heartbeat
allows, and its connection replaced by a newer one of its own. Either way the page streams on:
the same run, every update applied once and in order, nothing reset, no "giving up".

Real Chromium: only a real page can have its main thread stopped (the debugger's pause) while its
sockets stay open, and open a second WebSocket of its own; the server's closes (4008, 4009) are
seen by the page's own JavaScript."""

from __future__ import annotations

import json
import time

import pytest

from tests.browser import PageWatch, open_page
from tests.conftest import TIMEOUT

pytestmark = pytest.mark.browser
APP = "tests.apps.lifecycle_app:server"
# The server of these tests pings every 4 s (15 s by default) and closes a connection silent for
# 4 + 3 s at its next ping: at most 11 s after the page stopped. Stopped 12 s, the page has
# certainly been closed (4008), and it wakes within the 30 s grace the session is kept after that
# close. The defaults behave the same, scaled: only the waiting is shorter.
HEARTBEAT, HEARTBEAT_TIMEOUT = 4.0, 3.0
FROZEN_FOR = 2 * HEARTBEAT + HEARTBEAT_TIMEOUT + 1
POINTS_PER_SECOND = 10  # tests/apps/lifecycle_app.py


@pytest.fixture(params=["websocket", "sse"])
def transport(request) -> str:
    return request.param


def _chart_y(page: PageWatch) -> list:
    return page.chart_y("chart")


def _gave_up(page: PageWatch) -> bool:
    """The page reset the run or stopped: what must not happen."""
    said = [line for line in page.console if "giving up" in line or "interrupted" in line]
    return bool(said) or "lost" in (page.page.get_attribute("#chart", "class") or "")


def _assert_streamed_on(page: PageWatch, beyond: int) -> None:
    """The same run goes on past ``beyond`` points, each applied once and in order, nothing reset."""
    page.wait_until(lambda: len(_chart_y(page)) >= beyond or _gave_up(page), f"the stream to go past {beyond} points",
                    timeout=2 * TIMEOUT)
    assert not _gave_up(page), page.console
    points = _chart_y(page)
    assert points == list(range(len(points))), "a gap or a duplicate in the stream"
    assert page.flash_ws_console("error") == []


def _frozen(page: PageWatch, seconds: float) -> None:
    """Stop the page's JavaScript (timers, socket and event-stream handlers) for ``seconds``, as a
    frozen tab or a long synchronous render does. The debugger's pause stops the main thread
    outright; Page.setWebLifecycleState 'frozen' was tried too, but it lets the page answer the
    server's pings, so its connection never goes silent."""
    cdp = page.page.context.new_cdp_session(page.page)
    cdp.send("Debugger.enable")
    cdp.send("Debugger.pause")
    resumes_at = time.monotonic() + seconds
    try:
        page.wait_until(lambda: time.monotonic() >= resumes_at, f"{seconds:.0f} s frozen", seconds + TIMEOUT)
    finally:
        cdp.send("Debugger.resume")
        cdp.send("Debugger.disable")
        cdp.detach()


def test_a_page_stopped_longer_than_the_heartbeat_allows_continues_the_same_run(browser, serve, transport):
    server = serve(APP, FLASH_WS_TEST_TRANSPORT=transport, FLASH_WS_TEST_HEARTBEAT=str(HEARTBEAT),
                   FLASH_WS_TEST_HEARTBEAT_TIMEOUT=str(HEARTBEAT_TIMEOUT))
    page = open_page(browser, server.url)
    page.page.wait_for_selector("#chart .js-plotly-plot")
    page.click("endless-start")
    page.wait_until(lambda: len(_chart_y(page)) >= 20, "the endless stream to start")
    before = len(_chart_y(page))
    _frozen(page, FROZEN_FOR)
    # the points produced meanwhile: the page catches up on them, then goes on
    _assert_streamed_on(page, before + int(FROZEN_FOR * POINTS_PER_SECOND) + 50)
    assert any("session resumed" in line for line in page.flash_ws_console("info")[1:]), page.console
    if transport == "websocket":  # the server did close it, as a heartbeat timeout
        assert any("4008: heartbeat timeout" in line for line in page.flash_ws_console("warning")), page.console
    page.page.close()


def test_a_connection_replaced_by_a_newer_one_of_the_page_streams_on(browser, serve):
    server = serve(APP, FLASH_WS_TEST_TRANSPORT="websocket")
    page = open_page(browser, server.url)
    seen: dict[str, object] = {}

    def watch(ws) -> None:
        ws.on("framereceived", lambda payload: _note(seen, payload, "welcome", "session"))
        ws.on("framesent", lambda payload: _note(seen, payload, "ack", "seq"))

    sockets: list = []  # the page's flash_ws socket only (Dash 4.4.1 opens one of its own on every page)
    page.page.on("websocket", lambda socket: (sockets.append(socket), watch(socket)) if "/_flash_ws/" in socket.url else None)
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
    page.wait_until(lambda: sockets[0].is_closed(), "the server to close the page's own connection (4009)")
    _assert_streamed_on(page, before + 10 * POINTS_PER_SECOND)
    assert any("a newer connection took over the session (replaced 4009" in line for line in page.flash_ws_console("info"))
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
