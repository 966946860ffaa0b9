"""The Dash-API page (benchmarks/contenders/dash_stream_app.py) in headless Chromium.

The same page for ``dash-stream`` / ``dash-stream-ws`` (Dash 4.5's own streaming) and
``flash_ws-dash-api`` (the page on ``Flash``): the driver sets the ``params`` store and clicks
``go-<name>``; the page's clientside callbacks note every ``[seq, ts]`` appended to a stream's store
with its arrival time, and the driver collects them as ``BrowserDriver`` does. The connections are
counted in the page (WebSocket, EventSource, SharedWorker and Worker constructions, plus the
SharedWorker's own downlink requests, which the proxy counts as connections too).
"""

from __future__ import annotations

import asyncio

from benchmarks.contenders.base import ContenderUnavailable, Recorder, StreamSpec
from benchmarks.contenders.browser_driver import BrowserDriver

COUNT_CONNECTIONS = """(() => { window.__arrivals = []; window.__opened = [];
  for (const name of ['WebSocket', 'EventSource', 'SharedWorker', 'Worker']) {
    const original = window[name];
    if (original) window[name] = new Proxy(original, {construct(target, args) {
      window.__opened.push(name); return new target(...args); }});
  }
})();"""
CLOSE_ASK_S = 1.0  # how long closing waits for a busy page to say what it opened
START = """([name, params]) => {
    window.dash_clientside.set_props('params', {data: params});
    document.getElementById('go-' + name).click();
}"""


class DashPageDriver(BrowserDriver):
    # Dash 4.5's renderer: a burst on a page that ran a stream before is not reset at once as on a new
    # page (seen in the rows); each phase gets a new page, as the three Dash-API rows always had.
    page_per_run = True

    def __init__(self, serve: str, unavailable: str | None = None) -> None:
        super().__init__("auto")
        self.serve = serve  # "dash", "dash-ws" or "flash"
        self.unavailable = unavailable
        self._opened: list[str] = []  # the connections the page constructed, as last seen

    async def open(self, base_url: str) -> None:
        if self.unavailable:
            raise ContenderUnavailable(self.unavailable)
        await self.new_page(base_url)
        await self._page.add_init_script(COUNT_CONNECTIONS)
        try:
            await self._page.goto(self._base_url + "/", timeout=20_000)
            await self._page.wait_for_function("() => window.dash_clientside && window.dash_clientside.set_props"
                                               " && document.getElementById('go-paced')", timeout=20_000)
            if self.serve == "flash":
                for _ in range(200):
                    if any(text.startswith("flash_ws: connected over") for text in self._info):
                        break
                    await asyncio.sleep(0.05)
                else:
                    raise ContenderUnavailable("the page's flash_ws client did not connect")
        except Exception as exc:
            if isinstance(exc, ContenderUnavailable):
                raise
            raise ContenderUnavailable(f"the page did not load: {exc}") from exc
        self.transport = {"dash": "browser: Dash 4.5 NDJSON downlink", "dash-ws": "browser: Dash 4.5 websocket callbacks",
                          "flash": "browser: flash_ws"}[self.serve]

    async def run(self, streams: list[StreamSpec], recorder: Recorder) -> None:
        for spec in streams:
            await self._page.evaluate(START, [spec.name, spec.params.to_json()])
        await self._collect(streams, recorder)

    def _reset_by_dash(self, since: int) -> str | None:
        """Dash 4.5's renderer logs a reset of the page's downlink (past its 32-frame window, or a lost
        connection): the streams on it are gone, whatever was not delivered is lost."""
        return next((text for text in self._info[since:] if "stream reset" in text), None)

    async def _collect(self, streams: list[StreamSpec], recorder: Recorder) -> None:
        keys = {spec.component: spec.key for spec in streams}
        received = {spec.key: 0 for spec in streams}
        logged = len(self._info)
        while True:
            arrivals, self._opened = await self._page.evaluate(
                "() => [(window.__arrivals || []).splice(0), (window.__opened || []).slice()]")
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
            reset = self._reset_by_dash(logged)
            if reset is not None:
                for key in received:
                    recorder.end(key, "reset by Dash")
                self.notes.append("Dash reset the downlink: " + reset.splitlines()[0][:120])
                return
            await asyncio.sleep(0.05)

    async def close(self) -> None:
        if self._page is not None:
            try:
                self._opened = await asyncio.wait_for(self._page.evaluate("() => window.__opened || []"), CLOSE_ASK_S)
            except Exception:  # the page is too busy to answer (or never loaded): what it said last
                self.notes.append(f"the page did not answer within {CLOSE_ASK_S:g} s: its connections as last seen")
            self.connections = len(self._opened)
            self.notes.append("the page opened: " + (", ".join(sorted(set(self._opened))) or "nothing but fetches"))
        await self.close_page()
