"""The demo's token-streaming page (flash_ws/demo/tokens.py) in Chromium: answers grow in order, Stop
freezes one and re-enables its button, two answers stream at once.

Real Chromium: only the page shows the Markdown answers growing in the DOM and the buttons that
running= disables and enables."""

from __future__ import annotations

import re

import pytest

from flash_ws.demo.tokens import answer_for, ids, tokens_of
from tests.browser import open_page

pytestmark = pytest.mark.browser
A, B = ids("a"), ids("b")


def _words(text: str) -> str:
    """The words shown, without Markdown's marks (an unclosed ``**`` shows until its pair arrives)."""
    return " ".join(re.sub(r"[*`>_]", "", text).split())


def _grows_in_order(seen: list[str]) -> bool:
    """Each text shown starts with the words of the one before (tokens are only appended)."""
    words = [_words(text) for text in seen]
    return len(seen) > 10 and all(later.startswith(earlier) for earlier, later in zip(words, words[1:], strict=False))


def _answer_text(page, side_ids) -> str:
    return page.page.evaluate("id => document.getElementById(id).innerText", side_ids["answer"])


def test_two_answers_stream_at_once_in_order_and_stop_freezes_one(browser, serve):
    demo = serve("tests.apps.paced_demo:server")  # answers long enough to overlap (a rerun on Dash 4.5 once)
    page = open_page(browser, demo.url, "/tokens")
    page.page.wait_for_selector(f"#{A['send']}")
    page.record_texts(A["answer"])
    page.record_texts(B["answer"])

    page.click(A["send"])
    page.click(B["send"])
    page.wait_until(lambda: page.page.is_disabled(f"#{A['send']}") and page.page.is_disabled(f"#{B['send']}"),
                    "both Send buttons disabled while streaming")
    page.wait_until(lambda: len(_answer_text(page, A)) > 200 and len(_answer_text(page, B)) > 200
                    and not page.text(A["status"]).startswith("done") and not page.text(B["status"]).startswith("done"),
                    "both answers growing at once")
    page.click(B["stop"])
    page.wait_until(lambda: page.page.is_enabled(f"#{B['send']}"), "Stop to re-enable Send")
    assert page.page.is_disabled(f"#{B['stop']}")
    frozen = _answer_text(page, B)

    page.wait_text(A["status"], f"done: {len(tokens_of(answer_for(None, 1, 'a')))} tokens", timeout=60)
    page.wait_until(lambda: page.page.is_enabled(f"#{A['send']}"), "Send enabled after the answer")
    last_word = tokens_of(answer_for(None, 1, "a"))[-1].strip().rstrip(".")
    assert last_word in _answer_text(page, A)
    assert _answer_text(page, B) == frozen  # the stopped answer did not move while A finished
    assert len(frozen) < len(answer_for(None, 1, "b"))
    assert _grows_in_order(page.seen(A["answer"])) and _grows_in_order(page.seen(B["answer"]))
    assert page.flash_ws_console("error") == []
    page.page.close()
