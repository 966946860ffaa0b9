"""Learning of a worker's shutdown as early as possible, and fitting the drain inside it.

Hypercorn closes its listening sockets when told to stop (SIGTERM or SIGINT to its master, which
sets a shared event its worker processes poll) and gives open connections ``graceful_timeout``
seconds (3 by default) before cancelling them; the app's shutdown hooks run only after that, too
late to tell pages. ``ShutdownWatch`` therefore:

- watches the same event hypercorn's workers poll (``hypercorn --workers N``, the default of 1
  included), and fits the drain inside the server's ``graceful_timeout`` (a ``shutdown_grace``
  longer than it would be cut, and the pages left "running");
- handles a SIGTERM that reaches the worker itself (systemd's default ``KillMode=control-group``,
  Ctrl-C in a terminal, ``kill 0``: the whole process group), which would otherwise kill it at once;
- chains itself to the event loop's SIGTERM/SIGINT handlers (``app.run``, ``hypercorn.asyncio.serve``
  in-process) or to a server's Python signal handler (uvicorn's, which waits for every open
  response, event streams included, before the app's lifespan hears of the shutdown): that one
  hears of the signal once the drain is over, so uvicorn keeps listening during it.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
import threading
from collections.abc import Callable
from typing import Any

from .draining import FLUSH_TIME, POLL, Drain

log = logging.getLogger("flash_ws")
FLUSH_MARGIN = FLUSH_TIME + 0.5  # of the server's graceful timeout, kept for the last frames and closes


class ShutdownWatch:
    """Calls ``drain.begin`` as soon as the server is told to stop (see the module docstring)."""

    def __init__(self, drain: Drain) -> None:
        self.drain = drain
        self._poller: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """When the server starts serving."""
        loop = asyncio.get_running_loop()
        event = hypercorn_shutdown_event()
        if event is not None and self._poller is None:
            self._fit_graceful_timeout(getattr(hypercorn_worker_config(), "graceful_timeout", None))
            self._handle_sigterm_in_the_worker(loop, event)
            self._poller = loop.create_task(self._poll(event), name="flash_ws shutdown watch")
        self._chain_signal_handlers(loop)

    def _fit_graceful_timeout(self, graceful_timeout: float | None) -> None:
        """Give runs at most what the server's graceful timeout leaves once the last frames are sent."""
        if graceful_timeout is None or self.drain.grace + FLUSH_MARGIN <= graceful_timeout:
            return
        fitted = max(0.0, graceful_timeout - FLUSH_MARGIN)
        log.warning("flash_ws: shutdown_grace %.1f s does not fit hypercorn's graceful timeout (%.1f s): running "
                    "generators get %.1f s when this worker stops (raise --graceful-timeout to give them more)",
                    self.drain.grace, graceful_timeout, fitted)
        self.drain.grace = fitted

    def _handle_sigterm_in_the_worker(self, loop: asyncio.AbstractEventLoop, event: Any) -> None:
        """A hypercorn worker leaves SIGTERM to its master: one that reaches the worker (a signal to
        the process group) would kill it at once, by default or through what a library installed
        (Dash 4.5's stream shutdown handler re-raises it). Drain instead; then, unless the master is
        stopping the worker anyway, let the signal take its course."""
        if threading.current_thread() is not threading.main_thread():
            return
        previous = signal.getsignal(signal.SIGTERM)
        if not isinstance(previous, _WorkerSigterm):
            signal.signal(signal.SIGTERM, _WorkerSigterm(loop, self.drain, event, previous))

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
            if (callable(python_handler) and not isinstance(python_handler, (_ChainedHandler, _WorkerSigterm))
                    and threading.current_thread() is threading.main_thread()):
                signal.signal(signum, _ChainedHandler(loop, self.drain, python_handler))

    def _on_signal(self, signum: int, callback: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self.drain.begin(f"{signal.Signals(signum).name} received")
        callback(*args)


class _ChainedHandler:
    """A Python signal handler (uvicorn's) that drains on ``loop`` first and calls the server's own
    once the drain is over: uvicorn closes its listening socket and idle connections as soon as it
    hears, so a page's POSTs (acks, pongs) during the drain would fail, and an event-stream page
    drops its stream, end frames still to come, on a failed POST. A second signal (the operator
    insists) goes to the server at once."""

    def __init__(self, loop: asyncio.AbstractEventLoop, drain: Drain, previous: Callable[..., Any]) -> None:
        self.loop, self.drain, self.previous = loop, drain, previous
        self._heard = False

    def __call__(self, signum: int, frame: Any) -> None:
        if self._heard or self.loop.is_closed():
            self.previous(signum, frame)
            return
        self._heard = True
        self.loop.call_soon_threadsafe(self._drain_then_go_on, signum, frame)

    def _drain_then_go_on(self, signum: int, frame: Any) -> None:
        self.drain.begin(f"{signal.Signals(signum).name} received")
        task = self.drain.task
        assert task is not None  # begin() leaves one
        task.add_done_callback(lambda _: self.previous(signum, frame))


class _WorkerSigterm:
    """A hypercorn worker's SIGTERM handler: drain, then (unless the master stops the worker anyway)
    what the handler before it would have done, which by default is to die of the signal."""

    def __init__(self, loop: asyncio.AbstractEventLoop, drain: Drain, event: Any, previous: Any) -> None:
        self.loop, self.drain, self.event, self.previous = loop, drain, event, previous

    def __call__(self, signum: int, frame: Any) -> None:
        if not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self._drain_then_go_on)

    def _drain_then_go_on(self) -> None:
        self.drain.begin("SIGTERM received")
        task = self.drain.task
        if task is not None:
            task.add_done_callback(lambda _: None if self.event.is_set() else self._go_on())

    def _go_on(self) -> None:
        if callable(self.previous):
            self.previous(signal.SIGTERM, None)
        else:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)


def _worker_kwargs() -> dict[str, Any]:
    return getattr(multiprocessing.current_process(), "_kwargs", None) or {}


def hypercorn_shutdown_event() -> Any:
    """The event hypercorn's master sets to stop this worker process (None when not one of them)."""
    event = _worker_kwargs().get("shutdown_event")
    return event if callable(getattr(event, "is_set", None)) else None


def hypercorn_worker_config() -> Any:
    """The hypercorn ``Config`` this worker process was started with (None when not one of them)."""
    config = _worker_kwargs().get("config")
    return config if hasattr(config, "graceful_timeout") else None

