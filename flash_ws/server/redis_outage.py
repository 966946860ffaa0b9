"""Redis trouble as one worker sees it: one log line when Redis stops answering, one when it is back,
and the refusal a page reads meanwhile (it never names the host, port or password)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable
from typing import TypeVar

from redis.connection import parse_url
from redis.exceptions import RedisError

from .sessions import StoreUnavailable

log = logging.getLogger("flash_ws")
UNAVAILABLE = "the session store (Redis) is unavailable"  # what a page may read: no host, port or password
T = TypeVar("T")


class Outage:
    """Whether Redis at ``url`` is failing, as seen by this worker's calls; ``back`` is set when it
    answers again after failing (the liveness loop beats at once)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.since: float | None = None
        self.back = asyncio.Event()

    async def call(self, awaitable: Awaitable[T]) -> T:
        """Await a Redis call; its failure becomes ``StoreUnavailable`` with a clear message."""
        try:
            return await awaitable
        except RedisError as exc:
            self.failed(exc, "pages cannot connect or resume until it returns")
            raise StoreUnavailable(f"{UNAVAILABLE}; try again later") from exc

    def failed(self, exc: Exception, consequence: str) -> None:
        """A call failed: log it (with ``consequence``) once per outage."""
        if self.since is None:
            self.since = time.monotonic()
            log.error("flash_ws: Redis at %s is unavailable (%s): %s", masked_url(self.url), exc, consequence)

    def recovered(self) -> None:
        """A call succeeded: end the outage, if there was one."""
        if self.since is not None:
            log.warning("flash_ws: Redis at %s is back after %.1f s", masked_url(self.url), time.monotonic() - self.since)
            self.since = None
            self.back.set()


def masked_url(url: str) -> str:
    """The Redis URL as logs may show it: scheme, host, port and db (or the socket's path), parsed
    by redis-py; never the username, password or query."""
    try:
        parts = parse_url(url)
    except (ValueError, TypeError):
        return "(a Redis URL that cannot be parsed)"
    scheme = url.partition("://")[0]
    if "path" in parts:
        return f"{scheme}://{parts['path']}?db={parts.get('db', 0)}"
    return f"{scheme}://{parts.get('host', 'localhost')}:{parts.get('port', 6379)}/{parts.get('db', 0)}"
