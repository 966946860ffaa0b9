"""What running flash_ws in production adds to an app: ``_flash_ws/health`` (always),
``_flash_ws/metrics`` (when enabled) and the graceful shutdown (see ``draining``)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from quart import Response, jsonify, request

from . import metrics
from .draining import Drain, ShutdownWatch
from .health import health
from .metrics_access import Network, metrics_refusal, parse_allowed

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


def install(app: Any, settings: OpsSettings, routes: str) -> Drain:
    """Add the health and metrics routes under ``routes`` (``<prefix>_flash_ws/``) and the shutdown
    hooks to ``app`` (a ``Flash``); must run before the session store's own ``after_serving``."""
    service = app.flash_ws
    drain = Drain(service, settings.shutdown_grace)
    watch = ShutdownWatch(drain)

    async def serve_health() -> Any:
        body, status = await health(service, liveness_only=request.args.get("probe") == "live")
        response = jsonify(body)
        response.status_code = status
        response.headers["Cache-Control"] = "no-store"
        return response

    app.server.route(routes + "health", methods=["GET"], endpoint="flash_ws_health")(serve_health)
    if settings.metrics:
        metrics.enable()

        async def serve_metrics() -> Any:
            why = metrics_refusal(request.remote_addr, request.headers,  # type: ignore[arg-type]  # a Mapping at run time
                                   settings.metrics_allowed, settings.metrics_token)
            if why:
                response = jsonify({"code": "forbidden", "message": why})
                response.status_code = 403
                return response
            body, content_type = metrics.exposition()
            return Response(body, content_type=content_type)

        app.server.route(routes + "metrics", methods=["GET"], endpoint="flash_ws_metrics")(serve_metrics)
    else:
        async def metrics_off() -> Any:  # not Dash's page with 200, which a scraper would take for an answer
            response = jsonify({"code": "not_found", "message": "metrics are off (Flash(metrics=True) turns them on)"})
            response.status_code = 404
            return response

        app.server.route(routes + "metrics", methods=["GET"], endpoint="flash_ws_metrics")(metrics_off)
    app.server.before_serving(watch.start)
    app.server.after_serving(watch.stop)
    app.server.after_serving(drain.finish)
    if settings.metrics:
        app.server.after_serving(metrics.process_exited)
    return drain
