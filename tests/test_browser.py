"""Event callbacks in a real headless Chromium against a real hypercorn (tests/apps/browser_app.py).

Every scenario runs three ways: over the WebSocket; with the transport forced to SSE + POST; and
through a stock nginx (proxy_pass only: WebSockets blocked, buffering on), where the page falls back.

Real Chromium: only the page's own JavaScript shows the updates, resets and errors applied to the
DOM by Dash's renderer, the connections the page opens and what it logs; it needs a real server on a
socket (hypercorn). Real nginx: only the real proxy refuses the upgrade, so the page falls back by
itself.
"""

from __future__ import annotations

import pytest

from tests.browser import PageWatch, open_page
from tests.conftest import TIMEOUT, free_port, wait_until
from tests.nginx import STOCK, Nginx

pytestmark = pytest.mark.browser
APP = "tests.apps.browser_app:server"


@pytest.fixture(params=["websocket", "sse", "nginx"])
def mode(request) -> str:
    return request.param


@pytest.fixture
def server(serve, mode):
    """The app; in the nginx mode, ``server.url`` is nginx's address in front of it."""
    if mode != "nginx":
        yield serve(APP, FLASH_WS_TEST_GRACE="1", FLASH_WS_TEST_TRANSPORT=mode)
        return
    port = free_port()
    app = serve(APP, FLASH_WS_TEST_GRACE="1", FLASH_WS_TEST_ORIGINS=f"http://127.0.0.1:{port}")
    proxy = Nginx(app.port, STOCK, port)
    yield _Behind(proxy.url, app)
    proxy.stop()


class _Behind:
    """The app as the browser sees it through nginx; server-side probes go to the app itself."""

    def __init__(self, url: str, app) -> None:
        self.url, self.app = url, app

    def get_json(self, path: str):
        return self.app.get_json(path)

    def post(self, path: str):
        return self.app.post(path)

    def output(self) -> str:
        return self.app.output()


@pytest.fixture
def page(browser, server):
    watch = open_page(browser, server.url)
    yield watch
    assert watch.dialogs == [], "flash_ws must never alert()"
    watch.page.close()


def expected_transport(mode: str) -> str:
    return "websocket" if mode == "websocket" else "sse"


def test_eight_streams_run_at_once_over_one_connection(page: PageWatch, mode):
    for i in range(8):
        page.click(f"start-{i}")
    # all eight show progress at the same moment: none waits for a free connection
    page.wait_until(lambda: all(page.text(f"out-{i}").isdigit() for i in range(8)), "eight streams progressing at once")
    page.click("finish-eight")  # they count until then
    for i in range(8):
        page.wait_text(f"out-{i}", "done")
    assert not any("_dash-ws-callback" in url for url in page.sockets)  # Dash's own socket stays shut
    streams = [url for url in page.requests if "/_flash_ws/sse" in url]
    if mode == "websocket":
        assert page.sockets == [page.page.url.rstrip("/").replace("http", "ws") + "/_flash_ws/ws"] and streams == []
    else:
        # one event stream carries all eight: the one the browser's SharedWorker holds (issue 13), not the page's
        assert streams == [], streams
        assert "connected over sse (shared)" in page.flash_ws_console("info")[0]
        assert f"connected over {expected_transport(mode)}" in page.flash_ws_console("info")[0]
    if mode == "nginx":
        assert "websocket" in page.flash_ws_console("info")[0]  # it says why it fell back


def test_updates_arrive_as_they_are_produced(page: PageWatch, server):
    page.click("slow-start")
    page.wait_until(lambda: server.get_json("/test/events").get("slow waiting") == 1, "the generator to wait at its gate")
    page.wait_text("slow-out", "4")  # while the generator waits for the test: nothing flushed it but flash_ws
    assert "slow done" not in server.get_json("/test/events")
    server.post("/test/open/slow")
    page.wait_text("slow-out", "9")
    page.wait_until(lambda: server.get_json("/test/events").get("slow done") == 1, "the generator to end")


