"""A page the server refuses for its configuration, in Chromium behind a stock nginx: the page says
why in its console (the server's message, with the fix) and reports its runs as refused
(``flash_ws:lost`` with reason ``refused``), a click afterwards included, never as a cancel and
never silently; the server logs the refusal.

Real nginx as distributions ship it: a bare ``proxy_pass`` sends the upstream's address as Host,
which an app's ``allowed_hosts`` for its public name does not allow. Real Chromium: only the page's
own console and events show what a user sees."""

from __future__ import annotations

import pytest

from tests.browser import open_page
from tests.conftest import wait_until
from tests.nginx import STOCK, Nginx

pytestmark = [pytest.mark.browser, pytest.mark.proxy]


def test_behind_a_stock_nginx_a_host_the_app_does_not_allow_is_reported_as_refused(browser, serve):
    app = serve("tests.apps.basic:server", FLASH_WS_TEST_HOSTS="app.example")
    proxy = Nginx(app.port, STOCK)
    try:
        page = open_page(browser, proxy.url, connected=False)
        page.page.evaluate("() => { window.__lost = []; "
                           "window.addEventListener('flash_ws:lost', (event) => window.__lost.push(event.detail)); }")
        [gave_up] = page.wait_until(lambda: page.flash_ws_console("error"), "the page to give up", timeout=60)
        host = f"127.0.0.1:{app.port}"
        assert f"Host '{host}' is not in the app's allowed_hosts (Flash(allowed_hosts=[...]))" in gave_up, gave_up
        assert gave_up.endswith("; giving up"), gave_up

        page.click("go")
        lost = page.wait_until(lambda: page.page.evaluate("window.__lost"), "the click to be reported")
        assert [(entry["name"], entry["reason"]) for entry in lost] == [("tests.apps.basic.count", "refused")]
        assert "allowed_hosts" in lost[0]["message"]
        assert page.flash_ws_console("error")[-1] == (
            f"error: flash_ws: tests.apps.basic.count not started: the server refused this page's connection "
            f"({lost[0]['message']})")
        assert page.text("out") == ""  # nothing ran, nothing was reset as if cancelled
        wait_until(lambda: f"Host '{host}' is not in the app's allowed_hosts" in app.output(),
                   what="the server to log the refusal")
    finally:
        proxy.stop()
