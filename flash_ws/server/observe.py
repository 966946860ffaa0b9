"""What the transports, the service and the runner report about sessions and runs: one call per
event, turned here into Prometheus metrics (when enabled) and structured log lines.

Session events are logged on the ``flash_ws.events`` logger, one line each, with the fields
``event``, ``session`` (the public short id, never the token), ``worker``, ``transport`` and
``reason`` in the record's ``extra`` (``flash_ws.logs.JsonFormatter`` writes them as JSON).
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections import deque
from collections.abc import Awaitable
from typing import Any
from weakref import WeakKeyDictionary

from ..protocol.tokens import session_id
from . import metrics
from .sessions import LiveSession

log = logging.getLogger("flash_ws")
events_log = logging.getLogger("flash_ws.events")
_yield_times: WeakKeyDictionary[Any, deque[tuple[int, float]]] = WeakKeyDictionary()
_draining = False
_PROCESS = f"{socket.gethostname()}-{os.getpid()}"  # the worker's name without Redis (with it: the store's worker id)
MAX_TRACKED_YIELDS = 4096  # per session; older ones are dropped (their acknowledgement is not timed)


def transport_of(connection: Any) -> str:
    """``"websocket"`` or ``"sse"``: which transport ``connection`` is."""
    return "websocket" if str(getattr(connection, "description", "")).startswith("websocket") else "sse"


def short_id(token: str | None) -> str:
    """The part of a session token that may be shown (its public id, or 6 characters of an old token)."""
    if not token:
        return "-"
    return session_id(token) if "." in token else token[:6]


def session_event(event: str, token: str | None, worker: str | None, transport: str | None = None,
                  reason: str | None = None, level: int = logging.INFO) -> None:
    """One structured log line about a session."""
    fields = {"event": event, "session": short_id(token), "worker": worker or _PROCESS, "transport": transport or "-",
              "reason": reason or "-"}
    events_log.log(level, "flash_ws: session %s %s (worker %s, %s, %s)", fields["session"], event, fields["worker"],
                   fields["transport"], fields["reason"], extra=fields)


def session_attached(live: Any, connection: Any, resumed: bool, hello_seq: int, worker: str | None,
                     configured_transport: str) -> None:
    """A connection was bound to a new (``resumed`` False) or resumed session."""
    transport = transport_of(connection)
    session_event("resumed" if resumed else "opened", live.token, worker, transport)
    fallback = transport == "sse" and not resumed and configured_transport != "sse"
    if fallback:
        session_event("fallback", live.token, worker, transport, "page_choice")
    found = metrics.current()
    if found is None:
        return
    (found.sessions_resumed if resumed else found.sessions_opened).labels(transport).inc()
    found.connections.labels(transport).inc()
    if transport == "sse" and not resumed:
        found.fallbacks.labels("page_choice" if fallback else "transport_setting").inc()
    if resumed and isinstance(live, LiveSession):  # a handle on a session owned elsewhere replays from Redis
        found.frames_replayed.inc(max(0, live.core.replay.last_seq - hello_seq))


def connection_closed(connection: Any) -> None:
    """A connection bound by ``session_attached`` ended."""
    if (found := metrics.current()) is not None:
        found.connections.labels(transport_of(connection)).dec()


def session_ended(token: str, worker: str | None, reason: str) -> None:
    """A session this worker owned was closed: ``page_left``, ``expired``, ``worker_shutdown`` or
    ``stalled``."""
    session_event("lost" if reason != "page_left" else "closed", token, worker, reason=reason)
    if (found := metrics.current()) is not None:
        found.sessions_ended.labels(reason).inc()


def session_refused(transport: str, worker: str | None, reason: str) -> None:
    """A ``transport`` ("websocket" or "sse") connection was refused a session (``reason``: e.g.
    ``worker_draining``; the admission guard's codes fit too)."""
    session_event("refused", None, worker, transport, reason, logging.WARNING)
    if (found := metrics.current()) is not None:
        found.sessions_refused.labels(reason).inc()


def run_started(callback: str) -> None:
    if (found := metrics.current()) is not None:
        found.runs_started.labels(callback).inc()
        found.active_runs.inc()


def run_ended(callback: str | None, reason: str) -> None:
    """The runner ended a run: ``reason`` is done, or the error or refusal code."""
    if (found := metrics.current()) is not None:
        found.runs_ended.labels(callback or "-", reason).inc()


def run_stopped(callback: str, cancelled: bool) -> None:
    """A run's generator task finished; a cancelled one (cancel, re-trigger, page gone, shutdown)
    was not ended by the runner and is counted here, as ``worker_shutdown`` while draining."""
    if (found := metrics.current()) is not None:
        found.active_runs.dec()
        if cancelled:
            found.runs_ended.labels(callback, "worker_shutdown" if _draining else "cancelled").inc()


def message_sent(connection: Any, message: str) -> None:
    """A message went out on ``connection`` (a JSON array of frames)."""
    if (found := metrics.current()) is not None:
        transport = transport_of(connection)
        found.bytes_sent.labels(transport).inc(len(message.encode()))
        found.updates_sent.labels(transport).inc(message.count('{"t":"update","seq":'))


async def backpressure(wait: Awaitable[None]) -> None:
    """Await ``wait`` (a generator waiting for room), counting the time spent."""
    found = metrics.current()
    if found is None:
        await wait
        return
    started = time.monotonic()
    try:
        await wait
    finally:
        found.backpressure_wait.inc(time.monotonic() - started)


def refused_frame(code: str) -> None:
    if (found := metrics.current()) is not None:
        found.refused_frames.labels(code).inc()


def heartbeat_timeout(connection: Any) -> None:
    """``connection`` (a WebSocket, an event stream or a shared stream's lane) went silent past its
    heartbeat and is being closed."""
    log.info("flash_ws: %s went silent: closing it (the page will resume)", connection)
    if (found := metrics.current()) is not None:
        found.heartbeat_timeouts.labels(transport_of(connection)).inc()


def yielded(live: Any) -> None:
    """An update of ``live`` was just queued: remember when, to time its acknowledgement."""
    if metrics.current() is None:
        return
    times = _yield_times.get(live)
    if times is None:
        times = _yield_times[live] = deque(maxlen=MAX_TRACKED_YIELDS)
    seq = live.core.replay.last_seq
    if not times or times[-1][0] < seq:  # nothing new was queued when the run had ended meanwhile
        times.append((seq, time.monotonic()))


def acknowledged(live: Any) -> None:
    """``live`` processed a client message: time the updates its acknowledgement covers."""
    found, times = metrics.current(), _yield_times.get(live)
    if found is None or not times:
        return
    acked, now = live.core.replay.first_seq - 1, time.monotonic()
    while times and times[0][0] <= acked:
        found.ack_latency.observe(now - times.popleft()[1])


def draining(active: bool) -> None:
    """This worker started (or, in tests, stopped) draining."""
    global _draining
    _draining = active
    if (found := metrics.current()) is not None:
        found.draining.set(1 if active else 0)
