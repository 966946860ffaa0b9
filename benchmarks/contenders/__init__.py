"""The contenders, by the names the JSON uses. Each one is a server and a client driver."""

from __future__ import annotations

import sys

from benchmarks.contenders.base import Contender, ContenderUnavailable, Driver, Recorder, StreamSpec
from benchmarks.servers import ServerProcess, hypercorn, python_module


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


CONTENDERS: dict[str, Contender] = {c.name: c for c in [
    Contender("flash_ws-ws", "flash_ws, default transport choice (reference client, transport='auto')",
              lambda: hypercorn("flash_ws-ws", "benchmarks.contenders.flash_ws_app:server"), _flash_ws("auto"), True),
    Contender("flash_ws-sse", "flash_ws forced to its SSE + POST fallback (transport='sse')",
              lambda: hypercorn("flash_ws-sse", "benchmarks.contenders.flash_ws_app:server"), _flash_ws("sse"), True),
    Contender("flash-sse-model", "a model of Flash 1.x's transport written for this benchmark (not Flash itself)",
              lambda: hypercorn("flash-sse-model", "benchmarks.contenders.flash_model_app:server"), _flash_model,
              False),
    Contender("dash-ws", "Dash 4.4's websocket callbacks (Dash(backend='quart', websocket_callbacks=True))",
              lambda: hypercorn("dash-ws", "benchmarks.contenders.dash_app:server"), _dash, False),
    Contender("flash_ws-ws-browser", "flash_ws, default transport choice, the real JS client in headless Chromium (--browser)",
              lambda: hypercorn("flash_ws-ws-browser", "benchmarks.contenders.flash_ws_app:server"), _browser("auto"), True),
    Contender("flash_ws-sse-browser", "flash_ws forced to SSE + POST (?flash_ws_transport=sse), the real JS client in Chromium",
              lambda: hypercorn("flash_ws-sse-browser", "benchmarks.contenders.flash_ws_app:server"), _browser("sse"), True),
    Contender("raw-websockets", "a bare websockets server, one message per update: the floor",
              lambda: python_module("raw-websockets", "benchmarks.contenders.raw_ws"), _raw, False),
    *(Contender(f"raw-{transport}-browser{suffix}", f"the browser floor: a bare {transport} server and a bare page, "
                f"{policy}, in headless Chromium (--browser)", _floor_server(f"raw-{transport}-browser{suffix}", kind, batch),
                _floor(kind), False, profiles=("clean",))
      for transport, kind in (("websockets", "websocket"), ("sse", "sse"))
      for suffix, batch, policy in (("", 1, "one update per message"), ("-batched", 64, "up to 64 updates per message"))),
]}

__all__ = ["CONTENDERS", "Contender", "ContenderUnavailable", "Driver", "Recorder", "StreamSpec"]
