"""The demo's Cards page (flash_ws/demo/cards.py) in Chromium: cards added at run time stream at once,
each to its end, and a card's Stop ends only that card's run.

Real Chromium: only Dash's renderer adds the cards, resolves their MATCH ids and fires one trigger
per card."""

from __future__ import annotations

import pytest

from flash_ws.demo.cards import STEPS, card_ids
from tests.browser import dom_id, open_page

pytestmark = pytest.mark.browser


def _click(page, component_id: dict) -> None:
    page.page.click(f"[id='{dom_id(component_id)}']")


def test_three_cards_stream_at_once_and_a_stop_ends_only_its_card(browser, serve):
    demo = serve("flash_ws.demo.app:server")
    page = open_page(browser, demo.url, "/cards")
    for _ in range(3):
        page.click("add-card")
    page.page.wait_for_selector(f"[id='{dom_id(card_ids(2)['start'])}']")
    for index in range(3):
        _click(page, card_ids(index)["start"])
    for index in range(3):
        page.wait_until(lambda index=index: page.text(card_ids(index)["text"]).startswith(f"card {index + 1}: step"),
                        f"card {index + 1} to stream")
    _click(page, card_ids(1)["stop"])

    page.wait_text(card_ids(1)["text"], "stopped")
    for index in (0, 2):
        page.wait_text(card_ids(index)["text"], f"card {index + 1}: done", timeout=60)
    assert page.page.get_attribute(f"[id='{dom_id(card_ids(0)['bar'])}']", "value") == str(STEPS)
    assert page.text(card_ids(1)["text"]) == "stopped"
    assert [line for line in page.console if line.startswith("error")] == [], page.console
