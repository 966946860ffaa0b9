"""The event callback side of flash_ws.celery: ``follow`` reads a task's Redis Stream in order."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncGenerator, Coroutine
from typing import Any

from celery import states
from celery.backends.base import DisabledBackend
from celery.canvas import Signature
from celery.result import AsyncResult

from ..protocol.errors import FlashWsError
from .redis_stream import async_client, describe, is_cluster_url, stream_key, stream_url

log = logging.getLogger("flash_ws.celery")

_READ_COUNT = 256


class TaskFailed(FlashWsError):
    """The followed task failed, was revoked by someone else, or its worker died.

    ``str(exc)`` names the task and the error, e.g.
    ``Celery task tasks.crunch[4f0c…] failed: ValueError: chunk 3 is corrupt``.
    """

    def __init__(self, task_name: str | None, task_id: str, state: str, error: str) -> None:
        self.task_name, self.task_id, self.state, self.error = task_name, task_id, state, error
        what = "was revoked" if state == states.REVOKED else "failed"
        super().__init__(f"Celery task {task_name or '?'}[{task_id}] {what}" + (f": {error}" if error else ""))


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
        self.redis_url = stream_url(app, redis_url)
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
        client: Any = None  # redis.asyncio's Redis, or RedisCluster
        cancel = _CancelWatch()
        try:
            result = await self.submit()
            key = stream_key(result.id)
            client = await self._client()
            last, heard = "0-0", time.monotonic()
            while True:
                response = await client.xread({key: last}, count=_READ_COUNT, block=max(1, int(self.poll_interval * 1000)))
                cancel.check()
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
            raise TaskFailed(self.task_name, result.id, states.FAILURE, describe(error))
        raise TaskFailed(self.task_name, result.id, state or "UNKNOWN", "")

    async def _client(self) -> Any:
        """A client of the stream's Redis (a cluster client when it is a node of a Redis Cluster)."""
        return async_client(self.redis_url, await asyncio.to_thread(is_cluster_url, self.redis_url))

    async def _cleanup(self, client: Any = None) -> None:
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
                client = await self._client()
            try:
                await client.delete(stream_key(result.id))
            except Exception:
                log.warning("flash_ws.celery: could not delete the stream of %s[%s]", self.task_name, result.id, exc_info=True)
        finally:
            if client is not None:
                await client.aclose()


class _CancelWatch:
    """Whether this task was asked to cancel since the watch began, even if a library on the way
    swallowed the ``CancelledError`` (a blocking read of some redis-py versions can: redis-py issues
    2028 and 2551); ``check`` raises it again, so the follower stops and revokes its task."""

    def __init__(self) -> None:
        self._task = asyncio.current_task()
        self._before = self._task.cancelling() if self._task is not None else 0

    def check(self) -> None:
        if self._task is not None and self._task.cancelling() > self._before:
            raise asyncio.CancelledError


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
