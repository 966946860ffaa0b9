"""Stream a Celery task's progress and partial results through an event callback.

The task side appends every item it reports to a Redis Stream keyed by its task id; the callback
side reads that stream in order (``XREAD BLOCK``) and yields each item as it arrives, so no item is
skipped, duplicated or reordered (unlike polling ``update_state`` meta, which only keeps the
latest value). Closing the callback (the page cancels it, starts it again or goes away) revokes
the task when the follower submitted it (``follow(task.s(...))``); a task submitted elsewhere and
followed by its ``AsyncResult`` is revoked only when asked (``follow(result, revoke=True)``).

Worker side::

    from celery import Celery
    from flash_ws.celery import StreamingTask

    celery_app = Celery("tasks", broker="redis://127.0.0.1:6379/0", backend="redis://127.0.0.1:6379/0")

    @celery_app.task(bind=True, base=StreamingTask)
    def crunch(self, chunks):
        for i in range(chunks):
            rows = work_on(i)
            self.report({"done": i + 1, "total": chunks, "rows": rows})   # JSON-serialisable
        return {"chunks": chunks}

Dash side::

    from flash_ws.celery import follow

    @event_callback(Input("start", "n_clicks"), cancel=[(Input("stop", "n_clicks"), 0)])
    async def run(n_clicks):
        async with follow(crunch.s(20)) as items:     # submits the task, revokes it on close
            async for item in items:
                yield stream_props("progress", {"value": item["done"], "max": item["total"]})

Items must be JSON-serialisable (``json.dumps``): they travel through Redis as JSON, so tuples
come back as lists and dict keys as strings. The stream lives in the Redis of the Celery broker
(``broker_url``) unless the app sets ``flash_ws_stream_url``; it needs Redis 6.2 or later. A result
backend is strongly advised: without one, a task whose worker dies is only noticed through
``idle_timeout``.

Install with ``pip install "flash_ws[celery]"``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import AsyncGenerator, Coroutine
from typing import Any

import redis
import redis.asyncio as aioredis
from celery import Task, states
from celery.backends.base import DisabledBackend
from celery.canvas import Signature
from celery.result import AsyncResult

__all__ = ["STREAM_PREFIX", "StreamingTask", "TaskFailed", "TaskStream", "follow", "stream_key", "submit_and_follow"]

log = logging.getLogger(__name__)

STREAM_PREFIX = "flash_ws:celery:"
STREAM_URL_SETTING = "flash_ws_stream_url"
_REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
_READ_COUNT = 256


class TaskFailed(Exception):
    """The followed task failed, was revoked by someone else, or its worker died.

    ``str(exc)`` names the task and the error, e.g.
    ``Celery task tasks.crunch[4f0c…] failed: ValueError: chunk 3 is corrupt``.
    """

    def __init__(self, task_name: str | None, task_id: str, state: str, error: str) -> None:
        self.task_name, self.task_id, self.state, self.error = task_name, task_id, state, error
        what = "was revoked" if state == states.REVOKED else "failed"
        super().__init__(f"Celery task {task_name or '?'}[{task_id}] {what}" + (f": {error}" if error else ""))


def stream_key(task_id: str) -> str:
    """The Redis key of the stream that carries the items of task ``task_id``."""
    return STREAM_PREFIX + task_id


def _stream_url(app: Any, redis_url: str | None = None) -> str:
    """``redis_url``, else the app's ``flash_ws_stream_url`` setting, else its broker URL (if Redis)."""
    url = redis_url or app.conf.get(STREAM_URL_SETTING) or app.conf.broker_url
    if isinstance(url, str) and ";" in url:  # a failover list: the first broker
        url = url.split(";", 1)[0].strip()
    if not isinstance(url, str) or not url.startswith(_REDIS_SCHEMES):
        scheme = url.split("://", 1)[0] if isinstance(url, str) else type(url).__name__  # never the URL's credentials
        raise ValueError(f"flash_ws.celery streams through Redis, but the broker of Celery app {app.main!r} is {scheme!r}: "
                         f"set app.conf.{STREAM_URL_SETTING} = 'redis://host:6379/0' (or pass redis_url=)")
    return url


# --- the task side -----------------------------------------------------------------------------

_clients: dict[tuple[int, str], redis.Redis] = {}


