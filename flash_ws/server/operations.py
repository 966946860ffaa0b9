"""What running flash_ws in production adds to an app: ``_flash_ws/health`` (always),
``_flash_ws/metrics`` (when enabled), and its start and graceful shutdown (see ``draining``), as
framework-free answers and hooks that each backend's adapter calls."""

from __future__ import annotations

import json
import logging
import os

from .. import logs
from . import metrics
from .draining import Drain
from .gc_tuning import tune_gc
from .health import health
from .metrics_access import metrics_refusal
from .requests import ClientRequest, HttpAnswer
from .service import FlashWsService
from .shutdown_watch import ShutdownWatch

TRUE_WORDS = ("1", "true", "yes", "on")
log = logging.getLogger("flash_ws")


def metrics_from_environment(enabled: bool | None, token: str | None) -> tuple[bool, str | None]:
    """``metrics`` None reads ``FLASH_WS_METRICS``; ``metrics_token`` None reads ``FLASH_WS_METRICS_TOKEN``."""
    if enabled is None:
        enabled = os.environ.get("FLASH_WS_METRICS", "").strip().lower() in TRUE_WORDS
    return enabled, token if token is not None else os.environ.get("FLASH_WS_METRICS_TOKEN") or None


def _json(status: int, body: object) -> HttpAnswer:
    return HttpAnswer(status, [("Content-Type", "application/json"), ("Cache-Control", "no-store")], json.dumps(body).encode())


class Operations:
    """The health and metrics answers and the start and stop of one app's service."""

    def __init__(self, service: FlashWsService) -> None:
        self.service = service
        self.settings = service.settings
        self.drain = Drain(service, self.settings.shutdown_grace)
        self._watch = ShutdownWatch(self.drain)

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
        """Before the server serves: flash_ws's log format, garbage collector tuning and metrics apply
        (process wide: here, not when an app is constructed), the session store starts (with Redis, the workers agree on the
        secret that signs browser keys), the shutdown watch begins."""
        logs.configure(self.settings.log_format)
        if self.settings.gc_tuning:
            tune_gc()
        if self.settings.metrics:
            metrics.enable()  # the process's Prometheus registry: here too, not when an app is made
            if not (self.settings.metrics_token or self.settings.metrics_allowed):
                log.warning("flash_ws: metrics are on but no client may read them: set metrics_token "
                            "(FLASH_WS_METRICS_TOKEN) for the scraper to send as a bearer, or metrics_allowed for its "
                            "addresses (loopback clients are not open by default: a proxy on this machine makes "
                            "every client look local)")
        await self.service.store.start()
        await self.service.share_key_secret()
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
