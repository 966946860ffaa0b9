"""The Redis Stream that carries one task's items: its key, the Redis holding it, and how its end
marker names an error. Shared by the task side (``task.py``) and the follower (``follow.py``).

The stream's Redis may be a node of a Redis Cluster: whether it is is asked once per process and
URL (``INFO cluster``, as the session store does); every command touches the task's one key."""

from __future__ import annotations

import threading
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


_cluster: dict[str, bool] = {}
_cluster_lock = threading.Lock()


def is_cluster_url(url: str) -> bool:
    """Whether ``url`` names a node of a Redis Cluster (asked once per process; an unreachable node
    counts as one server, and is asked again next time). Blocking: from asyncio, call it in a thread."""
    from ..server.redis_client import detect_cluster

    with _cluster_lock:
        if url not in _cluster:
            found = detect_cluster(url)
            if found is None:
                return False
            _cluster[url] = found
        return _cluster[url]


def async_client(url: str, cluster: bool) -> Any:
    """A ``redis.asyncio`` client (decoding replies) for the stream's Redis at ``url``."""
    from ..server.redis_client import make_client

    return make_client(url, "yes" if cluster else "no", decode_responses=True)


def describe(exc: Any) -> str:
    """An error as the end marker names it: ``Type: message``."""
    if isinstance(exc, BaseException):
        return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return str(exc)
