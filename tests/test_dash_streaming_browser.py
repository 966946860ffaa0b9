"""A page written with Dash 4.5's streaming-callback API on ``Flash`` (tests/apps/dash_api_app.py), in
Chromium, on whichever Dash is installed (4.4.1 has no streaming of its own; it streams here too).
Every behaviour over one flash_ws connection; exact under connection cuts; behind a stock nginx.

Real Chromium: only Dash's own renderer shows the Dash-API callbacks (running=, cancel=, set_props,
MATCH outputs, Patch) applied to the DOM, and which connections the page's code opens. The fault
proxy cuts real TCP connections; the stock nginx really refuses the upgrade."""

from __future__ import annotations

import pytest

from benchmarks.flaky_proxy import Faults
from tests.browser import PageWatch, open_page
from tests.conftest import free_port
from tests.nginx import STOCK, Nginx
from tests.proxy_thread import ProxyThread

pytestmark = pytest.mark.browser
APP = "tests.apps.dash_api_app:server"
LONG = 90  # seconds: streams under faults take a while


def _dash_requests(page: PageWatch) -> list[str]:
    """Requests of Dash's own callback and stream paths (none: everything streams over flash_ws)."""
    return [url for url in page.requests if "_dash-update-component" in url or "stream" in url.rsplit("/", 1)[-1]]


def _one_connection(page: PageWatch, transport: str) -> None:
    if transport == "websocket":
        assert len(page.sockets) == 1 and page.sockets[0].endswith("/_flash_ws/ws"), page.sockets
    else:
        assert page.sockets == [], page.sockets
        own = [u for u in page.requests if "/_flash_ws/sse" in u]  # the page's own event stream, or
        shared = any("over sse (shared)" in line for line in page.flash_ws_console("info"))  # the tabs' shared one
        assert (len(own), shared) in ((1, False), (0, True)), (own, page.console)
    assert _dash_requests(page) == []
    assert page.page.evaluate("typeof SharedWorker === 'undefined' || !performance.getEntriesByType('resource')"
                              ".some(e => e.name.includes('dash-stream-worker'))")


def _in_order(seen: list[str], expected: list[str]) -> bool:
    """``seen`` ends with the last expected value and holds only expected values, in their order."""
    positions = [expected.index(text) if text in expected else -1 for text in seen]
    return bool(seen) and seen[-1] == expected[-1] and -1 not in positions and positions == sorted(set(positions))


@pytest.fixture(params=["websocket", "sse"])
def transport(request) -> str:
    return request.param


def test_every_dash_streaming_behaviour_over_one_connection(browser, serve, transport):
    server = serve(APP, FLASH_WS_TEST_TRANSPORT=transport, FLASH_WS_TEST_POINTS="60")
    page = open_page(browser, server.url)
    page.wait_text("init-out", "init 2")  # no prevent_initial_call: it streams on page load
    for name in ("multi-b", "side"):
        page.record_texts(name)

    page.page.evaluate("""() => { const button = document.getElementById('count-start'); window.__disabled = [];
        new MutationObserver(() => window.__disabled.push(button.disabled))
            .observe(button, {attributes: true, attributeFilter: ['disabled']}); }""")
    _record_fires(page)
    page.click("count-start")
    page.click("multi-start")
    page.click("err-start")
    page.page.click("[id='{\"index\":1,\"type\":\"pm-btn\"}']")
    page.click("sync-start")
    page.click("chart-start")
    try:
        _every_stream_of_the_six_clicks(page)
    except AssertionError as exc:  # which clicks reached Dash, which triggers reached flash_ws
        raise AssertionError(f"{exc}\n{_fires_and_clicks(page)}") from None

    page.click("long-start")  # cancel=[Input(...)]: Stop ends the stream and the running= values
    page.wait_until(lambda: page.text("long-out").startswith("long"), "the long stream")
    assert page.page.is_disabled("#long-start")
    page.click("long-stop")
    page.wait_until(lambda: page.page.is_enabled("#long-start"), "Stop to re-enable the button")
    # An update received before the Stop may still render; then nothing more (a running stream
    # changes it every 50 ms, so it would never hold still for half a second).
    texts = [page.text("long-out")]

    def holds_still() -> bool:
        page.page.wait_for_timeout(500)
        texts.append(page.text("long-out"))
        return texts[-1] == texts[-2]

    page.wait_until(holds_still, "the stopped stream's text to hold still")

    page.click("count-start")  # a second run of the same callback, then re-triggered
    page.wait_until(lambda: page.text("count-out").startswith("tick"), "the second run")
    page.wait_text("count-out", "done 2")
    _one_connection(page, transport)
    assert page.flash_ws_console("error") == []
    page.page.close()


