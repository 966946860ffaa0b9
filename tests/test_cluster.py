"""Several hypercorn workers sharing sessions through Redis, behind a real nginx that balances them
round-robin (no ip_hash, no stickiness), in a real headless Chromium (issue 6).

- WebSockets refused by nginx (stock proxy_pass): the page falls back to SSE + POST, whose requests
  spread over the workers, and every semantic holds (eight streams, cancel, 200 extendData updates);
- WebSockets forwarded, connections cut again and again: reconnections land on other workers and the
  chart stream resumes exactly;
- a worker killed mid-stream: the page's run ends with its reset_props after worker_ttl; a page whose
  session is on the surviving worker streams on;
- Redis restarted mid-stream: an exact resume or an honest reset, never a gap.

The workers' probe routes (/test/sessions, /test/events) are asked directly, bypassing nginx.

Real parts: only a real page shows its fallback, resume and resets applied to the DOM; only real
nginx balances its requests over separate worker processes and logs which one served each; only a
worker process can be killed (SIGKILL) and a redis-server restarted; the fault proxy cuts real TCP
connections.
"""

from __future__ import annotations

import pytest

from benchmarks.flaky_proxy import Faults
from tests.browser import PageWatch, open_page
from tests.cluster import Cluster
from tests.conftest import SCALE, free_port, wait_until
from tests.nginx import STOCK, WEBSOCKETS, Nginx
from tests.proxy_thread import ProxyThread
from tests.redis_server import RedisServer

pytestmark = [pytest.mark.browser, pytest.mark.proxy]
APP = "tests.apps.browser_app:server"
LONG = 60 * SCALE  # streams under faults, and a dead worker noticed after worker_ttl
WORKER_TTL = 2  # seconds (FLASH_WS_TEST_WORKER_TTL) before the survivors declare a silent worker dead
WEBSOCKET_ONLY = "/?flash_ws_transport=websocket"  # no fallback to SSE: the cuts hit WebSockets only
FLASH_WS = "/_flash_ws/"

# Records, every 5 ms and on every render, the first states of the chart whose points are not
# exactly 0, 1, 2, ... (a gap, a duplicate or a reordering), in window.__bad.
WATCH_CHART = """() => {
    window.__bad = [];
    const check = () => {
        const plot = document.querySelector('#chart .js-plotly-plot');
        const y = plot && plot.data && plot.data[0] ? plot.data[0].y : [];
        for (let i = 0; i < y.length; i++) {
            if (y[i] !== i) {
                if (window.__bad.length < 3) window.__bad.push(Array.from(y));
                return;
            }
        }
    };
    setInterval(check, 5);
    new MutationObserver(check).observe(document.getElementById('chart'), {childList: true, subtree: true});
}"""
WATCH_LOST = "() => { window.__lost = []; addEventListener('flash_ws:lost', (e) => window.__lost.push(e.detail.name)); }"


class Shared:
    """Redis, two workers, a stock nginx and a WebSocket nginx over both, and a fault proxy in
    front of the WebSocket nginx (clean until a test gives it faults)."""

    def __init__(self) -> None:
        try:
            self.redis = RedisServer()
            stock_port, websockets_port = free_port(), free_port()
            self.proxy = ProxyThread(websockets_port)  # listens now; dials nginx only when a browser connects
            origins = f"http://127.0.0.1:{stock_port} http://127.0.0.1:{websockets_port} {self.proxy.url}"
            self.cluster = Cluster(APP, self.redis.url, 2, FLASH_WS_TEST_ORIGINS=origins, FLASH_WS_TEST_GRACE="30")
            self.stock = Nginx(upstreams=self.cluster.ports, location=STOCK, port=stock_port)
            self.websockets = Nginx(upstreams=self.cluster.ports, location=WEBSOCKETS, port=websockets_port)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        for name in ("proxy", "stock", "websockets", "cluster", "redis"):
            part = getattr(self, name, None)
            try:
                if part is not None:
                    part.stop()
            except Exception:  # noqa: BLE001 - stop the rest anyway
                pass


@pytest.fixture(scope="module")
def shared_setup():
    setup = Shared()
    yield setup
    setup.stop()


@pytest.fixture
def shared(shared_setup):
    yield shared_setup
    print_logs(shared_setup.cluster, shared_setup.stock, shared_setup.websockets)


@pytest.fixture
def pages(browser):
    """Open pages (``pages(url, path)``); each is checked for alert() and closed after the test."""
    opened: list[PageWatch] = []

    def open_(url: str, path: str = "/") -> PageWatch:
        watch = open_page(browser, url, path)
        opened.append(watch)
        return watch

    yield open_
    for n, watch in enumerate(opened):  # shown by pytest when the test failed
        print(f"--- page {n} console ---", *watch.console, sep="\n")
    for watch in opened:
        assert watch.dialogs == [], "flash_ws must never alert()"
        if not watch.page.is_closed():
            watch.page.close()


