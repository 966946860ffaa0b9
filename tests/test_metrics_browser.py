"""Metrics scraped over HTTP while a real Chromium page runs streams: over the WebSocket, over the
forced SSE fallback, and behind the stock nginx (which makes the page fall back); and the endpoint
refused through an nginx that says whom it forwards for."""

from __future__ import annotations

import pytest

from tests.browser import PageWatch, open_page
from tests.conftest import free_port, wait_until
from tests.nginx import STOCK, Nginx
from tests.scrape import METRICS_ON, TOKEN, Scrape, get, scrape

pytestmark = [pytest.mark.browser, pytest.mark.proxy]
APP = "tests.apps.operated"
FINISHING = f"{APP}.finishing"
# The documented proxy setup plus the header that tells the app whom nginx forwards for.
FORWARDING = """
        location / {{
            proxy_pass http://{upstream};
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        }}
"""


def _run_finishing(page: PageWatch, base_url: str, before: Scrape) -> Scrape:
    page.click("finishing-start")
    page.wait_text("finishing-out", "finished")
    return wait_until(lambda: (found := scrape(base_url)).value("flash_ws_runs_ended_total", callback=FINISHING, reason="done")
                      > before.value("flash_ws_runs_ended_total", callback=FINISHING, reason="done") and found,
                      what="the run's end to be counted")


@pytest.mark.parametrize("transport", ["websocket", "sse"])
def test_a_run_in_chromium_moves_the_counters(serve, browser, transport):
    """Real Chromium: the counters are those of the page's own JavaScript client (its connection,
    its acks, its choice of transport), on a server of its own process (the metrics are process-wide)."""
    server = serve(f"{APP}:server", **METRICS_ON)
    before = scrape(server.url)
    page = open_page(browser, server.url, f"/?flash_ws_transport={transport}")
    try:
        after = _run_finishing(page, server.url, before)
        assert after.value("flash_ws_sessions_opened_total", transport=transport) == 1
        assert after.value("flash_ws_connections", transport=transport) == 1
        assert after.value("flash_ws_runs_started_total", callback=FINISHING) == 1
        assert after.value("flash_ws_runs_ended_total", callback=FINISHING, reason="done") == 1
        assert after.value("flash_ws_updates_sent_total", transport=transport) >= 11  # ten ticks and "finished"
        assert after.value("flash_ws_fallbacks_total", reason="page_choice") == (1 if transport == "sse" else 0)
        assert after.value("flash_ws_active_runs") == 0
    finally:
        page.page.close()
    wait_until(lambda: scrape(server.url).value("flash_ws_connections") == 0, what="the page's connection counted closed")


def test_behind_the_stock_nginx_the_fallback_is_counted(serve, browser):
    """Real nginx refuses the upgrade and real Chromium falls back by itself: the counters say so."""
    port = free_port()
    server = serve(f"{APP}:server", **METRICS_ON, FLASH_WS_TEST_ORIGINS=f"http://127.0.0.1:{port}")
    nginx = Nginx(server.port, location=STOCK, port=port)
    try:
        page = open_page(browser, nginx.url)
        try:
            after = _run_finishing(page, server.url, scrape(server.url))
            assert after.value("flash_ws_fallbacks_total", reason="page_choice") == 1
            assert after.value("flash_ws_sessions_opened_total", transport="sse") == 1
            assert after.value("flash_ws_sessions_opened_total", transport="websocket") == 0
        finally:
            page.page.close()
    finally:
        nginx.stop()


def test_the_endpoint_is_refused_through_a_proxy_forwarding_for_a_client(serve):
    """Real nginx: the documented proxy setting adds the X-Forwarded-For the guard refuses."""
    server = serve(f"{APP}:server", **METRICS_ON)
    nginx = Nginx(server.port, location=FORWARDING)
    try:
        status, body = get(nginx.url + "/_flash_ws/metrics")
        assert status == 403 and b"metrics_allowed" in body
        assert get(server.url + "/_flash_ws/metrics")[0] == 403  # the same server asked on loopback: no token, refused
        assert get(nginx.url + "/_flash_ws/metrics", {"Authorization": f"Bearer {TOKEN}"})[0] == 200
    finally:
        nginx.stop()
