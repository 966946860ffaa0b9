"""The demo (python -m flash_ws.demo) in a real browser: both of the seed's examples work.

Real Chromium: only the page shows the demo as a user sees it: the table filled, the reset hiding
the cancel button, the four charts drawn."""

from __future__ import annotations

import os

import pytest

from tests.browser import open_page

pytestmark = pytest.mark.browser


@pytest.fixture
def demo(serve):
    return serve("flash_ws.demo.app:server", FLASH_WS_DEMO_BACKEND=os.environ.get("FLASH_WS_TEST_BACKEND", "quart"))


def test_progressive_load_fills_the_table_and_cancel_resets_it(browser, demo):
    page = open_page(browser, demo.url)
    page.click("load-btn")
    page.wait_text("progress-text", "1704 / 1704 rows")
    assert page.page.locator("#table tbody tr").count() > 0
    assert "Finished" in page.text("notifications")
    page.click("load-btn")
    page.wait_until(lambda: page.page.is_visible("#cancel-btn"), "the cancel button to show")
    page.click("cancel-btn")
    page.wait_until(lambda: not page.page.is_visible("#cancel-btn"), "the reset to hide the cancel button")
    assert page.page.is_enabled("#load-btn")
    page.page.close()


def test_live_dashboard_streams_four_charts_and_stops(browser, demo):
    page = open_page(browser, demo.url, "/live")
    page.click("start-btn")
    graphs = [f'{{"ticker":"{t}","type":"live-graph"}}' for t in ("google", "apple", "microsoft", "amazon")]
    page.wait_until(lambda: all(page.page.evaluate(
        f"(document.getElementById('{g}').querySelector('.js-plotly-plot')?.data[0].y.length || 0) >= 3")
        for g in graphs), "three points on each of the four charts")
    page.click("stop-btn")
    page.wait_until(lambda: page.page.is_enabled("#start-btn"), "the start button to be reset")
    page.page.close()
