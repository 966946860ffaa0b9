"""Checks every transport applies: the Origin, and Dash's websocket hooks (the app's own auth)."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlparse

from ..protocol.close_codes import CloseCode

log = logging.getLogger("flash_ws")
Hook = Callable[..., Any]


def origin_refusal(origin: str | None, host: str | None, allowed: Iterable[str]) -> str | None:
    """Why a request from ``origin`` must be refused, or None when it is allowed."""
    if not origin:
        return "Origin header required"
    if origin in allowed or "*" in allowed:
        return None
    if host and urlparse(origin).netloc == host:
        return None
    return f"Origin {origin!r} not allowed (same host {host!r} or the app's allowed_origins)"


async def run_hooks(hooks: Iterable[Hook], *args: Any) -> tuple[int, str] | None:
    """Dash's websocket hooks: a falsy-False result or a (code, reason) tuple refuses."""
    for hook in hooks:
        try:
            result = hook(*args)
            if inspect.isawaitable(result):
                result = await result
        except Exception:
            log.exception("flash_ws: a websocket hook raised")
            return CloseCode.REJECTED, "Authentication error"
        if result is False:
            return CloseCode.REJECTED, "Rejected"
        if isinstance(result, tuple) and len(result) == 2:
            return int(result[0]), str(result[1])
    return None