def test_cancel_applies_reset_props_and_closes_the_generator(page: PageWatch, server):
    before = server.get_json("/test/events").get("long finally", 0)
    page.click("long-start")
    page.wait_until(lambda: page.text("long-out").startswith("tick"), "the long stream to tick")
    assert page.page.is_disabled("#long-start")
    page.click("long-cancel")
    page.wait_text("long-out", "reset")
    page.wait_until(lambda: server.get_json("/test/events").get("long finally", 0) == before + 1, "the server-side finally")
    assert page.page.is_enabled("#long-start")
    assert page.text("long-out") == "reset", "no update of the cancelled run lands after the reset"


def test_retrigger_cancels_the_previous_run_first(page: PageWatch, server):
    page.record_texts("re-out")
    page.click("re-start")
    page.wait_until(lambda: page.text("re-out").startswith("run1-"), "the first run")
    page.click("re-start")
    page.wait_until(lambda: page.text("re-out").startswith("run2-"), "the second run")
    page.wait_until(lambda: server.get_json("/test/events").get("retrigger finally 1") == 1, "the first run's finally")
    seen = page.seen("re-out")
    first_of_run2 = next(i for i, text in enumerate(seen) if text.startswith("run2-"))
    assert not any(text.startswith("run1-") for text in seen[first_of_run2:])


def test_error_shows_on_error_output_then_applies_reset(page: PageWatch):
    page.click("err-start")
    page.wait_text("err-msg", "caught: deliberate failure")
    page.wait_text("err-start", "retry")


def test_error_without_on_error_is_logged_to_the_console_and_resets(page: PageWatch, server):
    page.click("err-plain-start")
    page.wait_text("err-plain-start", "plain reset")
    page.wait_until(lambda: page.flash_ws_console("error"), "a console error")
    console = page.flash_ws_console("error")[0]
    assert "fails_plainly" in console and "callback_error" in console and "no handler" not in console  # debug off
    assert "fails_plainly raised KeyError" in server.output()  # the traceback is logged server side


def test_pattern_id_component_batch_and_state(page: PageWatch):
    page.page.fill("#misc-input", "typed value")
    page.click("misc-start")
    page.wait_text({"type": "cell", "index": 1}, "second")
    assert page.page.inner_html("[id='{\"index\":0,\"type\":\"cell\"}']") == '<b id="bold">typed value</b>'


def test_sync_generator_streams(page: PageWatch):
    page.record_texts("sync-out")
    page.click("sync-start")
    page.wait_text("sync-out", "sync 4")
    seen = [t for t in page.seen("sync-out") if t]
    # in order, streamed (not only the last value); values landing in one render may coalesce
    assert seen == sorted(set(seen), key=seen.index) and seen[-1] == "sync 4" and len(seen) >= 2
    assert all(text in [f"sync {k}" for k in range(5)] for text in seen)
    assert [int(t.split()[1]) for t in seen] == sorted(int(t.split()[1]) for t in seen)


def test_200_extend_data_updates_arrive_complete_and_in_order(page: PageWatch):
    page.page.wait_for_selector("#chart .js-plotly-plot")
    page.click("chart-start")
    page.wait_until(lambda: len(page.chart_y("chart")) >= 200, "200 points on the chart")
    assert page.chart_y("chart") == list(range(200))
    page.click("chart-burst")  # 200 updates as fast as the server yields them: many frames per message
    page.wait_until(lambda: len(page.chart_y("chart")) >= 400, "400 points on the chart")
    assert page.chart_y("chart") == list(range(200)) * 2


def test_regular_dash_callbacks_keep_working(page: PageWatch):
    page.click("plain")
    page.wait_text("plain-out", "async callback 1")
    page.click("plain-sync")
    page.wait_text("plain-sync-out", "sync callback 1")


def test_closing_the_page_cancels_its_runs(browser, server, mode):
    watch = open_page(browser, server.url)
    before = server.get_json("/test/events").get("long finally", 0)
    watch.click("long-start")
    watch.wait_until(lambda: watch.text("long-out").startswith("tick"), "the long stream to tick")
    watch.page.close()
    # at once when the page's 'bye' arrives; else when the server notices the connection is gone
    # (at worst its heartbeat: 15 + 10 s after the page's last message) plus the 1 s grace
    wait_until(lambda: server.get_json("/test/events").get("long finally", 0) == before + 1,
               timeout=45 + TIMEOUT, what="the run's finally after the page closed")
