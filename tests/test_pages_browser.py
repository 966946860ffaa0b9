"""Dash Pages (tests/apps/pages_app.py) in Chromium: a run whose components leave the page with a
navigation is cancelled (its ``finally`` runs), nothing is written into the page mounted later, and
nothing is logged as an error; a stream to an id that is not in the layout is named in the console.

Real Chromium: only Dash's renderer unmounts a page's components on navigation and shows what the
page's console says."""

from __future__ import annotations

import pytest

from tests.browser import open_page
from tests.conftest import wait_until

pytestmark = pytest.mark.browser
APP = "tests.apps.pages_app:server"


def test_navigating_away_cancels_the_run_of_the_page_left(browser, serve):
    server = serve(APP)
    page = open_page(browser, server.url)
    page.click("a-start")
    page.wait_until(lambda: page.text("a-count").startswith("tick"), "page A's stream")
    page.click("to-b")
    page.page.wait_for_selector("#b-text")
    wait_until(lambda: server.get_json("/test/events").get("ticker ended") == 1, what="the run's finally to run")

    # waited for on the page: its console lines reach the test only while Playwright delivers the
    # page's events (a check right after a wait that slept read a list without it: CI run 11)
    page.wait_until(lambda: any("ticker stopped: the components it updates left the page" in line
                                for line in page.flash_ws_console("info")), "the page to say it stopped the run")
    page.click("to-a")
    page.page.wait_for_selector("#a-count", state="attached")
    texts = [page.text("a-count")]

    def holds_still() -> bool:  # the old run would change it every 50 ms
        page.page.wait_for_timeout(500)
        texts.append(page.text("a-count"))
        return texts[-1] == texts[-2]

    page.wait_until(holds_still, "page A's count to hold still")
    assert texts[-1] == "", texts  # the freshly mounted page got nothing of the old run
    assert [line for line in page.console if line.startswith("error")] == [], page.console
    assert server.get_json("/test/events").get("ticker started") == 1


def test_a_stream_to_an_id_not_in_the_layout_is_named_with_the_closest_id(browser, serve):
    server = serve(APP)
    page = open_page(browser, server.url)
    page.click("typo-start")
    errors = page.wait_until(lambda: page.flash_ws_console("error"), "the console to name the missing id")
    assert errors == ['error: flash_ws: tests.apps.pages_app.typo sent children to "a-cuont", which is not in the '
                      'page\'s layout (the closest id is "a-count"); nothing was set'], page.console
    assert not any("TypeError" in line for line in page.console), page.console


def test_with_debug_a_prop_the_component_does_not_declare_is_warned_about(browser, serve):
    server = serve(APP, FLASH_WS_TEST_DEBUG="1")
    page = open_page(browser, server.url)
    page.click("misprop-start")
    warnings = page.wait_until(lambda: page.flash_ws_console("warning"), "the console to name the undeclared prop")
    assert warnings == ['warning: flash_ws: tests.apps.pages_app.misprop sets chidlren on "a-count", a '
                        'dash_html_components.Div, which declares no such prop'], page.console
    page.wait_until(lambda: page.page.get_attribute("#a-count", "title") == "kept", "the declared prop to be set")
