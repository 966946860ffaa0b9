"""``_flash_ws/health``: liveness and readiness for load balancers and Kubernetes probes.

Readiness is false while the session store (Redis) cannot be reached or the worker is draining.
The answer names no address, token or URL: only states and short reasons.
"""

from __future__ import annotations

import asyncio
from typing import Any

STORE_PING_TIMEOUT = 1.0


async def store_problem(store: Any) -> str | None:
    """Why the session store cannot serve now (None when it can); the in-process store always can."""
    redis = getattr(store, "redis", None)
    if redis is None:
        return None
    try:
        await asyncio.wait_for(redis.ping(), STORE_PING_TIMEOUT)
    except Exception as exc:  # noqa: BLE001 - any failure means not ready; the reason stays generic
        return f"session store unreachable ({type(exc).__name__})"
    return None


async def health(service: Any, liveness_only: bool) -> tuple[dict[str, Any], int]:
    """The JSON body and status of a health probe: 200 when ready (or alive, for ``liveness_only``)."""
    if liveness_only:
        return {"live": True}, 200
    reasons = []
    if service.draining:
        reasons.append("worker draining (shutting down)")
    problem = await store_problem(service.store)
    if problem:
        reasons.append(problem)
    body = {"live": True, "ready": not reasons, "draining": service.draining,
            "store": "redis" if getattr(service.store, "redis", None) is not None else "in-process",
            "reasons": reasons}
    return body, 200 if not reasons else 503
