"""Many tabs of one browser profile (issue 13): behind a proxy that blocks WebSockets (plain HTTP/1.1,
six connections per host for every tab), the tabs share one event stream and one uplink through a
SharedWorker, so every tab streams; over the WebSocket every tab keeps its own socket.

Each tab's start button starts two streams at once; each extends its chart one point per update,
so a chart reading 0..POINTS-1 shows every update applied exactly once, in order.

Real Chromium: only a browser has the six connections per host, the SharedWorker, Web Locks and
BroadcastChannel the tabs share through, and tabs that close or stop (the debugger's pause). Real
nginx blocks the upgrade and speaks HTTP/1.1 to the browser.
"""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from tests.browser import PageWatch, open_page
from tests.cluster import Cluster
from tests.conftest import TIMEOUT, free_port
from tests.nginx import STOCK, Nginx
from tests.scrape import METRICS_ON, scrape

pytestmark = pytest.mark.browser
APP = "tests.apps.tabs_app:server"
POINTS = 60
TABS = int(os.environ.get("FLASH_WS_TEST_TABS", "8"))  # 20 for the figures of issue 13


HEARTBEAT = 3.0  # the server's ping interval and timeout in the stopped-tab test (15 and 10 by default)


def _behind_stock_nginx(serve, **env: str) -> Nginx:
    """The tabs app behind the stock nginx (WebSockets blocked, HTTP/1.1 to the browser)."""
    port = free_port()
    server = serve(APP, FLASH_WS_TEST_ORIGINS=f"http://127.0.0.1:{port}", FLASH_WS_TEST_POINTS=str(POINTS), **env)
    return Nginx(server.port, STOCK, port)


@pytest.fixture
def stock_proxy(serve):
    proxy = _behind_stock_nginx(serve)
    yield proxy
    proxy.stop()


@pytest.fixture
def stock_proxy_quick_heartbeat(serve):
    proxy = _behind_stock_nginx(serve, FLASH_WS_TEST_HEARTBEAT=str(HEARTBEAT), **METRICS_ON)
    yield proxy
    proxy.stop()


@pytest.fixture
def stock_cluster(redis_server):
    """Two workers sharing sessions through Redis behind a round-robin stock nginx."""
    port = free_port()
    cluster = Cluster(APP, redis_server.url, FLASH_WS_TEST_ORIGINS=f"http://127.0.0.1:{port}",
                      FLASH_WS_TEST_POINTS=str(POINTS))
    proxy = Nginx(upstreams=cluster.ports, location=STOCK, port=port)
    yield proxy
    proxy.stop()
    cluster.stop()


def _points(page: PageWatch, name: str) -> list:
    return page.chart_y(f"chart-{name}")


def _open_tabs(context, url: str, count: int, path: str = "/") -> list[PageWatch]:
    tabs = []
    for _ in range(count):
        tab = open_page(context, url, path)
        tab.page.wait_for_selector("#chart-b .js-plotly-plot")
        tabs.append(tab)
    return tabs


def _start_all(tabs: list[PageWatch]) -> float:
    """Click start in every tab, as fast as the browser takes the clicks; returns when the last was clicked."""
    for tab in tabs:
        tab.click("start")
    return time.monotonic()


def _assert_complete(tab: PageWatch, clicks: int = 1) -> None:
    """Both streams of ``tab`` ended and every point arrived once, in order (each run extends the
    charts by 0..POINTS-1)."""
    for name in ("a", "b"):
        tab.wait_text(f"status-{name}", f"done {clicks}", timeout=3 * TIMEOUT)
        assert _points(tab, name) == list(range(POINTS)) * clicks, f"chart {name}: a gap or a duplicate"
    assert tab.flash_ws_console("error") == [], tab.console


def _first_update_after(tab: PageWatch, since: float) -> float:
    tab.wait_until(lambda: len(_points(tab, "a")) > 0, "the first update of the last tab")
    return time.monotonic() - since


def _connections_to(port: int) -> int:
    """Established TCP connections from the browser to ``port`` (nginx) right now."""
    out = subprocess.run(["ss", "-tnH", "state", "established", f"dport = :{port}"], capture_output=True, text=True).stdout
    return len([line for line in out.splitlines() if line.strip()])


def _eight_tabs_stream_exactly(browser, proxy: Nginx) -> None:
    context = browser.new_context()
    try:
        tabs = _open_tabs(context, proxy.url, TABS)
        assert all(any("over sse (shared)" in line for line in tab.flash_ws_console("info")) for tab in tabs), \
            [tab.console for tab in tabs]
        last_clicked = _start_all(tabs)
        first = _first_update_after(tabs[-1], last_clicked)
        in_use = _connections_to(proxy.port)
        for tab in tabs:
            _assert_complete(tab)
        streams = proxy.entries("_flash_ws/sse")
        print(f"\n{TABS} tabs: first update in the last tab {first * 1000:.0f} ms after its click; "
              f"{in_use} browser connections to nginx mid-stream; {len(proxy.entries('_flash_ws/posts'))} batched POSTs")
        assert streams == [], "a tab opened an event stream of its own"
    finally:
        context.close()


def test_eight_tabs_behind_a_proxy_that_blocks_websockets_all_stream_exactly(browser, stock_proxy):
    _eight_tabs_stream_exactly(browser, stock_proxy)


