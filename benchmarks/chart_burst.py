"""``python -m benchmarks.chart_burst``: how long a real Chromium page takes to draw 200 extendData
updates yielded back to back (Flash 1.x, with its 0.1 s pause per update, needs 20 s or more).

Runs tests/apps/browser_app.py on hypercorn over each transport, five times each, and checks that
the chart holds exactly 0..199 every time.
"""

from __future__ import annotations

import argparse
import statistics
import time

from playwright.sync_api import sync_playwright

from tests.conftest import CHROMIUM_ARGS, LiveServer, chromium_path

APP = "tests.apps.browser_app:server"
CHART_Y = "document.querySelector('#chart .js-plotly-plot').data[0].y"


def measure(transport: str, repeats: int) -> list[float]:
    server = LiveServer(APP, {"FLASH_WS_TEST_TRANSPORT": transport})
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
            seconds = []
            for _ in range(repeats):
                page = browser.new_page()
                page.goto(server.url)
                page.wait_for_selector("#chart .js-plotly-plot")
                page.wait_for_function("window.flash_ws && window.flash_ws.constructor.name === 'FlashClient'")
                started = time.monotonic()
                page.click("#chart-burst")
                page.wait_for_function(f"{CHART_Y}.length >= 200", polling=5)
                seconds.append(time.monotonic() - started)
                if page.evaluate(CHART_Y) != list(range(200)):
                    raise AssertionError("the chart does not hold exactly 0..199")
                page.close()
            return seconds
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.chart_burst", description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    for transport in ("websocket", "sse"):
        seconds = measure(transport, args.repeats)
        print(f"{transport:9}  200 points: median {statistics.median(seconds) * 1000:.0f} ms, "
              f"max {max(seconds) * 1000:.0f} ms over {len(seconds)} runs (click to last point drawn)")


if __name__ == "__main__":
    main()
