"""The contenders, by the names the JSON uses. Each one is a server and a client driver."""

from __future__ import annotations

import sys

from benchmarks.contenders.base import Contender, ContenderUnavailable, Driver, Recorder, StreamSpec
from benchmarks.servers import NoServer, ServerProcess, dash45_python, hypercorn, python_module, uvicorn


def _flash_ws(transport: str):
    def make() -> Driver:
        from benchmarks.contenders.flash_ws_driver import FlashWsDriver

        return FlashWsDriver(transport)

    return make


def _browser(transport: str):
    def make() -> Driver:
        from benchmarks.contenders.browser_driver import BrowserDriver

        return BrowserDriver(transport)

    return make


def _floor(transport: str):
    def make() -> Driver:
        from benchmarks.contenders.browser_driver import FloorBrowserDriver

        return FloorBrowserDriver(transport)

    return make


def _floor_server(name: str, transport: str, batch: int):
    return lambda: ServerProcess(name, [sys.executable, "-m", "benchmarks.contenders.raw_browser", "--port", "{port}",
                                        "--transport", transport, "--batch", str(batch)])


def _dash() -> Driver:
    from benchmarks.contenders.dash_driver import DashDriver

    return DashDriver()


def _flash_model() -> Driver:
    from benchmarks.contenders.flash_model_driver import FlashModelDriver

    return FlashModelDriver()


def _raw() -> Driver:
    from benchmarks.contenders.raw_driver import RawDriver

    return RawDriver()


FLASH_WS_ASGI = "benchmarks.contenders.flash_ws_app:app.asgi"
DASH_API_APP = "benchmarks.contenders.dash_stream_app:server"
DASH_API_PROFILES = ("clean", "lossy", "outage", "ws-blocked")  # wan would add only its 40 ms to clean's figures


def _dash_api_server(name: str, serve: str):
    """The Dash-API page; Dash's own streaming runs in the Dash 4.5 environment (servers.dash45_python)."""

    def make() -> ServerProcess:
        if serve == "flash":
            return hypercorn(name, DASH_API_APP, env={"FLASH_WS_BENCH_SERVE": serve})
        python, found = dash45_python()
        if python is None:
            return NoServer(name, found)
        return hypercorn(name, DASH_API_APP, python, {"FLASH_WS_BENCH_SERVE": serve})

    return make


def _dash_page(serve: str):
    def make() -> Driver:
        from benchmarks.contenders.dash_page_driver import DashPageDriver

        return DashPageDriver(serve, None if serve == "flash" else _unavailable())

    return make


def _unavailable() -> str | None:
    python, found = dash45_python()
    return found if python is None else None


CONTENDERS: dict[str, Contender] = {c.name: c for c in [
    Contender("flash_ws-ws", "flash_ws, default transport choice (reference client, transport='auto')",
              lambda: hypercorn("flash_ws-ws", "benchmarks.contenders.flash_ws_app:server"), _flash_ws("auto"), True),
    Contender("flash_ws-sse", "flash_ws forced to its SSE + POST fallback (transport='sse')",
              lambda: hypercorn("flash_ws-sse", "benchmarks.contenders.flash_ws_app:server"), _flash_ws("sse"), True),
    Contender("flash_ws-ws-fastapi", "flash_ws on Dash's FastAPI backend served by uvicorn, default transport choice",
              lambda: uvicorn("flash_ws-ws-fastapi", FLASH_WS_ASGI, {"FLASH_WS_BENCH_BACKEND": "fastapi"}), _flash_ws("auto"),
              True),
    Contender("flash_ws-sse-flask", "flash_ws on Dash's Flask backend (app.asgi) served by uvicorn, forced to SSE + POST",
              lambda: uvicorn("flash_ws-sse-flask", FLASH_WS_ASGI, {"FLASH_WS_BENCH_BACKEND": "flask"}), _flash_ws("sse"),
              True),
    Contender("flash-sse-model", "a model of Flash 1.x's transport written for this benchmark (not Flash itself)",
              lambda: hypercorn("flash-sse-model", "benchmarks.contenders.flash_model_app:server"), _flash_model,
              False),
    Contender("dash-ws", "Dash 4.4's websocket callbacks (Dash(backend='quart', websocket_callbacks=True))",
              lambda: hypercorn("dash-ws", "benchmarks.contenders.dash_app:server"), _dash, False),
    Contender("flash_ws-ws-browser", "flash_ws, default transport choice, the real JS client in headless Chromium (--browser)",
              lambda: hypercorn("flash_ws-ws-browser", "benchmarks.contenders.flash_ws_app:server"), _browser("auto"), True,
              in_chromium=True),
    Contender("flash_ws-sse-browser", "flash_ws forced to SSE + POST (?flash_ws_transport=sse), the real JS client in Chromium",
              lambda: hypercorn("flash_ws-sse-browser", "benchmarks.contenders.flash_ws_app:server"), _browser("sse"), True,
              in_chromium=True),
    Contender("dash-stream", "Dash 4.5's own streaming callbacks (async generators; NDJSON downlink in a SharedWorker), "
              "Dash(backend='quart'), the Dash-API page in Chromium", _dash_api_server("dash-stream", "dash"),
              _dash_page("dash"), False, DASH_API_PROFILES, in_chromium=True),
    Contender("dash-stream-ws", "Dash 4.5's streaming callbacks over its websocket callbacks (websocket_callbacks=True), "
              "the Dash-API page in Chromium", _dash_api_server("dash-stream-ws", "dash-ws"), _dash_page("dash-ws"), False,
              DASH_API_PROFILES, in_chromium=True),
    Contender("flash_ws-dash-api", "the same Dash-API page on Flash(...) instead of Dash(...): its streams over flash_ws, "
              "in Chromium", _dash_api_server("flash_ws-dash-api", "flash"), _dash_page("flash"), True, DASH_API_PROFILES,
              in_chromium=True),
    Contender("raw-websockets", "a bare websockets server, one message per update: the floor",
              lambda: python_module("raw-websockets", "benchmarks.contenders.raw_ws"), _raw, False),
    *(Contender(f"raw-{transport}-browser{suffix}", f"the browser floor: a bare {transport} server and a bare page, "
                f"{policy}, in headless Chromium (--browser)", _floor_server(f"raw-{transport}-browser{suffix}", kind, batch),
                _floor(kind), False, profiles=("clean",), in_chromium=True)
      for transport, kind in (("websockets", "websocket"), ("sse", "sse"))
      for suffix, batch, policy in (("", 1, "one update per message"), ("-batched", 64, "up to 64 updates per message"))),
]}

__all__ = ["CONTENDERS", "Contender", "ContenderUnavailable", "Driver", "Recorder", "StreamSpec"]
