"""One transport connection bound to a session: what its writer waits on, and when the producer that
queued an update may write it itself.

A connection's writer (websocket.py, sse.py) is a task that waits on ``wakeup`` and writes what the
session holds. Waking it costs a loop turn per update, about as much CPU as the rest of the update's
way through flash_ws. So when the writer is idle, the page keeps up and nothing else waits, the
producer that queued an update writes it from its own task (``can_write_now``, ``claim``,
``write_now``); anything else (a burst, a page behind, control frames) goes through the writer,
which gathers what comes together into one message.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from .store_errors import SessionStoreError

# Output that comes this soon after the last write means the page is behind (take_messages gathers)
GATHER_WINDOW = 0.002


class Connection:
    """One transport connection bound to a session; its writer waits on ``wakeup``. A transport that
    lets producers write sets ``write_now`` and ``writer_idle`` and holds ``sending`` while it writes."""

    def __init__(self, description: str) -> None:
        self.description = description
        self.replaced = False
        self.closing: SessionStoreError | None = None  # set when the store ends this connection
        self.wakeup = asyncio.Event()
        self.last_heard = time.monotonic()  # when the client was last heard from (heartbeats)
        self.behind = False  # output came while the last messages were being written: gather the next
        self.written_at = -GATHER_WINDOW  # when the last messages were written (time.monotonic())
        self.stalled_by_owner = False  # the session's owner (another worker) ended it as stalled: redis_stalls
        self.write_now: Callable[[], Awaitable[None]] | None = None  # the transport's write from a producer's task
        self.writer_idle = False  # the writer waits on ``wakeup``
        self.sending = asyncio.Lock()  # held by whoever writes: one writes at a time, in sequence order
        self._claimed = False  # a producer is queuing output it will write itself
        self._due = False  # output came while claimed

    def wake(self) -> None:
        """Output is ready: the producer that claimed the connection writes it, else the writer does."""
        if self._claimed:
            self._due = True
        else:
            self.wakeup.set()

    def can_write_now(self) -> bool:
        """Whether a producer may write its update itself: the writer is idle with nothing to do, the
        page keeps up (nothing written within ``GATHER_WINDOW``) and the connection goes on."""
        return (self.write_now is not None and self.writer_idle and not self.wakeup.is_set() and not self.behind
                and not self.sending.locked() and self.closing is None and not self.replaced
                and not self.recently_written())

    def recently_written(self) -> bool:
        """Whether the last messages were written within ``GATHER_WINDOW``."""
        return time.monotonic() - self.written_at < GATHER_WINDOW

    def claim(self) -> None:
        """A producer queues output next (``can_write_now`` was true): ``wake`` leaves it to the producer."""
        self._claimed, self._due = True, False

    def release(self) -> bool:
        """The producer queued its output; True when it must now ``write_now`` what woke the connection."""
        self._claimed = False
        return self._due

    async def written(self) -> None:
        """The writer wrote what it took. Output that came meanwhile (a write waited), or that comes
        within ``GATHER_WINDOW``, means the page is behind: the next messages gather (see
        take_messages). No loop turn is spent finding out."""
        self.behind = self.wakeup.is_set()
        self.written_at = time.monotonic()

    def __repr__(self) -> str:
        return f"<Connection {self.description}>"