def _every_stream_of_the_six_clicks(page: PageWatch) -> None:
    page.wait_text("multi-a", "a4 v")  # a multi-output stream with a State
    assert page.text("multi-b") == "b4"
    # no_update left b1 and b3 out (values arriving together may coalesce: the last one shows)
    assert _in_order(page.seen("multi-b"), ["b0", "b2", "b4"])
    page.wait_text("side", "side 4")  # set_props between yields
    assert _in_order(page.seen("side"), [f"side {k}" for k in range(5)])
    page.wait_text("err-out", "failed: boom")  # on_error's value replaces the output
    page.wait_text({"type": "pm-out", "index": 1}, "1:2")  # a MATCH output, ctx.triggered_id
    assert page.text({"type": "pm-out", "index": 0}) == ""
    page.wait_text("sync-out", "sync 4")  # a sync generator (flash_ws.callback)
    page.wait_until(lambda: len(page.chart_y("chart")) >= 60, "60 Patch appends")
    assert page.chart_y("chart") == list(range(60))
    page.wait_text("count-out", "done 1")
    page.wait_until(lambda: page.page.is_enabled("#count-start"), "running= to enable the button again")
    assert page.page.evaluate("window.__disabled")[:1] == [True]  # running= disabled it while it streamed


BUTTONS = ("count-start", "multi-start", "err-start", {"index": 1, "type": "pm-btn"}, "sync-start", "chart-start")


def _record_fires(page: PageWatch) -> None:
    """Keep every trigger the page hands flash_ws (its group and what Dash said triggered it)."""
    page.page.evaluate("""() => { const client = window.flash_ws, fire = client.fire.bind(client); window.__fires = [];
        client.fire = (group, values, triggered) => {
            window.__fires.push([group, (triggered || []).map((t) => t.prop_id)]); return fire(group, values, triggered); }; }""")


def _fires_and_clicks(page: PageWatch) -> str:
    """The buttons' n_clicks as Dash's layout holds them, and the triggers flash_ws was handed."""
    clicks = page.page.evaluate("""ids => ids.map((id) => { try {
        return (window.dash_component_api.getLayout(id) || {}).props?.n_clicks ?? null; } catch (e) { return String(e); } })""",
                                list(BUTTONS))
    return f"n_clicks of {BUTTONS}: {clicks}; triggers handed to flash_ws: {page.page.evaluate('window.__fires')}"


def test_300_patch_updates_exact_while_connections_are_cut(browser, serve, transport):
    server = serve(APP, FLASH_WS_TEST_TRANSPORT=transport)
    proxy = ProxyThread(server.port)
    try:
        page = open_page(browser, proxy.url)
        page.page.wait_for_selector("#chart .js-plotly-plot")
        proxy.set_faults(Faults(reset_after_s=(0.3, 1.2)))
        proxy.call(_reset_open_connections, proxy.proxy)
        page.click("chart-start")
        page.wait_until(lambda: len(page.chart_y("chart")) >= 300, "300 points", timeout=LONG)
        assert page.chart_y("chart") == list(range(300))
        assert proxy.proxy.resets >= 2  # the stream really crossed cuts
        assert all("session resumed" in line for line in page.flash_ws_console("info")[1:])
        assert _dash_requests(page) == []
        page.page.close()
    finally:
        proxy.stop()


def test_streams_behind_a_stock_nginx_that_blocks_websockets(browser, serve):
    """A truly stock nginx (a bare proxy_pass: no Upgrade, the upstream's address as Host), and no
    allowed_origins: the fallback's POSTs carry the page's browser key (issue 23, item 1)."""
    port = free_port()
    app = serve(APP, FLASH_WS_TEST_POINTS="100")
    proxy = Nginx(app.port, STOCK, port)
    try:
        page = open_page(browser, proxy.url)
        page.wait_text("init-out", "init 2")
        page.click("chart-start")
        page.click("multi-start")
        page.wait_until(lambda: len(page.chart_y("chart")) >= 100, "100 points through nginx", timeout=LONG)
        assert page.chart_y("chart") == list(range(100))
        page.wait_text("multi-a", "a4 v")
        assert any("sse" in line for line in page.flash_ws_console("info"))
        assert _dash_requests(page) == []
        page.page.close()
    finally:
        proxy.stop()


def _reset_open_connections(proxy) -> None:
    """Give the connections opened while the proxy was clean their cut too."""
    for connection in list(proxy._live):
        connection.close(reset=True)


# Records every connection the page's own code constructs (Dash 4.5 hosts its downlink in a SharedWorker,
# whose requests a page's request log does not show).
RECORD_CONNECTIONS = """(() => { window.__opened = [];
  for (const name of ['WebSocket', 'EventSource', 'SharedWorker', 'Worker']) {
    const original = window[name];
    if (original) window[name] = new Proxy(original, {construct(target, args) {
      window.__opened.push(name + ' ' + String(args[0]).replace(/^\\w+:\\/\\/[^/]+/, '')); return new target(...args); }});
  }
})();"""


def test_page_load_opens_only_the_flash_ws_connection(browser, serve, transport):
    """Dash 4.5 on its own would start a SharedWorker with its NDJSON downlink for the initial stream."""
    server = serve(APP, FLASH_WS_TEST_TRANSPORT=transport)
    page = browser.new_page()
    page.add_init_script(RECORD_CONNECTIONS)
    page.goto(server.url)
    page.wait_for_function("document.getElementById('init-out')?.innerText === 'init 2'", timeout=30_000)
    opened = page.evaluate("window.__opened")
    expected = ["WebSocket /_flash_ws/ws"] if transport == "websocket" else [opened[0]]
    assert opened == expected, opened
    if transport == "sse":  # its own event stream, or flash_ws's SharedWorker holding the tabs' shared one
        assert opened[0].startswith(("EventSource /_flash_ws/sse", "SharedWorker /_dash-component-suites/flash_ws/")), opened
    page.close()
