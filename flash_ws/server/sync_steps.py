"""The threads sync generators step in: a pool of flash_ws's own, shared fairly between pages.

A sync event callback's step (``next(gen)``) may block: a slow query, a ``time.sleep``. Steps run
in a pool of ``sync_threads`` threads that nothing else uses, so Dash's per-request work and the
server's own (which use asyncio's default pool) never wait for a callback. One page has at most
``sync_threads_per_page`` steps in threads at once; its further steps wait for one of its own to
finish, not for the whole pool, so a page whose steps block cannot take every thread. A step of a
cancelled run keeps its thread until it returns (Python cannot stop a thread): the runner counts
it as lingering for its page, and the service counts those against the page's ``max_active_runs``.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

DEFAULT_SYNC_THREADS = 16  # Flash(sync_threads=...)
DEFAULT_SYNC_THREADS_PER_PAGE = 4  # Flash(sync_threads_per_page=...)


class SyncSteps:
    """Runs blocking calls for pages: ``await steps.run(page, fn, *args)``."""

    def __init__(self, threads: int, per_page: int) -> None:
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="flash_ws-step")
        self._per_page = per_page
        self._slots: dict[str, asyncio.Semaphore] = {}
        self._users: Counter[str] = Counter()  # calls of each page waiting for a slot or in a thread

    def run(self, page: str, fn: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
        """``fn(*args)`` in a thread of the pool, with the caller's context variables (as
        ``asyncio.to_thread``), once ``page`` has a free slot. Cancelling the future before it has
        a thread drops the call; after, it ends only when the thread returns (with the slot held)."""
        return asyncio.ensure_future(self._run(page, fn, *args))

    async def _run(self, page: str, fn: Callable[..., Any], *args: Any) -> Any:
        slot = self._slots.get(page)
        if slot is None:
            slot = self._slots[page] = asyncio.Semaphore(self._per_page)
        self._users[page] += 1
        try:
            async with slot:
                context = contextvars.copy_context()
                in_thread = asyncio.get_running_loop().run_in_executor(self._pool, context.run, fn, *args)
                try:
                    return await asyncio.shield(in_thread)
                except asyncio.CancelledError:
                    await asyncio.wait([in_thread])  # Python cannot stop a thread: its slot stays taken till it returns
                    raise
        finally:
            self._users[page] -= 1
            if not self._users[page]:  # the page's last call: its slots go with it
                del self._users[page]
                del self._slots[page]