def test_eight_tabs_behind_round_robin_nginx_with_two_workers_and_redis(browser, stock_cluster):
    """Real nginx balances round-robin over two hypercorn workers sharing a real redis-server: the
    shared stream and the tabs' POSTs land on either worker, joined only through Redis."""
    _eight_tabs_stream_exactly(browser, stock_cluster)


def test_the_first_tab_closing_mid_stream_leaves_the_others_streaming_exactly(browser, stock_proxy):
    context = browser.new_context()
    try:
        tabs = _open_tabs(context, stock_proxy.url, 4)
        _start_all(tabs)
        tabs[0].wait_until(lambda: len(_points(tabs[0], "a")) >= 10, "the first tab's stream to be under way")
        tabs[0].page.close()
        for tab in tabs[1:]:
            _assert_complete(tab)
        # a tab opened now still joins the shared stream
        late = _open_tabs(context, stock_proxy.url, 1)[0]
        late.click("start")
        _assert_complete(late)
    finally:
        context.close()


def test_without_shared_worker_a_leader_tab_carries_the_others_and_another_takes_over(browser, stock_proxy):
    """Where the browser has no SharedWorker (forced here by ?flash_ws_share=leader): the first tab
    leads (Web Locks), the others reach it over a BroadcastChannel; when it closes mid-stream a
    remaining tab takes over and every stream completes exactly."""
    context = browser.new_context()
    try:
        tabs = _open_tabs(context, stock_proxy.url, 4, "/?flash_ws_share=leader")
        leader = tabs[0]
        assert any("(leader)" in line for line in leader.flash_ws_console("info")), leader.console
        _start_all(tabs)
        leader.wait_until(lambda: len(_points(leader, "a")) >= 10, "the leader's stream to be under way")
        leader.page.close()
        for tab in tabs[1:]:
            _assert_complete(tab)
        assert sum(any("(leader)" in line for line in tab.flash_ws_console("info")) for tab in tabs[1:]) == 1
        assert stock_proxy.entries("_flash_ws/sse") == []
    finally:
        context.close()


def test_a_tab_stopped_past_its_heartbeat_does_not_stall_the_others(browser, stock_proxy_quick_heartbeat):
    """The server declares a silent lane dead at most 2 * interval + timeout after it stopped (9 s
    here; 40 s with the defaults, which behave the same, scaled): the test waits for its count of
    heartbeat timeouts (flash_ws_heartbeat_timeouts_total) to say so."""
    metrics_url = f"http://127.0.0.1:{stock_proxy_quick_heartbeat.upstreams[0]}"  # the server, not nginx
    context = browser.new_context()
    try:
        frozen, *others = _open_tabs(context, stock_proxy_quick_heartbeat.url, 3)
        cdp = context.new_cdp_session(frozen.page)
        cdp.send("Debugger.enable")
        cdp.send("Debugger.pause")
        try:
            for round_ in (1, 2):  # streams started while it is stopped, one after another
                _start_all(others)
                for tab in others:
                    _assert_complete(tab, round_)
            others[0].wait_until(lambda: scrape(metrics_url).value("flash_ws_heartbeat_timeouts_total", transport="sse") >= 1,
                                 "the server to declare the stopped tab's lane dead", 3 * HEARTBEAT + TIMEOUT)
            _start_all(others)  # and after its lane was declared dead by the server's heartbeat
            for tab in others:
                _assert_complete(tab, 3)
        finally:
            cdp.send("Debugger.resume")
            cdp.send("Debugger.disable")
        frozen.click("start")  # the stopped tab goes on with its own session
        _assert_complete(frozen)
    finally:
        context.close()


def test_unshared_tabs_that_exhaust_the_connections_say_so_instead_of_waiting_silently(browser, serve):
    """Six tabs each with its own event stream (sharing turned off by ?flash_ws_share=none) hold
    all six HTTP/1.1 connections: a start cannot leave, and the page says why within stall_warning."""
    port = free_port()
    server = serve(APP, FLASH_WS_TEST_ORIGINS=f"http://127.0.0.1:{port}", FLASH_WS_TEST_STALL="3")
    proxy = Nginx(server.port, STOCK, port)
    context = browser.new_context()
    try:
        # the sixth tab's chart may never load (its script waits for a connection): it is not needed
        tabs = [*_open_tabs(context, proxy.url, 5, "/?flash_ws_share=none"), open_page(context, proxy.url, "/?flash_ws_share=none")]
        tabs[0].click("start")
        tabs[0].wait_until(lambda: any("a POST has had no answer after 3 s" in line and "out of connections" in line
                                       for line in tabs[0].flash_ws_console("warning")), "the stall to be reported")
        assert _points(tabs[0], "a") == []
    finally:
        context.close()
        proxy.stop()


def test_eight_tabs_over_the_websocket_keep_a_socket_each(browser, serve):
    server = serve(APP, FLASH_WS_TEST_POINTS=str(POINTS))
    context = browser.new_context()
    try:
        tabs = _open_tabs(context, server.url, TABS)
        last_clicked = _start_all(tabs)
        first = _first_update_after(tabs[-1], last_clicked)
        for tab in tabs:
            _assert_complete(tab)
            assert any("over websocket" in line for line in tab.flash_ws_console("info")), tab.console
            assert len([url for url in tab.sockets if url.endswith("/_flash_ws/ws")]) == 1, tab.sockets
        print(f"\n{TABS} tabs over the WebSocket: first update in the last tab {first * 1000:.0f} ms after its click")
    finally:
        context.close()
