"""Helpers of the browser tests: open a page of a test app in Chromium and watch what it does."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.conftest import TIMEOUT, wait_until


def dom_id(component_id: Any) -> str:
    """Dash's DOM id of a component id (dict ids as JSON with sorted keys)."""
    if isinstance(component_id, dict):
        return json.dumps(component_id, sort_keys=True, separators=(",", ":"))
    return component_id


@dataclass
class PageWatch:
    """A page with what it logged, the sockets and event streams it opened, and its dialogs."""

    page: Any
    console: list[str] = field(default_factory=list)
    sockets: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def wait_until(self, condition: Callable[[], object], what: str, timeout: float = TIMEOUT) -> object:
        """Poll ``condition`` while letting the page deliver its events; a timeout's message ends
        with the page's last console lines (what flash_ws logged tells a lost start from a lost update)."""
        try:
            return wait_until(condition, timeout, what, pause=lambda s: self.page.wait_for_timeout(s * 1000))
        except AssertionError as exc:
            raise AssertionError(f"{exc}; the page's console ends with {self.console[-15:]}") from None

    def text(self, component_id: Any) -> str:
        return self.page.locator(f"[id='{dom_id(component_id)}']").inner_text()

    def click(self, component_id: str) -> None:
        self.page.click(f"#{component_id}")

    def wait_text(self, component_id: Any, expected: str, timeout: float = TIMEOUT) -> None:
        self.wait_until(lambda: self.text(component_id) == expected,
                        f"#{component_id} to read {expected!r}", timeout)

    def chart_y(self, graph_id: str) -> list:
        """The y values of the graph's first trace; none while dcc.Graph has not drawn yet (its
        chunk loads after the page)."""
        return self.page.evaluate(f"""() => {{
            const plot = document.querySelector('#{graph_id} .js-plotly-plot');
            return plot && plot.data ? plot.data[0].y : [];
        }}""")

    def record_texts(self, component_id: str) -> None:
        """Keep every text the element shows, in window.__seen[component_id] (once the element is
        on the page: some components, dcc.Markdown among them, render after their chunk loads)."""
        self.page.wait_for_selector(f'[id="{component_id}"]', state="attached", timeout=TIMEOUT * 1000)
        self.page.evaluate("""id => {
            window.__seen = window.__seen || {};
            const seen = window.__seen[id] = [];
            const element = document.getElementById(id);
            new MutationObserver(() => seen.push(element.innerText))
                .observe(element, {childList: true, subtree: true, characterData: true});
        }""", component_id)

    def seen(self, component_id: str) -> list[str]:
        return self.page.evaluate("id => window.__seen[id]", component_id)

    def flash_ws_console(self, kind: str = "") -> list[str]:
        return [line for line in self.console if line.startswith(kind) and line.split(": ", 1)[1].startswith("flash_ws")]


def open_page(browser: Any, url: str, path: str = "/", *, connected: bool = True) -> PageWatch:
    """A page of the app at ``url`` once its layout rendered and (``connected``) flash_ws connected."""
    page = browser.new_page()
    watch = PageWatch(page)
    page.on("console", lambda message: watch.console.append(f"{message.type}: {message.text}"))
    page.on("websocket", lambda ws: watch.sockets.append(ws.url))
    page.on("request", lambda request: watch.requests.append(request.url))
    page.on("dialog", lambda dialog: (watch.dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(url + path)
    page.wait_for_selector("#react-entry-point [id]")  # the layout has rendered
    if connected:
        watch.wait_until(lambda: watch.flash_ws_console("info"), "the flash_ws client to connect")
    return watch
