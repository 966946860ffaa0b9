"""Graceful shutdown of a worker: stop taking sessions and runs, send pages elsewhere, let running
generators finish within ``shutdown_grace``, then end the rest.

``shutdown_watch.ShutdownWatch`` calls ``Drain.begin()`` as soon as the server is told to stop; a
server of one's own may call it directly. The drain: new sessions are refused (WebSocket close 1013
TRY_AGAIN_LATER, HTTP 503) and new runs end as refused; connections whose session has nothing
running here are closed at once with RECONNECT (1012); generators get ``shutdown_grace`` seconds to
finish; the rest end as error ``worker_shutdown`` (the page applies their ``reset_props``), and once
those end frames are sent (and stored, with Redis) the remaining connections are closed with
RECONNECT too.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from ..protocol import ErrorInfo
from ..protocol.close_codes import CloseCode
from . import observe
from .sessions import LiveSession, SessionHandle, SessionMoved, StoreUnavailable

log = logging.getLogger("flash_ws")
SHUTDOWN_ERROR = ErrorInfo("worker_shutdown", "the server was restarted: this stream was stopped")
POLL = 0.05
FLUSH_TIME = 1.0  # after ending the last runs: how long their end frames may take to leave


class WorkerDraining(StoreUnavailable):
    """This worker is shutting down: the page should connect again (to another worker)."""

    close_code = CloseCode.TRY_AGAIN_LATER


class Drain:
    """The shutdown of one app's service. ``service`` needs ``store``, ``runner``, ``connections``
    (connection -> session, kept by ``attach``/``detach``), ``worker_id`` and ``draining``."""

    def __init__(self, service: Any, grace: float) -> None:
        if grace < 0:
            raise ValueError(f"shutdown_grace must be >= 0 seconds, got {grace}")
        self.service = service
        self.grace = grace
        self._task: asyncio.Task[None] | None = None

    @property
    def task(self) -> asyncio.Task[None] | None:
        """The drain, once it began."""
        return self._task

    @property
    def draining(self) -> bool:
        return self.service.draining

    def begin(self, why: str = "asked to") -> None:
        """Start draining (once); returns at once, the drain goes on as a task."""
        if self._task is not None:
            return
        self.service.draining = True
        observe.draining(True)
        log.warning("flash_ws: worker %s shutting down (%s): refusing new sessions, pages reconnect elsewhere, "
                    "runs have %.1f s to finish", self.service.worker_id or "-", why, self.grace)
        self._task = asyncio.get_running_loop().create_task(self._drain(), name="flash_ws drain")

    async def finish(self) -> None:
        """Quart's ``after_serving``: drain now if nobody said so earlier, and wait for the end
        (before the session store stops: the last frames must still reach it)."""
        self.begin("the server stops serving")
        assert self._task is not None
        await self._task

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.grace
        while True:
            # A page whose session has nothing running here goes elsewhere at once; one with runs here
            # stays until they end: its end frames reach it directly, not after a reconnection that
            # may queue in the backlog of the listening socket hypercorn's master still holds.
            self._reconnect(lambda live: not _runs_of(live))
            if not any(_runs_of(live) for live in self.service.store) or loop.time() >= deadline:
                break
            await asyncio.sleep(POLL)
        ended = self._end_remaining_runs()
        flush_deadline = loop.time() + FLUSH_TIME
        while not all(self._flushed(live) for live in self.service.store) and loop.time() < flush_deadline:
            await asyncio.sleep(POLL)
        self._reconnect(lambda live: True)
        log.warning("flash_ws: worker %s drained: %d run(s) ended as worker_shutdown", self.service.worker_id or "-", ended)

    def _reconnect(self, which: Callable[[SessionHandle], bool]) -> None:
        """Close the connections (of this worker) whose session ``which`` selects with RECONNECT."""
        for connection, live in list(self.service.connections.items()):
            if connection.closing is None and not connection.replaced and which(live) and self._flushed(live):
                connection.closing = SessionMoved("the server is restarting: reconnect")
                connection.wakeup.set()

    def _end_remaining_runs(self) -> int:
        ended = 0
        for live in self.service.store:
            for run in live.core.active_runs():
                self.service.runner.cancel(live, run)  # counted as worker_shutdown by observe.run_stopped
                ended += live.core.end_run(run, "error", SHUTDOWN_ERROR)
            live.notify()
        return ended

    def _flushed(self, live: SessionHandle) -> bool:
        """Whether every frame of ``live`` is stored (Redis) and sent on this worker's connection."""
        if not isinstance(live, LiveSession):
            return True  # a handle on a session owned elsewhere: its owner flushes
        core = live.core
        if not live.is_stored():
            return False
        local = live.connection is not None and live.connection in self.service.connections
        return not local or core.sent_seq >= core.replay.last_seq


def _runs_of(live: SessionHandle) -> list[int]:
    """The runs of ``live`` driven here (none for a handle on a session owned elsewhere)."""
    return live.core.active_runs() if isinstance(live, LiveSession) else []