class Own:
    """A cluster of a test's own on ``redis_server``, with a WebSocket nginx over it and, with
    ``fault_proxy``, a fault proxy in front of that nginx (``url`` is where the browser goes)."""

    def __init__(self, redis_url: str, fault_proxy: bool, stops: list, **env: str) -> None:
        nginx_port = free_port()
        origins = [f"http://127.0.0.1:{nginx_port}"]
        self.proxy = ProxyThread(nginx_port) if fault_proxy else None
        if self.proxy is not None:
            stops.append(self.proxy.stop)
            origins.append(self.proxy.url)
        self.cluster = Cluster(APP, redis_url, 2, FLASH_WS_TEST_ORIGINS=" ".join(origins), **env)
        stops.append(self.cluster.stop)
        self.nginx = Nginx(upstreams=self.cluster.ports, location=WEBSOCKETS, port=nginx_port)
        stops.append(self.nginx.stop)
        self.url = self.proxy.url if self.proxy is not None else self.nginx.url


@pytest.fixture
def own(redis_server):
    """``own(fault_proxy=False, **env)``: start an ``Own``; its logs are printed and it is stopped after the test."""
    stops: list = []
    made: list[Own] = []

    def start(fault_proxy: bool = False, **env: str) -> Own:
        made.append(Own(redis_server.url, fault_proxy, stops, **env))
        return made[-1]

    yield start
    for setup in made:
        print_logs(setup.cluster, setup.nginx)
    for stop in reversed(stops):
        stop()


def print_logs(cluster: Cluster, *proxies: Nginx) -> None:
    """The workers' and nginx's logs, printed for pytest to show when the test failed."""
    print(cluster.outputs())
    for nginx in proxies:
        print(f"--- nginx error.log ---\n{nginx.error_log()[-3000:]}")


def session_tokens(page: PageWatch) -> set[str]:
    """Keeps the session tokens the page's POSTs name (from now on) in the returned set."""
    tokens: set[str] = set()

    def seen(request) -> None:
        token = request.headers.get("x-flash-ws-session")
        if token:
            tokens.add(token)

    page.page.on("request", seen)
    return tokens


def watch_chart(page: PageWatch) -> None:
    page.page.wait_for_selector("#chart .js-plotly-plot")
    page.page.evaluate(WATCH_CHART)


def bad_chart_states(page: PageWatch) -> list:
    return page.page.evaluate("window.__bad")


def is_prefix(points: list) -> bool:
    return points == list(range(len(points)))


def ticks(page: PageWatch) -> int:
    """The ``long`` stream's counter on the page (-1 before it ticks)."""
    text = page.text("long-out")
    return int(text.split()[1]) if text.startswith("tick ") else -1


# --- WebSockets refused by nginx: SSE + POST spread over the workers ------------------------------


def test_sse_fallback_spreads_over_workers_and_runs_eight_streams(shared, pages):
    page = pages(shared.stock.url, "/?flash_ws_share=none")  # one tab's own stream and POSTs (shared ones: test_browser_tabs)
    assert "connected over sse" in page.flash_ws_console("info")[0], page.console  # the upgrade was refused
    tokens = session_tokens(page)
    for i in range(8):
        page.click(f"start-{i}")
    page.wait_until(lambda: all(page.text(f"out-{i}").isdigit() for i in range(8)), "eight streams progressing at once")
    page.click("finish-eight")  # they count until then
    for i in range(8):
        page.wait_text(f"out-{i}", "done", timeout=LONG)
    assert not page.flash_ws_console("error") and not page.flash_ws_console("warning"), page.console
    # the POSTs answered so far (closing the page aborts those in flight: nginx logs them as 499)
    posts = [e for e in shared.stock.entries(FLASH_WS + "post", "POST") if e.session in tokens]
    assert posts and [e for e in posts if e.status != 204] == [], posts
    workers = {shared.cluster.index_of_port(e.port) for e in posts}
    assert workers == {0, 1}, f"the page's POSTs all went to worker(s) {workers}: nginx did not balance them"
    logged = len(shared.stock.entries(FLASH_WS + "sse"))
    page.page.close()  # its event stream ends: nginx logs it now
    streams = wait_until(lambda: shared.stock.entries(FLASH_WS + "sse")[logged:], what="nginx to log the event stream")
    assert len(streams) == 1 and streams[0].status == 200, streams  # one stream carried all eight
    stream_worker = shared.cluster.index_of_port(streams[0].port)
    elsewhere = [e for e in posts if shared.cluster.index_of_port(e.port) != stream_worker]
    assert elsewhere, "no POST reached another worker than the event stream's"


