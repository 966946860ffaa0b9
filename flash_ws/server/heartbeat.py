"""Heartbeats: the server pings every ``interval``; a connection silent for ``interval + timeout``
(no FIN, no RST, nothing) is declared dead so the page can reconnect and resume. The same watch ends
a connection whose session is stalled (stalls.py)."""

from __future__ import annotations

import asyncio
import itertools
import time

from .sessions import Connection, SessionHandle
from .stalls import StallClock


async def watch(live: SessionHandle, connection: Connection, interval: float, timeout: float,
                stall_timeout: float | None = None) -> str:
    """Ping through ``connection`` until it is replaced (returns "replaced"), silent too long ("dead")
    or, with ``stall_timeout``, its session stalled that long ("stalled")."""
    ids = itertools.count(1)
    stall = StallClock(stall_timeout) if stall_timeout else None
    ticks_per_ping = max(1, round(interval / (stall_timeout / 4))) if stall_timeout else 1
    ticks = itertools.count(1)
    while not connection.replaced:
        await asyncio.sleep(interval / ticks_per_ping)
        tick, now = next(ticks), time.monotonic()
        if connection.replaced:
            break
        if now - connection.last_heard > interval + timeout:
            return "dead"
        if stall is not None and stall.stalled(live, now):
            return "stalled"
        if tick % ticks_per_ping == 0:
            live.ping(next(ids))
    return "replaced"
