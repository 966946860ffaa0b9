"""The Redis Stream that carries one task's items: its key, the Redis holding it, and how its end
marker names an error. Shared by the task side (``task.py``) and the follower (``follow.py``)."""

from __future__ import annotations

from typing import Any

STREAM_PREFIX = "flash_ws:celery:"
STREAM_URL_SETTING = "flash_ws_stream_url"
_REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


def stream_key(task_id: str) -> str:
    """The Redis key of the stream that carries the items of task ``task_id``."""
    return STREAM_PREFIX + task_id


def stream_url(app: Any, redis_url: str | None = None) -> str:
    """``redis_url``, else the app's ``flash_ws_stream_url`` setting, else its broker URL (if Redis)."""
    url = redis_url or app.conf.get(STREAM_URL_SETTING) or app.conf.broker_url
    if isinstance(url, str) and ";" in url:  # a failover list: the first broker
        url = url.split(";", 1)[0].strip()
    if not isinstance(url, str) or not url.startswith(_REDIS_SCHEMES):
        scheme = url.split("://", 1)[0] if isinstance(url, str) else type(url).__name__  # never the URL's credentials
        raise ValueError(f"flash_ws.celery streams through Redis, but the broker of Celery app {app.main!r} is {scheme!r}: "
                         f"set app.conf.{STREAM_URL_SETTING} = 'redis://host:6379/0' (or pass redis_url=)")
    return url


def describe(exc: Any) -> str:
    """An error as the end marker names it: ``Type: message``."""
    if isinstance(exc, BaseException):
        return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return str(exc)