def _client(url: str) -> redis.Redis:
    """One synchronous client per process and URL (prefork children each get their own)."""
    key = (os.getpid(), url)
    client = _clients.get(key)
    if client is None:
        client = _clients[key] = redis.Redis.from_url(url)
    return client


class StreamingTask(Task):
    """Base class for tasks that report items to a follower: ``@app.task(bind=True, base=StreamingTask)``.

    The stream is opened when the task starts and closed with an end marker (its final state, the
    error of a failure, the return value when it is JSON-serialisable) when it returns or raises.
    ``stream_ttl`` (seconds, refreshed at each report) bounds how long an unread stream stays in Redis.
    """

    stream_ttl: int = 3600

    def report(self, item: Any) -> bool:
        """Append ``item`` (JSON-serialisable) to this run's stream, after every item reported before.

        Returns False when nobody follows the task any more (the follower was closed and deleted
        the stream): a task may stop early then. Call it from inside the running task only.
        """
        task_id = self.request.id
        if task_id is None:
            raise RuntimeError(f"{self.name}.report() is for a task running on a worker (self.request.id is None)")
        try:
            data = json.dumps(item, separators=(",", ":"))
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{self.name}.report() takes JSON-serialisable items: {exc}") from None
        return self._append(task_id, {"kind": "item", "data": data}, create=False)

    def before_start(self, task_id: str, args: Any, kwargs: Any) -> None:
        """Open the stream (reports never create it, so none lands after the follower deleted it)."""
        self._append(task_id, {"kind": "start", "task": self.name}, create=True)

    def after_return(self, status: str, retval: Any, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        """Write the end marker: the final state, and the error or the return value."""
        fields = {"kind": "end", "task": self.name, "state": status}
        if status == states.FAILURE:
            fields["error"] = _describe(retval)
        else:
            try:
                fields["result"] = json.dumps(retval, separators=(",", ":"))
            except (TypeError, ValueError):
                pass  # the follower's return_value stays None
        self._append(task_id, fields, create=False)

    def _append(self, task_id: str, fields: dict[str, str], create: bool) -> bool:
        key = stream_key(task_id)
        pipe = _client(_stream_url(self.app)).pipeline(transaction=True)
        pipe.xadd(key, fields, nomkstream=not create)
        pipe.expire(key, self.stream_ttl)
        entry_id, _ = pipe.execute()
        return entry_id is not None


def _describe(exc: Any) -> str:
    if isinstance(exc, BaseException):
        return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return str(exc)


# --- the callback side -------------------------------------------------------------------------

class TaskStream:
    """The items a Celery task reports, in order: an async iterator and an async context manager.

    Iterating submits the task first when built from a signature. It ends when the task succeeds,
    and raises :class:`TaskFailed` when the task fails, is revoked elsewhere or its worker dies.
    Closing it early (``aclose()``, leaving ``async with``, cancellation) revokes the task with
    ``terminate=True`` when ``revoke`` (default: only a task submitted from a signature here), and
    then deletes the stream's Redis key; a task left running keeps its stream (it expires after
    ``stream_ttl``), so it can be followed again. A task that ended has its stream deleted.
    """

    def __init__(self, target: AsyncResult | Signature, *, redis_url: str | None = None, poll_interval: float = 1.0,
                 idle_timeout: float | None = None, revoke: bool | None = None) -> None:
        if revoke is not None and not isinstance(revoke, bool):
            raise TypeError(f"revoke must be True, False or None (revoke what this follower submitted), got {revoke!r}")
        if isinstance(target, AsyncResult):
            self.result: AsyncResult | None = target
            self._signature: Signature | None = None
            self.task_name: str | None = None  # AsyncResult.name would ask the backend: the end marker tells
            app = target.app
        elif isinstance(target, Signature):
            self.result, self._signature = None, target
            self.task_name = target.task
            app = target.app
        else:
            raise TypeError(f"follow() takes an AsyncResult or a task signature (task.s(...)), got {target!r}")
        if poll_interval <= 0:
            raise ValueError(f"poll_interval must be positive, got {poll_interval!r}")
        self.redis_url = _stream_url(app, redis_url)
        self.poll_interval = poll_interval
        self.idle_timeout = idle_timeout
        self.revoke_on_close = revoke if revoke is not None else self._signature is not None
        self.return_value: Any = None
        self.finished = False  # the task ended (done or failed): nothing to revoke
        self._submitting: asyncio.Future[AsyncResult] | None = None
        self._items: AsyncGenerator[Any, None] | None = None
        self._cleaned = False

    @property
    def task_id(self) -> str | None:
        """The task's id, once submitted."""
        return None if self.result is None else self.result.id

    async def submit(self) -> AsyncResult:
        """Submit the task (once; in a thread, as ``apply_async`` blocks) and return its AsyncResult."""
        if self.result is None:
            if self._submitting is None:
                assert self._signature is not None
                self._submitting = asyncio.ensure_future(asyncio.to_thread(self._signature.apply_async))
            # shielded: if we are cancelled meanwhile, the submission completes and close() revokes it
            self.result = await asyncio.shield(self._submitting)
        return self.result

    def __aiter__(self) -> TaskStream:
        return self

    async def __anext__(self) -> Any:
        if self._items is None:
            if self._cleaned:
                raise StopAsyncIteration
            self._items = self._follow()
        return await self._items.__anext__()

    async def __aenter__(self) -> TaskStream:
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop following: revoke the task unless it has ended, and delete its stream."""
        if self._items is not None:
            await self._items.aclose()  # its finally cleans up
        await _to_the_end(self._cleanup())

    async def _follow(self) -> AsyncGenerator[Any, None]:
        client: aioredis.Redis | None = None
        try:
            result = await self.submit()
            key = stream_key(result.id)
            client = aioredis.Redis.from_url(self.redis_url, decode_responses=True)
            last, heard = "0-0", time.monotonic()
            while True:
                response = await client.xread({key: last}, count=_READ_COUNT, block=max(1, int(self.poll_interval * 1000)))
                entries = _entries(response)
                if not entries:
                    state = await self._state()
                    if state not in states.READY_STATES:
                        if self.idle_timeout is not None and time.monotonic() - heard > self.idle_timeout:
                            raise TimeoutError(f"Celery task {self.task_name or '?'}[{result.id}] reported nothing for "
                                               f"{self.idle_timeout:g} s (state {state or 'unknown'})")
                        continue
                    # it ended without an end marker we saw (worker lost, or the marker is late): what it
                    # reported before ending is in the stream already, so read the rest and stop
                    entries = _entries(await client.xread({key: last}))
                    for entry_id, fields in entries:
                        last = entry_id
                        if fields.get("kind") == "item":
                            yield json.loads(fields["data"])
                        elif fields.get("kind") == "end":
                            self._end(fields)
                            return
                    await self._end_by_state(state)
                    return
                heard = time.monotonic()
                for entry_id, fields in entries:
                    last = entry_id
                    kind = fields.get("kind")
                    if kind == "item":
                        yield json.loads(fields["data"])
                    elif kind == "end":
                        self._end(fields)
                        return
        finally:
            await _to_the_end(self._cleanup(client))

    def _end(self, fields: dict[str, str]) -> None:
        """Finish on the end marker: keep the return value, or raise the task's error."""
        self.finished = True
        self.task_name = fields.get("task") or self.task_name
        state = fields.get("state", states.SUCCESS)
        if state == states.SUCCESS:
            if "result" in fields:
                self.return_value = json.loads(fields["result"])
            return
        assert self.result is not None
        raise TaskFailed(self.task_name, self.result.id, state, fields.get("error") or state)

    async def _state(self) -> str | None:
        """The task's state from the result backend; None without one."""
        assert self.result is not None
        if isinstance(self.result.backend, DisabledBackend):
            return None
        result = self.result
        return await asyncio.to_thread(lambda: result.state)

    async def _end_by_state(self, state: str | None) -> None:
        """Finish from the result backend alone (no end marker): SUCCESS ends, anything else raises."""
        self.finished = True
        result = self.result
        assert result is not None
        if state == states.SUCCESS:
            value = await asyncio.to_thread(lambda: result.result)
            try:
                json.dumps(value)
                self.return_value = value
            except (TypeError, ValueError):
                pass
            return
        if self.task_name is None:
            self.task_name = await asyncio.to_thread(lambda: result.name)  # known with result_extended
        if state == states.FAILURE:
            error = await asyncio.to_thread(lambda: result.result)
            raise TaskFailed(self.task_name, result.id, state, _describe(error))
        raise TaskFailed(self.task_name, result.id, state or "UNKNOWN", "")

    async def _cleanup(self, client: aioredis.Redis | None = None) -> None:
        """Once: revoke the task unless it ended, then delete its stream. Never raises (it runs in finally).

        It runs through ``_to_the_end``: a run is often cancelled twice (its Cancel, then its page
        closing), and a second cancellation must not stop it between the revoke and the delete.
        """
        if self._cleaned:
            if client is not None:
                await client.aclose()
            return
        self._cleaned = True
        if self.result is None and self._submitting is not None:
            try:  # cancelled while submitting: the submission completes in its thread, then is revoked
                self.result = await asyncio.shield(self._submitting)
            except Exception:  # nothing was submitted; submit() raised the error to its caller
                log.debug("flash_ws.celery: submitting %s failed", self.task_name, exc_info=True)
        result = self.result
        try:
            if result is None:
                return
            if not self.finished:
                if not self.revoke_on_close:
                    return  # it runs on: its stream stays for whoever follows it next
                try:
                    await asyncio.to_thread(result.revoke, terminate=True, signal="SIGTERM")
                except Exception:
                    log.warning("flash_ws.celery: could not revoke %s[%s]", self.task_name, result.id, exc_info=True)
            if client is None:
                client = aioredis.Redis.from_url(self.redis_url, decode_responses=True)
            try:
                await client.delete(stream_key(result.id))
            except Exception:
                log.warning("flash_ws.celery: could not delete the stream of %s[%s]", self.task_name, result.id, exc_info=True)
        finally:
            if client is not None:
                await client.aclose()


_cleanups: set[asyncio.Future[None]] = set()


async def _to_the_end(cleanup: Coroutine[Any, Any, None]) -> None:
    """Await ``cleanup``; if the caller is cancelled meanwhile, it still runs to its end in the background."""
    task = asyncio.ensure_future(cleanup)
    _cleanups.add(task)  # a strong reference until it is done
    task.add_done_callback(_cleanups.discard)
    await asyncio.shield(task)


def _entries(response: Any) -> list[tuple[str, dict[str, str]]]:
    """The entries of an XREAD reply on one stream (RESP2 list or RESP3 map)."""
    if not response:
        return []
    streams = response.values() if isinstance(response, dict) else (entries for _key, entries in response)
    found: list[tuple[str, dict[str, str]]] = []
    for entries in streams:
        if entries and isinstance(entries[0], list) and entries[0] and isinstance(entries[0][0], (list, tuple)):
            entries = entries[0]  # RESP3 wraps each stream's entries once more
        found.extend((entry_id, fields) for entry_id, fields in entries)
    return found


def follow(target: AsyncResult | Signature, *, redis_url: str | None = None, poll_interval: float = 1.0,
           idle_timeout: float | None = None, revoke: bool | None = None) -> TaskStream:
    """Follow a Celery task's reported items: ``async with follow(task.s(*args)) as items: async for item in items``.

    ``target`` is a signature (``task.s(...)``, submitted on first iteration, or by ``await
    items.submit()``) or the AsyncResult of a task already submitted. The task must use
    :class:`StreamingTask` (``base=StreamingTask``) and report JSON-serialisable items.

    - ``redis_url``: the Redis holding the streams; default the app's ``flash_ws_stream_url``
      setting, else its broker URL.
    - ``poll_interval``: seconds of silence after which the result backend is asked whether the
      task ended without its end marker (its worker died).
    - ``idle_timeout``: raise TimeoutError (and revoke the task) when it reports nothing for that
      long while not ended, e.g. queued with no worker (None, the default: wait).
    - ``revoke``: whether closing before the task ended revokes it (``terminate=True``). Default
      (None): yes for a signature, which this follower submits; no for an ``AsyncResult``, a task
      someone else submitted (it runs on, its stream kept for the next follower): pass
      ``revoke=True`` to stop it with the page.

    Use it with ``async with`` so that it is closed (and the task revoked) as soon as the event
    callback is; an unclosed stream is closed only when garbage-collected.
    """
    return TaskStream(target, redis_url=redis_url, poll_interval=poll_interval, idle_timeout=idle_timeout,
                      revoke=revoke)


def submit_and_follow(task: Task, *args: Any, **kwargs: Any) -> TaskStream:
    """``follow(task.s(*args, **kwargs))``: submit ``task`` with these arguments and follow its items."""
    return follow(task.s(*args, **kwargs))
