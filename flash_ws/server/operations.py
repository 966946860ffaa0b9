"""What running flash_ws in production adds to an app: ``_flash_ws/health`` (always),
``_flash_ws/metrics`` (when enabled), and its start and graceful shutdown (see ``draining``), as
framework-free answers and hooks that each backend's adapter calls."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass

from .. import logs
from . import metrics
from .draining import Drain, ShutdownWatch
from .health import health
from .metrics_access import Network, metrics_refusal, parse_allowed
from .requests import ClientRequest, HttpAnswer
from .service import FlashWsService

TRUE_WORDS = ("1", "true", "yes", "on")


@dataclass(frozen=True)
class OpsSettings:
    metrics: bool = False
    metrics_allowed: tuple[Network, ...] = ()
    metrics_token: str | None = None
    shutdown_grace: float = 5.0


def ops_settings(metrics_enabled: bool | None, metrics_allowed: Sequence[str], metrics_token: str | None,
                 shutdown_grace: float) -> OpsSettings:
    """The settings from ``Flash(...)`` arguments; ``metrics`` None reads ``FLASH_WS_METRICS``, and
    ``metrics_token`` None reads ``FLASH_WS_METRICS_TOKEN``."""
    if metrics_enabled is None:
        metrics_enabled = os.environ.get("FLASH_WS_METRICS", "").strip().lower() in TRUE_WORDS
    if shutdown_grace < 0:
        raise ValueError(f"shutdown_grace must be >= 0 seconds, got {shutdown_grace}")
    token = metrics_token if metrics_token is not None else os.environ.get("FLASH_WS_METRICS_TOKEN") or None
    return OpsSettings(metrics=metrics_enabled, metrics_allowed=parse_allowed(metrics_allowed), metrics_token=token,
                       shutdown_grace=shutdown_grace)


def _json(status: int, body: object) -> HttpAnswer:
    return HttpAnswer(status, [("Content-Type", "application/json"), ("Cache-Control", "no-store")], json.dumps(body).encode())


class Operations:
    """The health and metrics answers and the start and stop of one app's service."""

    def __init__(self, service: FlashWsService, settings: OpsSettings) -> None:
        self.service = service
        self.settings = settings
        self.drain = Drain(service, settings.shutdown_grace)
        self._watch = ShutdownWatch(self.drain)
        if settings.metrics:
            metrics.enable()

    async def health(self, req: ClientRequest) -> HttpAnswer:
        body, status = await health(self.service, liveness_only=req.arg("probe") == "live")
        return _json(status, body)

    async def metrics(self, req: ClientRequest) -> HttpAnswer:
        """The Prometheus exposition; 404 when metrics are off (not Dash's page with 200, which a
        scraper would take for an answer), 403 to a client that may not read them."""
        if not self.settings.metrics:
            return _json(404, {"code": "not_found", "message": "metrics are off (Flash(metrics=True) turns them on)"})
        why = metrics_refusal(req.remote_addr, req.headers, self.settings.metrics_allowed,  # type: ignore[arg-type]
                              self.settings.metrics_token)
        if why:
            return _json(403, {"code": "forbidden", "message": why})
        body, content_type = metrics.exposition()
        return HttpAnswer(200, [("Content-Type", content_type)], body)

    async def starting(self) -> None:
        """Before the server serves: flash_ws's log format applies (process wide: here, not when an
        app is constructed), the session store starts, the shutdown watch begins."""
        logs.configure(self.service.settings.log_format)
        await self.service.store.start()
        await self._watch.start()

    async def stopping(self) -> None:
        """After the server stopped serving: drain (the last frames still reach the store), then
        stop the store."""
        await self._watch.stop()
        try:
            await self.drain.finish()
            if self.settings.metrics:
                metrics.process_exited()
        finally:
            await self.service.store.stop()
