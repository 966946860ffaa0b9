"""The dev-tools view in a real headless Chromium: in Dash's debug menu with the dev tools on
(transport, round trip, an active run with its updates; a screenshot lands in the test artifacts),
absent without them.

Real Chromium: the view is drawn by the page's JavaScript into Dash's dev tools; only a real page
shows it (and only a real page can be screenshotted)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.browser import open_page

pytestmark = pytest.mark.browser
APP = "tests.apps.operated:server"
BUTTON = "#flash-ws-devtools-button"
PANEL = "#flash-ws-devtools-panel"


@pytest.fixture
def artifacts(tmp_path: Path) -> Path:
    """Where screenshots go: $FLASH_WS_TEST_ARTIFACTS (CI keeps it), else the test's tmp dir."""
    folder = Path(os.environ.get("FLASH_WS_TEST_ARTIFACTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_the_view_shows_the_transport_and_an_active_run_in_debug_mode(serve, browser, artifacts):
    server = serve(APP, FLASH_WS_TEST_DEBUG="1")
    page = open_page(browser, server.url)
    try:
        button = page.page.locator(BUTTON)
        page.wait_until(lambda: button.count() == 1 and "websocket" in button.inner_text(), "the view in the debug menu")
        page.click("endless-start")
        page.wait_until(lambda: "1 running" in button.inner_text() and " ms" in button.inner_text(),
                        "the view to show the run and a round trip")
        button.click()
        panel = page.page.locator(PANEL)
        page.wait_until(lambda: panel.count() == 1 and re.search(r"endless: \d+ updates", panel.inner_text()),
                        "the panel to list the endless run")
        text = panel.inner_text()
        assert re.search(r"transport: websocket \(.+\)", text), text  # and why it was chosen
        assert re.search(r"round trip: \d+\.\d ms", text), text
        assert "connections: 1 (0 resumed, 0 frames replayed)" in text, text
        first = int(re.search(r"endless: (\d+) updates", text).group(1))
        page.wait_until(lambda: int(re.search(r"endless: (\d+) updates", panel.inner_text()).group(1)) > first,
                        "the update count to grow")
        page.page.screenshot(path=str(artifacts / "devtools_view.png"))
        page.click("endless-start")  # re-trigger: the old run ends as replaced, a new one runs
        page.wait_until(lambda: "endless: replaced after" in panel.inner_text(), "the replaced run among those ended")
    finally:
        page.page.close()


def test_the_view_is_absent_without_the_dev_tools(serve, browser):
    server = serve(APP)
    page = open_page(browser, server.url)
    try:
        page.click("count-start")
        page.wait_text("count-out", "0")
        assert page.page.locator(BUTTON).count() == 0
        assert page.page.evaluate("window.flash_ws_devtools === undefined")
    finally:
        page.page.close()
