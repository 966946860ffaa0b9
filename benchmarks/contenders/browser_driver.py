"""The flash_ws contenders with the real JS client, in headless Chromium (``--browser``).

The page loads the benchmark's Flash app through the row's proxy. Streams start the way a user
starts them: the driver sets the ``params`` store and clicks ``chart-<name>`` (Dash runs the trigger
group's clientside callback, which starts the run over the page's transport). The streams arrive as
``extendData`` points, which the client merges exactly, and are recorded where the page applies
them: ``dash_clientside.set_props`` is wrapped to note every point with its arrival time
(``performance.timeOrigin + performance.now()``, the machine's clock, like the server's
``time.time()``) instead of drawing them. A run has ended when the server says its producer stopped
and every update it produced has arrived.

Within ``shared_chromium()`` every driver opens its page in a new context (its own cookies, cache,
storage and workers) of one Chromium for the whole run instead of launching a Chromium of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import urllib.request
from collections.abc import AsyncIterator
from contextvars import ContextVar
from typing import Any

from benchmarks.contenders.base import ContenderUnavailable, Driver, Recorder, StreamSpec
from benchmarks.contenders.streams import STATUS_PATH, STREAM_NAMES

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]
RECORD_POINTS = """() => {
    window.__arrivals = [];
    const dc = window.dash_clientside, draw = dc.set_props;
    dc.set_props = (id, props) => {
        if (!props.extendData) return draw(id, props);
        const at = (performance.timeOrigin + performance.now()) / 1000, data = props.extendData[0];
        data.x[0].forEach((seq, i) => window.__arrivals.push([id, seq, data.y[0][i], at]));
    };
}"""
START = """([name, params]) => {
    window.dash_clientside.set_props('params', {data: params});
    document.getElementById('chart-' + name).click();
}"""


class Chromium:
    """A headless Chromium, launched at the first ``browser()`` (again if it died), until ``stop()``."""

    def __init__(self) -> None:
        self._playwright: Any = None
        self._browser: Any = None
        self._lock = asyncio.Lock()

    async def browser(self) -> Any:
        async with self._lock:
            if self._browser is None or not self._browser.is_connected():
                from playwright.async_api import async_playwright

                executable = shutil.which("chromium")
                if executable is None:
                    raise ContenderUnavailable("needs Debian's chromium (apt-get install chromium)")
                if self._playwright is None:
                    self._playwright = await async_playwright().start()
                self._browser = await self._playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
            return self._browser

    async def stop(self) -> None:
        if self._browser is not None:
            await self._browser.close()
        if self._playwright is not None:
            await self._playwright.stop()
        self._browser = self._playwright = None


_SHARED: ContextVar[Chromium | None] = ContextVar("shared_chromium", default=None)


@contextlib.asynccontextmanager
async def shared_chromium() -> AsyncIterator[None]:
    """Within: the browser drivers share one Chromium (a context each), stopped on the way out."""
    chromium = Chromium()
    token = _SHARED.set(chromium)
    try:
        yield
    finally:
        _SHARED.reset(token)
        await chromium.stop()


class BrowserDriver(Driver):
    record_script = RECORD_POINTS
    start_script = START

    def __init__(self, transport: str) -> None:
        super().__init__()
        self.requested = transport
        self._own: Chromium | None = None  # the Chromium launched for this driver alone (no shared one)
        self._browser: Any = None
        self._context: Any = None
        self._page: Any = None
        self._base_url = ""
        self._info: list[str] = []

    @property
    def browser(self) -> Any:
        """The Playwright browser, once opened (the page trace starts Chromium's tracing on it)."""
        return self._browser

    @property
    def page(self) -> Any:
        """The Playwright page, once opened."""
        return self._page

    async def new_page(self, base_url: str) -> None:
        """A fresh page in a new context of the shared Chromium (or of one launched for this driver)."""
        chromium = _SHARED.get()
        if chromium is None:
            chromium = self._own = Chromium()
        self._base_url = base_url.rstrip("/")
        self._browser = await chromium.browser()
        self._context = await self._browser.new_context()
        self._page = await self._context.new_page()
        self._page.on("console", lambda message: self._info.append(message.text))

    async def open(self, base_url: str) -> None:
        await self.new_page(base_url)
        try:
            await self._page.goto(self._base_url + "/" + self.query(), timeout=20_000)
            await self.wait_ready()
        except Exception as exc:
            if isinstance(exc, ContenderUnavailable):
                raise
            raise ContenderUnavailable(f"the page did not load: {exc}") from exc
        await self._page.evaluate(self.record_script)
        self.transport = self.describe()

    def query(self) -> str:
        return "?flash_ws_transport=sse" if self.requested == "sse" else ""

    async def wait_ready(self) -> None:
        """Until the client is connected and Dash has rendered the layout (the chart buttons, which
        the streams are started by clicking; set_props before that finds no component)."""
        await self._page.wait_for_function("() => window.flash_ws && window.flash_ws.constructor.name === 'FlashClient'"
                                           " && window.dash_clientside && window.dash_clientside.set_props"
                                           f" && document.getElementById('chart-{STREAM_NAMES[-1]}') !== null",
                                           timeout=20_000)
        for _ in range(200):
            if any(text.startswith("flash_ws: connected over") for text in self._info):
                return
            await asyncio.sleep(0.05)
        raise ContenderUnavailable("the page's flash_ws client did not connect")

    def describe(self) -> str:
        connected = next(text for text in self._info if text.startswith("flash_ws: connected over"))
        transport = "browser " + ("sse" if " sse" in connected else "websocket")
        return transport + (" (fallback)" if "websocket failed" in connected else "")

    async def run(self, streams: list[StreamSpec], recorder: Recorder) -> None:
        keys = {spec.component: spec.key for spec in streams}
        for spec in streams:
            await self._page.evaluate(self.start_script, [spec.name, spec.params.to_json()])
        received = {spec.key: 0 for spec in streams}
        while True:
            arrivals = await self._page.evaluate("() => window.__arrivals.splice(0)")
            for component, seq, ts, at in arrivals:
                key = keys.get(component)
                if key is not None:
                    recorder.records[key].append((int(seq), float(ts), float(at)))
                    recorder.last_arrival = max(recorder.last_arrival, float(at))
                    received[key] += 1
            done = await asyncio.to_thread(self._finished, received)
            for key in done:
                recorder.end(key)
            if len(done) == len(received):
                return
            await asyncio.sleep(0.05)

    def _finished(self, received: dict[str, int]) -> list[str]:
        """Streams whose producer stopped and whose every update arrived (asked through the proxy)."""
        done = []
        for key, count in received.items():
            try:
                with urllib.request.urlopen(f"{self._base_url}{STATUS_PATH}?key={key}", timeout=1) as response:
                    status = json.loads(response.read())
            except OSError:
                continue
            if status["known"] and not status["running"] and count >= status["produced"]:
                done.append(key)
        return done

    def count_connections(self) -> int:
        return sum(1 for text in self._info if text.startswith("flash_ws: connected over"))

    async def close(self) -> None:
        if self._page is not None:
            self.connections = self.count_connections()
        await self.close_page()

    async def close_page(self) -> None:
        """Close the page's context, and the Chromium launched for this driver alone."""
        if self._context is not None:
            await self._context.close()
        if self._own is not None:
            await self._own.stop()


class FloorBrowserDriver(BrowserDriver):
    """The browser floors (raw_browser.py): the bare page of a bare server, same arrivals, same
    finish rule. ``window.__start`` sends the stream's start over the page's one connection."""

    record_script = "() => { window.__arrivals.length = 0; }"
    start_script = "([name, params]) => window.__start(name, params)"

    def query(self) -> str:
        return ""

    async def wait_ready(self) -> None:
        await self._page.wait_for_function("() => window.__ready === true", timeout=20_000)

    def describe(self) -> str:
        return f"browser {self.requested} (bare)"

    def count_connections(self) -> int:
        return 1