def test_sse_fallback_cancel_applies_reset_props_and_runs_finally_on_its_worker(shared, pages):
    page = pages(shared.stock.url)
    before = shared.cluster.events("long finally")
    page.click("long-start")
    page.wait_until(lambda: ticks(page) >= 3, "the long stream to tick")
    assert page.page.is_disabled("#long-start")
    page.click("long-cancel")
    page.wait_text("long-out", "reset")
    wait_until(lambda: shared.cluster.events("long finally") == before + 1, what="the server-side finally on some worker")
    assert page.page.is_enabled("#long-start")
    assert page.text("long-out") == "reset", "no update of the cancelled run lands after the reset"
    assert shared.cluster.active_runs_by_worker() == {0: 0, 1: 0}
    assert not page.flash_ws_console("error"), page.console


def test_sse_fallback_200_extend_data_updates_complete_and_in_order(shared, pages):
    page = pages(shared.stock.url)
    watch_chart(page)
    page.click("chart-start")
    page.wait_until(lambda: len(page.chart_y("chart")) >= 200, "200 points on the chart", timeout=LONG)
    assert page.chart_y("chart") == list(range(200))
    page.click("chart-burst")  # as fast as the server yields: many frames per message
    page.wait_until(lambda: len(page.chart_y("chart")) >= 400, "400 points on the chart", timeout=LONG)
    assert page.chart_y("chart") == list(range(200)) * 2
    assert not page.flash_ws_console("error"), page.console


# --- WebSockets forwarded, connections cut again and again ---------------------------------------


def _reset_open_connections(proxy) -> None:
    for connection in list(proxy._live):
        connection.close(reset=True)


def test_websocket_cut_repeatedly_reconnects_to_other_workers_and_resumes_exactly(shared, pages):
    proxy = shared.proxy
    page = pages(proxy.url, WEBSOCKET_ONLY)
    watch_chart(page)
    logged_before = len(shared.websockets.entries(FLASH_WS + "ws"))
    resets_before = proxy.proxy.resets
    try:
        proxy.set_faults(Faults(reset_after_s=(0.3, 1.2)))
        proxy.call(_reset_open_connections, proxy.proxy)
        page.click("chart-300")
        page.wait_until(lambda: len(page.chart_y("chart")) >= 300, "300 points", timeout=LONG)
    finally:
        proxy.set_faults(Faults())
    assert page.chart_y("chart") == list(range(300))
    assert bad_chart_states(page) == []  # never a gap, a duplicate or a reordering on the way
    assert proxy.proxy.resets - resets_before >= 2  # the stream really crossed cuts
    info = page.flash_ws_console("info")
    assert len(info) >= 3 and all("connected over websocket, session resumed" in line for line in info[1:]), info
    assert not page.flash_ws_console("error"), page.console
    page.page.close()

    def upgrades_on_both_workers():
        upgrades = [e for e in shared.websockets.entries(FLASH_WS + "ws")[logged_before:] if e.status == 101]
        return {shared.cluster.index_of_port(e.port) for e in upgrades} == {0, 1} and upgrades

    upgrades = wait_until(upgrades_on_both_workers, what="WebSockets served by both workers in nginx's access log")
    assert len(upgrades) >= 3


# --- a worker killed mid-stream -------------------------------------------------------------------


def _open_running_page(cluster: Cluster, url: str, pages) -> tuple[PageWatch, int, int]:
    """A page opened through nginx and running ``long``: the page, the worker that owns its session
    (where its active run shows in /test/sessions) and that worker's active runs before."""
    before = cluster.active_runs_by_worker()
    page = pages(url, WEBSOCKET_ONLY)
    page.click("long-start")
    page.wait_until(lambda: ticks(page) >= 1, "the long stream to tick")
    grown = wait_until(lambda: [i for i, n in cluster.active_runs_by_worker().items() if n > before[i]],
                       what="a worker to own the new page's run")
    assert len(grown) == 1, f"the run of one page shows on workers {grown}"
    return page, grown[0], before[grown[0]]


def _page_on_each_worker(cluster: Cluster, url: str, pages) -> dict[int, PageWatch]:
    """Open pages running ``long`` until every worker owns one's session; the extra pages are closed."""
    found: dict[int, PageWatch] = {}
    for _ in range(12):
        page, owner, before = _open_running_page(cluster, url, pages)
        if owner not in found:
            found[owner] = page
            if len(found) == len(cluster):
                return found
            continue
        # a second page on that worker: its run is cancelled while the page is connected (a closed
        # page's last message may never leave a busy browser; its run would then wait out the grace)
        page.click("long-cancel")
        wait_until(lambda o=owner, b=before: cluster.active_runs(o) == b, what="the extra page's run to end")
        page.page.close()
    raise AssertionError(f"twelve pages through round-robin nginx all landed on workers {sorted(found)}")


