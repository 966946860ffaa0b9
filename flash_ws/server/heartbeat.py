"""Heartbeats: the server pings every ``interval``; a connection silent for ``interval + timeout``
(no FIN, no RST, nothing) is declared dead so the page can reconnect and resume."""

from __future__ import annotations

import asyncio
import itertools
import time

from .sessions import Connection, SessionHandle


async def watch(live: SessionHandle, connection: Connection, interval: float, timeout: float) -> str:
    """Ping through ``connection`` until it is replaced (returns "replaced") or silent too long ("dead")."""
    ids = itertools.count(1)
    while not connection.replaced:
        await asyncio.sleep(interval)
        if connection.replaced:
            break
        if time.monotonic() - connection.last_heard > interval + timeout:
            return "dead"
        live.ping(next(ids))
    return "replaced"
