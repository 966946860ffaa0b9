"""Resume in the browser through a fault-injecting TCP proxy: resets, a dead path, a restarted server,
a server gone for good. Both transports go through the same faults.

Real Chromium: only the page's own JavaScript notices a reset or a silent path (its heartbeat),
resumes, and shows the chart exact in the DOM. The proxy cuts and silences real TCP connections; the
restarted server is a new hypercorn process, without the old sessions."""

from __future__ import annotations

import os
import signal

import pytest

from benchmarks.flaky_proxy import Faults
from benchmarks.processes import children
from tests.browser import PageWatch, open_page
from tests.proxy_thread import ProxyThread

pytestmark = pytest.mark.browser
APP = "tests.apps.browser_app:server"
LONG = 90  # seconds: streams under faults take a while


@pytest.fixture(params=["websocket", "sse"])
def transport(request) -> str:
    return request.param


def _open(browser, proxy: ProxyThread, server) -> PageWatch:
    page = open_page(browser, proxy.url)
    page.page.wait_for_selector("#chart .js-plotly-plot")
    return page


def test_300_updates_survive_a_reset_every_second(browser, serve, transport):
    server = serve(APP, FLASH_WS_TEST_TRANSPORT=transport, FLASH_WS_TEST_GRACE="30")
    proxy = ProxyThread(server.port)
    try:
        page = _open(browser, proxy, server)
        proxy.set_faults(Faults(reset_after_s=(0.3, 1.2)))
        proxy.call(_reset_open_connections, proxy.proxy)
        page.click("chart-300")
        page.wait_until(lambda: len(page.chart_y("chart")) >= 300, "300 points", timeout=LONG)
        assert page.chart_y("chart") == list(range(300))
        assert proxy.proxy.resets >= 2  # the stream really crossed resets
        assert len(page.flash_ws_console("info")) >= 3  # and resumed after them
        assert all("session resumed" in line for line in page.flash_ws_console("info")[1:])
        page.page.close()
    finally:
        proxy.stop()


def test_400_updates_survive_an_eight_second_dead_path(browser, serve, transport):
    server = serve(APP, FLASH_WS_TEST_TRANSPORT=transport, FLASH_WS_TEST_GRACE="30", FLASH_WS_TEST_HEARTBEAT="1")
    proxy = ProxyThread(server.port)
    try:
        page = _open(browser, proxy, server)
        page.click("chart-400")
        page.wait_until(lambda: len(page.chart_y("chart")) >= 50, "the stream to start")
        proxy.call(proxy.proxy.blackhole, 8.0)  # open connections go silent for good: no FIN, no RST
        page.wait_until(lambda: len(page.chart_y("chart")) >= 400, "400 points", timeout=LONG)
        assert page.chart_y("chart") == list(range(400))
        assert any("session resumed" in line for line in page.flash_ws_console("info")[1:])
        page.page.close()
    finally:
        proxy.stop()


def test_a_restarted_server_resets_the_page_which_can_start_again(browser, serve, transport):
    server = serve(APP, FLASH_WS_TEST_TRANSPORT=transport)
    page = open_page(browser, server.url)
    page.page.wait_for_selector("#chart .js-plotly-plot")
    page.click("long-start")
    page.wait_until(lambda: page.text("long-out").startswith("tick"), "the long stream")
    page.page.evaluate("window.__lost = []; addEventListener('flash_ws:lost', (e) => __lost.push(e.detail.name))")
    server.restart(crash=True)  # a crash: nothing told the page (a SIGTERM would drain first)
    page.wait_text("long-out", "reset")  # its reset_props, applied because the run was lost
    page.wait_until(lambda: page.flash_ws_console("error"), "the console to say so")
    assert "tests.apps.browser_app.long was interrupted" in page.flash_ws_console("error")[0]
    assert page.page.evaluate("window.__lost") == ["tests.apps.browser_app.long"]  # the app's hook
    assert page.page.is_enabled("#long-start")
    page.click("long-start")  # and it can start again, on the new session
    page.wait_until(lambda: page.text("long-out").startswith("tick"), "the stream to run again")
    page.page.close()


def test_a_server_gone_for_good_ends_the_page_s_runs_after_its_resume_grace(browser, serve, transport):
    """Issue 23, item 2. Real hypercorn, killed and never restarted; real Chromium: only the page shows
    the reset and reports it while it keeps trying to reconnect."""
    server = serve(APP, FLASH_WS_TEST_TRANSPORT=transport, FLASH_WS_TEST_GRACE="2")
    page = open_page(browser, server.url)
    page.click("long-start")
    page.wait_until(lambda: page.text("long-out").startswith("tick"), "the long stream")
    page.page.evaluate("window.__lost = []; addEventListener('flash_ws:lost', (e) => __lost.push(e.detail))")
    for pid in children(server.proc.pid):  # the worker hypercorn spawned, then its master: nothing serves
        os.kill(pid, signal.SIGKILL)
    server.proc.kill()
    server.proc.wait()
    page.wait_text("long-out", "reset")  # its reset_props: the page ended the run itself
    said = [line for line in page.flash_ws_console("error") if "was interrupted" in line]
    assert said and "tests.apps.browser_app.long was interrupted: the server could not be reached for 2 s" in said[0], page.console
    lost = page.page.evaluate("window.__lost")  # the app's hook
    assert [(each["name"], each["reason"]) for each in lost] == [("tests.apps.browser_app.long", "unreachable")]
    assert page.page.is_enabled("#long-start")
    page.page.close()


def _reset_open_connections(proxy) -> None:
    """Give the connections opened while the proxy was clean their reset too (as if they had one)."""
    for connection in list(proxy._live):
        connection.close(reset=True)
