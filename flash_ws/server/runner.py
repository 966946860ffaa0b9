"""The stream runner: drives event-callback generators and feeds what they yield to sessions.

``StreamRunner`` is the interface; ``AsyncioStreamRunner`` runs every generator as a task of this
process (sync generators step in threads of their own pool, at most a few of one page at once,
so a ``time.sleep`` in one stalls no other stream, nor the server: sync_steps.py).

Errors out, secrets in: when a generator raises, the page gets the error code and a generic
message (the exception's text only when ``debug()`` is true at that moment); the server log gets
the whole of it with the callback, the run and the session's public id. ``on_error`` still
receives the real exception.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
from collections import Counter
from collections.abc import AsyncGenerator, Callable
from contextlib import AbstractContextManager
from contextvars import ContextVar
from typing import Any, Protocol

from ..callbacks import EventCallback
from ..protocol import ErrorInfo
from ..protocol.errors import FlashWsError
from ..stream import StreamProps, combine
from ..trigger_context import TriggerContext
from . import observe
from .log import session_name
from .sessions import LiveSession
from .sync_steps import DEFAULT_SYNC_THREADS, DEFAULT_SYNC_THREADS_PER_PAGE, SyncSteps

log = logging.getLogger("flash_ws")
_DONE = object()
CALLBACK_ERROR_MESSAGE = "the callback raised an exception; see the server log"


# What a backend's adapter sets while it hands the gate a client's message: a run started by that
# message runs inside what it opens (the Flask adapter: a request context made of the request, so
# flask.session, flask.g and Flask-Login's current_user read as in a Dash callback). A run's task
# copies the context it was started in; sync steps copy the run's.
RUN_CONTEXT: ContextVar[Callable[[], AbstractContextManager[Any]] | None] = ContextVar("flash_ws_run_context", default=None)


class BadYield(FlashWsError):
    """A generator yielded something that is not a stream_props result."""


class StreamRunner(Protocol):
    def start(self, live: LiveSession, run: int, callback: EventCallback, args: list[Any]) -> None: ...

    def cancel(self, live: LiveSession, run: int) -> None: ...

    def cancel_all(self, live: LiveSession) -> None: ...

    def lingering(self, live: LiveSession) -> int: ...


class AsyncioStreamRunner:
    """Runs each stream as an asyncio task keyed by (session, run); ``debug()`` is asked at the
    time of an error whether the page may see its text (default: never). Sync generators step in
    ``steps`` (sync_steps.py: a pool of their own, shared fairly between pages)."""

    def __init__(self, debug: Callable[[], bool] = lambda: False, steps: SyncSteps | None = None) -> None:
        self._tasks: dict[tuple[str, int], asyncio.Task[None]] = {}
        self._debug = debug
        self._steps = steps or SyncSteps(DEFAULT_SYNC_THREADS, DEFAULT_SYNC_THREADS_PER_PAGE)
        self._lingering: Counter[str] = Counter()  # sync generators of ended runs still in a thread, by session
        self._closing: set[asyncio.Task[None]] = set()

    def lingering(self, live: LiveSession) -> int:
        """Sync generators of ``live``'s ended runs whose step (or close) still holds a thread."""
        return self._lingering[live.token]

    def __len__(self) -> int:
        return len(self._tasks)

    def start(self, live: LiveSession, run: int, callback: EventCallback, args: list[Any]) -> None:
        key = (live.token, run)
        task = asyncio.get_running_loop().create_task(self._drive(live, run, callback, args), name=f"flash_ws {callback.name} run {run}")
        self._tasks[key] = task
        observe.run_started(callback.name)

        def stopped(task: asyncio.Task[None]) -> None:
            self._tasks.pop(key, None)
            observe.run_stopped(callback.name, task.cancelled())

        task.add_done_callback(stopped)

    def cancel(self, live: LiveSession, run: int) -> None:
        task = self._tasks.get((live.token, run))
        if task is not None:
            task.cancel()

    def cancel_all(self, live: LiveSession) -> None:
        for (token, _run), task in list(self._tasks.items()):
            if token == live.token:
                task.cancel()

    async def _drive(self, live: LiveSession, run: int, callback: EventCallback, args: list[Any]) -> None:
        """Run the generator to its end (the service checked the argument count), inside the
        context the adapter gave the message that started it (``RUN_CONTEXT``)."""
        opener = RUN_CONTEXT.get()
        with opener() if opener is not None else contextlib.nullcontext():
            args, page = callback.split_context(args)
            trigger = None
            if not callback.context_arg:  # dash.ctx for the generator: its task's, copied by its sync steps
                trigger = TriggerContext(callback.inputs, callback.states, args, page)
                trigger.enter()
            await self._iterate(live, run, callback, args, trigger)

    async def _iterate(self, live: LiveSession, run: int, callback: EventCallback, args: list[Any],
                       trigger: TriggerContext | None) -> None:
        # an async generator is iterated as it is: no layer between its yield and the session
        steps = callback.func(*args) if callback.is_async else self._thread_steps(live.token, callback, args)
        latest = LatestValues(live, run) if callback.backpressure == "latest" else None
        try:
            async for item in steps:
                stream = _checked(callback, item, trigger)
                if latest is None:
                    if not await _emit(live, run, stream):  # queued: the run was active, and nothing ran since
                        return
                    continue
                latest.offer(stream)
                if not live.is_active(run):
                    return
            if latest is not None:
                await latest.drain()
            _end(live, run, "done")
        except BadYield as exc:
            log.error("flash_ws: %s (run %d of session %s)", exc, run, session_name(live.token))
            shown = str(exc) if self._debug() else (f"event callback {callback.name} yielded something that is not "
                                                    "stream_props; see the server log")
            await _fail(live, run, callback, exc, ErrorInfo("bad_yield", shown))
        except Exception as exc:  # the user's generator raised
            log.error("flash_ws: event callback %s raised %s (run %d of session %s)", callback.name,
                      type(exc).__name__, run, session_name(live.token), exc_info=exc)
            shown = f"{type(exc).__name__}: {exc}" if self._debug() else CALLBACK_ERROR_MESSAGE
            await _fail(live, run, callback, exc, ErrorInfo("callback_error", shown))
        finally:
            if latest is not None:
                latest.discard()
            await steps.aclose()


    async def _thread_steps(self, page: str, callback: EventCallback, args: list[Any]) -> AsyncGenerator[Any, None]:
        """Step a sync generator in the step threads; close it there too, after its current step
        (until then it lingers: its thread is still the page's)."""
        gen = callback.func(*args)
        step: asyncio.Future[Any] | None = None
        try:
            while True:
                step = self._steps.run(page, next, gen, _DONE)
                item = await asyncio.shield(step)
                step = None
                if item is _DONE:
                    return
                yield item
        finally:
            self._lingering[page] += 1
            closing = asyncio.get_running_loop().create_task(self._close_after(page, gen, step))
            self._closing.add(closing)
            closing.add_done_callback(self._closing.discard)

    async def _close_after(self, page: str, gen: Any, step: asyncio.Future[Any] | None) -> None:
        try:
            if step is not None:
                step.cancel()  # a step still waiting for a thread never runs; one in a thread ends first
                await asyncio.wait([step])
            await self._steps.run(page, gen.close)
        finally:
            self._lingering[page] -= 1
            if not self._lingering[page]:
                del self._lingering[page]


