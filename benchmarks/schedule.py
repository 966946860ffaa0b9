"""When a load process starts each stream: the one schedule every ``scale`` contender's load follows.

Every start of one load process is spread evenly over ``spread`` seconds (one update period), page
after page: no two starts coincide, so the streams' updates reach a worker evenly over the period,
and a page's own streams start close together, as when one click starts them. ``scale_load``
(flash_ws), ``dash_stream_load`` (Dash 4.5) and ``scale_floor``'s bare servers all start their
streams this way, so their workers' CPU per update is measured under the same timing.
"""

from __future__ import annotations

import asyncio


def start_offset(page: int, stream: int, pages: int, streams: int, spread: float) -> float:
    """Seconds after the load's start at which stream ``stream`` of its ``page``-th page starts."""
    return spread * (page * streams + stream) / max(1, pages * streams)


async def sleep_until(loop: asyncio.AbstractEventLoop, when: float) -> None:
    """Sleep until ``loop.time()`` reaches ``when`` (at once if it has)."""
    if (delay := when - loop.time()) > 0:
        await asyncio.sleep(delay)
