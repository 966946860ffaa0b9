"""The fault-injecting proxy (benchmarks.flaky_proxy) on its own event loop thread, for the
synchronous browser tests."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

from benchmarks.flaky_proxy import Faults, FlakyProxy


class ProxyThread:
    """A started FlakyProxy in front of ``upstream_port``; ``call`` runs a method on its loop."""

    def __init__(self, upstream_port: int, faults: Faults = Faults(), seed: int = 1) -> None:
        self.proxy = FlakyProxy(upstream_port, faults, seed)
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="flaky-proxy", daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.proxy.start(), self.loop).result(10)
        self.url = self.proxy.url

    def call(self, method: Callable[..., Any], *args: Any) -> None:
        self.loop.call_soon_threadsafe(method, *args)

    def set_faults(self, faults: Faults) -> None:
        """Faults for the connections accepted from now on."""
        self.call(setattr, self.proxy, "faults", faults)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.proxy.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
