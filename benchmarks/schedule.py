"""When a load process starts each stream: the one schedule every ``scale`` contender's load follows.

Every start of one load process is spread evenly over ``spread`` seconds (one update period): no
two starts coincide, so the streams' updates reach a worker evenly over the period. ``PHASES`` says
how a page's own streams sit in it:

- ``together`` (the default): page after page, a page's streams one after another, as when one
  click starts them; their updates are due within a few milliseconds of each other, so a server
  may send them in one message (flash_ws does);
- ``apart``: a page's streams a fraction ``1 / streams`` of the period apart, so every update is
  due alone, and is one message whatever the server.

``scale_load`` (flash_ws), ``dash_stream_load`` (Dash 4.5) and ``scale_floor``'s bare servers all
start their streams this way, so their workers' CPU per update is measured under the same timing.
"""

from __future__ import annotations

import asyncio

PHASES = ("together", "apart")


def start_offset(page: int, stream: int, pages: int, streams: int, spread: float, phases: str = "together") -> float:
    """Seconds after the load's start at which stream ``stream`` of its ``page``-th page starts."""
    if phases == "apart":
        return spread * (stream / streams + page / max(1, pages * streams))
    return spread * (page * streams + stream) / max(1, pages * streams)


def starts_in_order(pages: int, streams: int, spread: float, phases: str = "together") -> list[tuple[float, int, int]]:
    """Every ``(offset, page, stream)`` of a load process, soonest first: the order to start them in."""
    return sorted((start_offset(page, stream, pages, streams, spread, phases), page, stream)
                  for page in range(pages) for stream in range(streams))


async def sleep_until(loop: asyncio.AbstractEventLoop, when: float) -> None:
    """Sleep until ``loop.time()`` reaches ``when`` (at once if it has)."""
    if (delay := when - loop.time()) > 0:
        await asyncio.sleep(delay)
