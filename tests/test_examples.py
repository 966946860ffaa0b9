"""The examples of Flash 1.2.0's docs (examples/), served by hypercorn, in Chromium: each streams."""

from __future__ import annotations

import pytest

from tests.browser import open_page

pytestmark = pytest.mark.browser


def test_the_progress_bar_streams_to_100_percent(browser, serve):
    page = open_page(browser, serve("examples.progress_bar:server").url)
    page.record_texts("percent")
    page.click("run")
    page.wait_text("percent", "100 %")
    page.wait_text("status", "Done: run 1 times")
    percents = [int(text.split()[0]) for text in page.seen("percent")]
    assert len(percents) > 1 and percents == sorted(percents)  # step by step, in order, not all at the end
    assert page.page.is_enabled("#run") and not page.page.is_enabled("#cancel")
    page.page.close()


def test_the_table_loads_in_chunks_and_stop_resets_it(browser, serve):
    page = open_page(browser, serve("examples.table_load:server").url)
    page.page.fill("#rows", "1200")
    page.click("start")
    page.wait_text("progress", "1200 / 1200 rows")
    page.wait_text("start", "Reload")
    assert page.page.locator("#table tbody tr").count() > 1  # the header and the first page of rows

    page.page.fill("#rows", "1000000")  # far more than the test waits for: Stop lands mid-load
    page.click("start")
    page.wait_until(lambda: page.text("progress").endswith(" / 1000000 rows"), "the first chunk of the second load")
    page.click("stop")
    page.wait_text("progress", "Stopped")
    page.wait_until(lambda: page.page.locator("#table td").count() == 0, "the reset to empty the table")
    assert page.page.is_enabled("#start") and not page.page.is_visible("#stop")
    page.page.close()


def test_the_live_graph_grows_until_end_stops_it(browser, serve):
    page = open_page(browser, serve("examples.live_graph:server").url)
    page.click("start")
    page.wait_until(lambda: all(len(page.chart_y(f"graph-{tick}")) >= 3 for tick in ("google", "apple", "microsoft", "amazon")),
                    "three points on each of the four charts")
    page.click("end")
    page.wait_until(lambda: page.page.is_enabled("#start"), "the reset to enable Start")
    assert page.text("start") == "Start stream" and not page.page.is_visible("#end")
    assert page.text("error") == ""
    page.page.close()