def test_a_killed_worker_resets_its_runs_and_the_other_worker_streams_on(pages, own):
    setup = own(FLASH_WS_TEST_WORKER_TTL=str(WORKER_TTL), FLASH_WS_TEST_GRACE="30")
    cluster = setup.cluster
    on = _page_on_each_worker(cluster, setup.url, pages)
    victim, survivor = on[0], on[1]
    for page in (victim, survivor):
        page.page.evaluate(WATCH_LOST)
    cluster.kill(0)
    # the survivor's page keeps streaming while the dead worker goes unnoticed, and after
    counter = ticks(survivor)
    survivor.wait_until(lambda: ticks(survivor) > counter + 5, "the surviving worker's page to stream on")
    victim.wait_text("long-out", "reset", timeout=LONG)  # the lost run's reset_props, after worker_ttl
    assert victim.page.is_enabled("#long-start")
    errors = victim.flash_ws_console("error")
    assert any("worker_lost" in line for line in errors), victim.console  # end: error, worker_lost
    counter = ticks(survivor)
    survivor.wait_until(lambda: ticks(survivor) > counter + 5, "the surviving worker's page to stream on")
    assert survivor.flash_ws_console("error") == [] and survivor.page.evaluate("window.__lost") == []
    assert cluster.active_runs(1) == 1
    victim.click("long-start")  # and the page can start again, on the surviving worker
    victim.wait_until(lambda: ticks(victim) >= 3, "the victim's page to stream again", timeout=LONG)


# --- Redis restarted mid-stream -------------------------------------------------------------------


@pytest.mark.parametrize("cut", [False, True], ids=["connected", "reconnecting"])
def test_a_redis_restart_gives_an_exact_resume_or_an_honest_reset(pages, own, redis_server, cut):
    """Two runs cross the restart: the 300-point chart and ``long`` (whose reset_props show in the
    DOM: dcc.Graph does not render the chart's ``className``). ``reconnecting``: the page's
    connection is also cut right after the restart, so it comes back through nginx to any worker,
    which must make sense of the session with an empty Redis."""
    setup = own(fault_proxy=True, FLASH_WS_TEST_GRACE="30")
    page = pages(setup.url, WEBSOCKET_ONLY)
    watch_chart(page)
    page.page.evaluate(WATCH_LOST)
    page.click("long-start")
    page.click("chart-300")  # 300 points 10 ms apart
    page.wait_until(lambda: len(page.chart_y("chart")) >= 50 and ticks(page) >= 1, "both streams to start")
    redis_server.restart()
    if cut:
        setup.proxy.call(_reset_open_connections, setup.proxy.proxy)

    def lost() -> list[str]:
        return page.page.evaluate("window.__lost")

    def chart_points() -> list:
        points = page.chart_y("chart")
        assert is_prefix(points), f"the chart shows {points}"  # at every poll: never a gap
        return points

    page.wait_until(lambda: len(chart_points()) >= 300 or lost() or page.text("long-out") == "reset",
                    "the chart to complete, or the runs to be reset", timeout=LONG)
    print(f"after the restart: {len(chart_points())} points, lost {lost()}, long-out {page.text('long-out')!r}")
    if not lost() and page.text("long-out") != "reset":
        # an exact resume: every point once, and ``long`` streams on (long enough for a late reset to show)
        counter = ticks(page)
        page.wait_until(lambda: ticks(page) > counter + 10 or lost(), "long to stream on")
        assert chart_points() == list(range(300)) and lost() == [], (chart_points(), lost(), page.console)
        page.click("long-cancel")  # and cancelling works with the new Redis
        page.wait_text("long-out", "reset")
    else:
        # an honest reset: the lost runs are reported and their reset_props applied; the points shown
        # are a prefix, and nothing of the lost chart run arrives afterwards
        page.wait_text("long-out", "reset")
        page.wait_until(lambda: "tests.apps.browser_app.long" in lost(), "the flash_ws:lost event")
        if len(chart_points()) < 300:
            assert "tests.apps.browser_app.chart_300" in lost(), lost()
        assert any("was interrupted" in line for line in page.flash_ws_console("error")), page.console
        points = chart_points()
        page.click("long-start")  # the page starts again, on a new session
        page.wait_until(lambda: ticks(page) >= 3, "a new run after the restart", timeout=LONG)
        assert chart_points() == points
    assert bad_chart_states(page) == []  # never a gap, a duplicate or a reordering on the way
