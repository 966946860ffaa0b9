"""Graceful shutdown of a worker: learn of it early, stop taking sessions and runs, send pages
elsewhere, let running generators finish within ``shutdown_grace``, then end the rest.

Hypercorn closes its listening sockets when told to stop (SIGTERM or SIGINT to its master, which
sets a shared event its worker processes poll) and gives open connections ``graceful_timeout``
seconds before cancelling them; Quart's ``after_serving`` runs only after that, too late to tell
pages. ``ShutdownWatch`` therefore watches the same event hypercorn's workers poll (``hypercorn
--workers N``, the default of 1 included) and chains itself to the event loop's SIGTERM/SIGINT
handlers (``app.run``, ``hypercorn.asyncio.serve`` in-process) or, where the server installed a
Python signal handler instead (uvicorn, which waits for every open response, event streams
included, before the app's lifespan hears of the shutdown), to that. ``Drain.begin()`` may also be
called directly by a server of one's own.

The drain: new sessions are refused (WebSocket close 1013 TRY_AGAIN_LATER, HTTP 503) and new runs
end as refused; connections whose session has nothing running here are closed at once with
RECONNECT (1012); generators get ``shutdown_grace`` seconds to finish; the rest end as error
``worker_shutdown`` (the page applies their ``reset_props``), and once those end frames are sent
(and stored, with Redis) the remaining connections are closed with RECONNECT too.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import signal
import threading
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
        stored = live.sendable_seq()
        if stored is not None and stored < core.replay.last_seq:
            return False
        local = live.connection is not None and live.connection in self.service.connections
        return not local or core.sent_seq >= core.replay.last_seq


def _runs_of(live: SessionHandle) -> list[int]:
    """The runs of ``live`` driven here (none for a handle on a session owned elsewhere)."""
    return live.core.active_runs() if isinstance(live, LiveSession) else []


class ShutdownWatch:
    """Calls ``drain.begin`` as soon as the server is told to stop (see the module docstring)."""

    def __init__(self, drain: Drain) -> None:
        self.drain = drain
        self._poller: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Quart's ``before_serving``."""
        loop = asyncio.get_running_loop()
        self._chain_signal_handlers(loop)
        event = hypercorn_shutdown_event()
        if event is not None and self._poller is None:
            self._poller = loop.create_task(self._poll(event), name="flash_ws shutdown watch")

    async def stop(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            self._poller = None

    async def _poll(self, event: Any) -> None:
        while not event.is_set():
            await asyncio.sleep(POLL)
        self.drain.begin("hypercorn is shutting down")

    def _chain_signal_handlers(self, loop: asyncio.AbstractEventLoop) -> None:
        """Run ``drain.begin`` first, then the server's own handler, on SIGTERM and SIGINT: a handler
        on the event loop (hypercorn's ``serve``, ``app.run``) or a Python signal handler (uvicorn's,
        which otherwise waits for every open event stream to end before the app hears of it)."""
        handlers = getattr(loop, "_signal_handlers", {})
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous = handlers.get(signum)
            if previous is not None:
                if getattr(previous, "_callback", None) != self._on_signal:
                    loop.add_signal_handler(signum, self._on_signal, signum, previous._callback, previous._args)
                continue
            python_handler = signal.getsignal(signum)
            if (callable(python_handler) and not isinstance(python_handler, _ChainedHandler)
                    and threading.current_thread() is threading.main_thread()):
                signal.signal(signum, _ChainedHandler(loop, self.drain, python_handler))

    def _on_signal(self, signum: int, callback: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self.drain.begin(f"{signal.Signals(signum).name} received")
        callback(*args)


class _ChainedHandler:
    """A Python signal handler that starts the drain on ``loop``, then calls the server's own."""

    def __init__(self, loop: asyncio.AbstractEventLoop, drain: Drain, previous: Callable[..., Any]) -> None:
        self.loop, self.drain, self.previous = loop, drain, previous

    def __call__(self, signum: int, frame: Any) -> None:
        if not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.drain.begin, f"{signal.Signals(signum).name} received")
        self.previous(signum, frame)

def hypercorn_shutdown_event() -> Any:
    """The event hypercorn's master sets to stop this worker process (None when not one of them)."""
    kwargs = getattr(multiprocessing.current_process(), "_kwargs", None) or {}
    event = kwargs.get("shutdown_event")
    return event if callable(getattr(event, "is_set", None)) else None