def _checked(callback: EventCallback, item: Any, trigger: TriggerContext | None = None) -> StreamProps:
    """What a generator yielded as one update, its MATCH ids made this run's (``trigger``)."""
    stream = combine(item)
    if stream is None:
        raise BadYield(f"event callback {callback.name} yielded {type(item).__name__} {item!r:.60}; "
                       "yield stream_props(id, props) or a list of them")
    if trigger is None:
        return stream
    for cid, _props in stream.pairs:  # a loop, not any(): this runs for every update
        if isinstance(cid, dict):
            try:
                return trigger.resolved(stream)
            except ValueError as exc:
                raise BadYield(f"event callback {callback.name}: {exc}") from None
    return stream


async def _emit(live: LiveSession, run: int, stream: StreamProps) -> bool:
    """Queue one update once the page has room for it (backpressure); False when the run ended."""
    payload = stream.to_json()
    if not live.has_room():
        await observe.backpressure(live.wait_for_room())
    queued = live.emit(run, payload)
    observe.yielded(live)
    return queued


class LatestValues:
    """The ``backpressure="latest"`` mode: the generator never waits; while the page has no room,
    only the latest value of each component property is kept, and sent as one update when room comes."""

    def __init__(self, live: LiveSession, run: int) -> None:
        self.live, self.run = live, run
        self._pending: dict[str, tuple[Any, dict]] = {}
        self._flusher: asyncio.Task[None] | None = None

    def offer(self, stream: StreamProps) -> None:
        if not self._pending and self.live.has_room():
            self.live.emit(self.run, stream.to_json())
            observe.yielded(self.live)
            return
        for cid, props in stream.pairs:
            key = json.dumps(cid, sort_keys=True)
            held = self._pending.setdefault(key, (cid, {}))
            held[1].update(props)
        if self._flusher is None:
            self._flusher = asyncio.get_running_loop().create_task(self._flush())

    async def _flush(self) -> None:
        await self.live.wait_for_room()
        pending, self._pending, self._flusher = self._pending, {}, None
        self.live.emit(self.run, StreamProps(tuple(pending.values())).to_json())
        observe.yielded(self.live)

    async def drain(self) -> None:
        """Wait until what is held has been queued (before the run's end)."""
        if self._flusher is not None:
            await self._flusher

    def discard(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()


def _end(live: LiveSession, run: int, reason: Any, error: ErrorInfo | None = None) -> None:
    observe.run_ended(live.callback_of(run), error.code if error else reason)
    live.end(run, reason, error)


async def _fail(live: LiveSession, run: int, callback: EventCallback, exc: Exception, error: ErrorInfo) -> None:
    """Deliver what ``on_error`` returns, then end the run with ``error`` (the page resets)."""
    if callback.on_error is not None and isinstance(exc, Exception) and not isinstance(exc, BadYield):
        try:
            shown = callback.on_error(exc)
            if inspect.isawaitable(shown):
                shown = await shown
            stream = combine(shown) if shown is not None else None
            if shown is not None and stream is None:
                raise BadYield(f"on_error of {callback.name} returned {type(shown).__name__}, not stream_props")
            if stream is not None:
                live.emit(run, stream.to_json())
        except Exception:
            log.exception("flash_ws: on_error of %s raised (run %d of session %s)", callback.name, run, session_name(live.token))
    _end(live, run, "error", error)


__all__ = ["AsyncioStreamRunner", "StreamRunner", "BadYield"]
