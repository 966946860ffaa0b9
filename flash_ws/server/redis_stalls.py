"""Stalls of pages connected through another worker than their session's owner (the Redis store).

The worker holding such a page's connection has no replay buffer to judge (a ``RemoteSession``
reads the frames from Redis); the owner has it, and receives the page's acknowledgements forwarded.
So the owner judges: every quarter of ``stalled_session_timeout`` it looks at the sessions it owns
whose connection is a ``RemoteConnection``, with a ``StallClock`` per connection, as the heartbeat
watch does for a page connected to it (``stalls``). A stalled session is ended on the owner at once
(its replay memory goes back, its ``session_ended`` event says ``stalled``) and the connection's
worker is told (``Stalled``): that connection's heartbeat watch then ends it with the refusal
``stalled`` (WebSocket close 1008, HTTP 403, a shared stream's lane ``stalled``), at its next tick.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Protocol
from weakref import WeakKeyDictionary

from .log import session_name
from .redis_bus import Bus, Handlers, Stalled
from .redis_owned import OwnedSession
from .redis_remote import RemoteConnection, RemoteHandles
from .settings import Settings
from .stalls import StallClock, stalled_refusal

log = logging.getLogger("flash_ws")


class Owner(Protocol):
    """What the judge needs of the store (``RedisSessionStore``)."""

    bus: Bus
    handles: RemoteHandles

    def owned(self) -> list[OwnedSession]: ...

    def close(self, live: OwnedSession) -> None: ...


class RemoteStalls:
    """The owner's judge of pages connected elsewhere (``run``), and the connection side's handler
    of its verdict (``handlers``). ``timeout``: ``stalled_session_timeout``, set by the service."""

    def __init__(self, store: Owner, timeout: float = Settings.stalled_session_timeout) -> None:
        self.store, self.timeout = store, timeout
        self._clocks: WeakKeyDictionary[RemoteConnection, StallClock] = WeakKeyDictionary()

    async def run(self) -> None:
        """Judge the sessions owned here every quarter of ``timeout``."""
        while True:
            await asyncio.sleep(self.timeout / 4)
            self.judge(time.monotonic())

    def judge(self, now: float) -> None:
        """End the owned sessions whose page, connected to another worker, has stalled up to ``now``
        (a new connection of the page gets a new clock)."""
        for live in self.store.owned():
            connection = live.connection
            if isinstance(connection, RemoteConnection):
                clock = self._clocks.setdefault(connection, StallClock(self.timeout))
                if clock.stalled(live, now):
                    self._end(live, connection)

    def _end(self, live: OwnedSession, connection: RemoteConnection) -> None:
        log.warning("flash_ws: ending session %s of %s: %s", session_name(live.token), connection,
                    stalled_refusal(self.timeout).message)
        live.ending = "stalled"
        self.store.bus.send(connection.worker, Stalled(live.sid, connection.conn_id))
        self.store.close(live)

    def handlers(self) -> Handlers:
        return {Stalled: self._stalled}

    def _stalled(self, message: Stalled) -> None:
        """On the connection's worker: the owner ended the session as stalled; the connection's
        heartbeat watch ends it so (and counts the refusal)."""
        for _remote, connection in self.store.handles.connected(message.sid, message.conn_id):
            connection.stalled_by_owner = True
