"""MATCH cards in Chromium (tests/apps/match_app.py): each card's stream is its own run. Clicking
every card streams every card to its end, a card's Stop cancels only its run (its reset resolved for
its card), a re-click replaces only that card's run, and a Dash-style callback with a MATCH Output
streams per card too; event callbacks read ``ctx.triggered_id``.

Real Chromium: only Dash's renderer resolves MATCH ids, hands the trigger group each instance's ids
and fires one clientside callback per card."""

from __future__ import annotations

import pytest

from tests.browser import dom_id, open_page
from tests.conftest import wait_until

pytestmark = pytest.mark.browser
APP = "tests.apps.match_app:server"
CARDS = range(4)


def _click(page, component_id: dict) -> None:
    page.page.click(f"[id='{dom_id(component_id)}']")


def _cards(browser, server):
    page = open_page(browser, server.url)
    page.click("add")
    page.page.wait_for_selector(f"[id='{dom_id({'type': 'go', 'index': 3})}']")
    return page


def test_every_card_clicked_streams_to_its_end_and_knows_its_card(browser, serve):
    server = serve(APP)
    page = _cards(browser, server)
    for i in CARDS:
        _click(page, {"type": "go", "index": i})
    for i in CARDS:  # before: a click replaced the run of the card clicked before, which froze
        page.wait_text({"type": "out", "index": i}, f"card {i}: 20")
    events = server.get_json("/test/events")
    assert [events.get(f"count {i} started") for i in CARDS] == [1, 1, 1, 1], events
    assert [line for line in page.console if line.startswith("error")] == [], page.console


def test_a_cards_stop_and_re_click_end_only_that_cards_run(browser, serve):
    server = serve(APP, FLASH_WS_TEST_STEPS="100000")
    page = _cards(browser, server)
    for i in (0, 1, 2):
        _click(page, {"type": "go", "index": i})
    for i in (0, 1, 2):
        page.wait_until(lambda i=i: page.text({"type": "out", "index": i}).startswith(f"card {i}: "), f"card {i}'s stream")

    _click(page, {"type": "stop", "index": 1})
    page.wait_text({"type": "out", "index": 1}, "stopped")  # the reset's MATCH id made card 1's
    _click(page, {"type": "go", "index": 2})
    wait_until(lambda: server.get_json("/test/events").get("count 2 started") == 2, what="card 2's second run")

    events = server.get_json("/test/events")
    assert (events.get("count 1 ended"), events.get("count 2 ended")) == (1, 1), events
    assert events.get("count 0 ended") is None, events  # card 0's run went on through both
    seen = int(page.text({"type": "out", "index": 0}).split(": ")[1])
    page.wait_until(lambda: int(page.text({"type": "out", "index": 0}).split(": ")[1]) > seen, "card 0 to keep counting")
    assert page.text({"type": "out", "index": 1}) == "stopped"
    assert [line for line in page.console if line.startswith("error")] == [], page.console


def test_a_dash_style_callback_with_a_match_output_streams_every_card(browser, serve):
    server = serve(APP)
    page = _cards(browser, server)
    for i in CARDS:
        _click(page, {"type": "dgo", "index": i})
    for i in CARDS:
        page.wait_text({"type": "dout", "index": i}, f"dash card {i}: 20")
    assert [line for line in page.console if line.startswith("error")] == [], page.console
