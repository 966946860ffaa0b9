"""Messages between workers, through each worker's inbox in Redis (see ``redis_inbox``).

Every message is a frozen dataclass naming one session by its public id (``sid``). On the wire it
is a flat hash of strings: ``op`` (the message's name) and one-letter fields, ``t`` being the sid.

To the worker that owns the session: ``Forwarded`` (``msg``), ``Attach``, ``Detach``, ``Close``.
To the worker holding the page's connection: ``Wake``, ``Heard``, ``Control`` (``ctl``),
``Welcomed`` (``welcome``), ``Replaced``, ``Reconnect``, ``Stalled`` (the owner ended the session:
``redis_stalls``).

``Bus`` sends them (fire and forget, or queued on a pipeline with other commands) and reads this
worker's inbox, handing each message to the handler its type has in ``Bus.handlers``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

from redis.exceptions import RedisError

from . import redis_keys as keys
from .redis_inbox import Inboxes
from .redis_outage import Outage

log = logging.getLogger("flash_ws")
READ_COUNT = 500  # inbox entries read at once
BLOCK_MS = 1000  # how long one read waits for an entry


def _wire(key: str, parse: Callable[[str], Any] = str) -> Any:
    """A message field, carried as ``key`` on the wire and read back with ``parse``."""
    return field(metadata={"wire": key, "parse": parse})


@dataclass(frozen=True)
class Forwarded:
    """To the owner: a message the page sent to another worker (checked and re-encoded there)."""

    op: ClassVar[str] = "msg"
    sid: str = _wire("t")
    message: str = _wire("m")


@dataclass(frozen=True)
class Attach:
    """To the owner: the page resumed on ``worker`` (connection ``conn_id``) after frame ``seq``."""

    op: ClassVar[str] = "attach"
    sid: str = _wire("t")
    worker: str = _wire("w")
    conn_id: str = _wire("c")
    seq: int = _wire("s", int)


@dataclass(frozen=True)
class Detach:
    """To the owner: connection ``conn_id`` of the page ended (the session waits for a resume)."""

    op: ClassVar[str] = "detach"
    sid: str = _wire("t")
    conn_id: str = _wire("c")


@dataclass(frozen=True)
class Close:
    """To the owner: close the session (the page left, or cannot resume it)."""

    op: ClassVar[str] = "close"
    sid: str = _wire("t")


@dataclass(frozen=True)
class Wake:
    """To the connection's worker: more frames are stored; read them."""

    op: ClassVar[str] = "wake"
    sid: str = _wire("t")


@dataclass(frozen=True)
class Heard:
    """To the connection's worker: the page was heard from (a POST reached another worker)."""

    op: ClassVar[str] = "heard"
    sid: str = _wire("t")


@dataclass(frozen=True)
class Control:
    """To the connection's worker: a control frame (encoded) for connection ``conn_id``."""

    op: ClassVar[str] = "ctl"
    sid: str = _wire("t")
    conn_id: str = _wire("c")
    frame: str = _wire("m")


@dataclass(frozen=True)
class Welcomed:
    """To the connection's worker: the welcome (encoded) of connection ``conn_id``; frames may follow."""

    op: ClassVar[str] = "welcome"
    sid: str = _wire("t")
    conn_id: str = _wire("c")
    frame: str = _wire("m")


@dataclass(frozen=True)
class Replaced:
    """To the connection's worker: a newer connection of the page took over from ``conn_id``."""

    op: ClassVar[str] = "replaced"
    sid: str = _wire("t")
    conn_id: str = _wire("c")


@dataclass(frozen=True)
class Reconnect:
    """To the connection's worker: close the page's connection (``why``); the page resumes."""

    op: ClassVar[str] = "reconnect"
    sid: str = _wire("t")
    why: str = _wire("m")


@dataclass(frozen=True)
class Stalled:
    """To the connection's worker: the owner ended the session as stalled; end connection
    ``conn_id`` with the refusal ``stalled`` (the page gives up, it does not reconnect)."""

    op: ClassVar[str] = "stalled"
    sid: str = _wire("t")
    conn_id: str = _wire("c")


Message = Forwarded | Attach | Detach | Close | Wake | Heard | Control | Welcomed | Replaced | Reconnect | Stalled
BY_OP: dict[str, type[Message]] = {kind.op: kind for kind in (Forwarded, Attach, Detach, Close, Wake, Heard, Control,
                                                               Welcomed, Replaced, Reconnect, Stalled)}
Handlers = dict[type[Message], Callable[[Any], None]]


def encode(message: Message) -> dict[str, str]:
    """The hash that carries ``message`` in an inbox."""
    wire = {"op": message.op}
    for each in fields(message):
        wire[each.metadata["wire"]] = str(getattr(message, each.name))
    return wire


def decode(wire: dict[str, str]) -> Message:
    """The message an inbox entry carries; ValueError or KeyError when it is not one."""
    kind = BY_OP.get(wire.get("op", ""))
    if kind is None:
        raise ValueError(f"unknown message {wire.get('op')!r}")
    return kind(**{each.name: each.metadata["parse"](wire[each.metadata["wire"]]) for each in fields(kind)})


class Bus:
    """Sends messages to workers' inboxes and hands those in this worker's inbox to ``handlers``
    (by type; a message for this worker itself is handled at once, without Redis)."""

    def __init__(self, redis: Any, worker: str, inboxes: Inboxes, outage: Outage) -> None:
        self.redis, self.worker, self.inboxes, self.outage = redis, worker, inboxes, outage
        self.handlers: Handlers = {}
        self._background: set[asyncio.Task[None]] = set()

    def send(self, worker: str, message: Message) -> None:
        """Queue ``message`` for ``worker`` (fire and forget; failures are logged)."""
        if worker == self.worker:
            self.dispatch(message)
        else:
            self._spawn(self._send(worker, message))

    async def push(self, worker: str, message: Message) -> bool:
        """Push ``message`` to ``worker``'s inbox now; False when that inbox is full (RedisError
        when Redis fails)."""
        return bool(await self.inboxes.push(worker, encode(message)))

    async def queue(self, pipe: Any, worker: str, message: Message) -> None:
        """Queue the push of ``message`` on ``pipe`` (sent with the pipeline's other commands)."""
        await self.inboxes.push(worker, encode(message), pipe)

    def dispatch(self, message: Message) -> None:
        """Hand ``message`` to the handler of its type."""
        self.handlers[type(message)](message)

    async def run(self) -> None:
        """Read this worker's inbox and handle what comes, deleting what was handled; while Redis
        fails, retry with a growing delay."""
        last, delay = "0-0", 0.05
        handled: list[tuple[str, dict[str, str]]] = []  # to delete from the inbox (kept while Redis fails)
        while True:
            try:
                await self.inboxes.handled(self.worker, handled)
                handled = []
                replies = await self.redis.xread({keys.inbox(self.worker): last}, count=READ_COUNT, block=BLOCK_MS)
                delay = 0.05
            except RedisError as exc:
                self.outage.failed(exc, "messages from other workers wait")
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
                continue
            for _stream, entries in replies or ():
                for entry_id, wire in entries:
                    last = entry_id
                    self._receive(wire)
                handled += entries

    def _receive(self, wire: dict[str, str]) -> None:
        try:
            message = decode(wire)
        except (KeyError, ValueError) as exc:
            log.warning("flash_ws: ignored a message from another worker (%s): %s", wire.get("op"), exc)
            return
        try:
            self.dispatch(message)
        except Exception:
            log.exception("flash_ws: handling %s from another worker failed", message.op)

    async def _send(self, worker: str, message: Message) -> None:
        try:
            if not await self.push(worker, message):
                log.warning("flash_ws: %s", self.inboxes.refusal(f"{message.op} for worker {worker}"))
        except RedisError as exc:
            log.warning("flash_ws: could not send %s for worker %s through Redis: %s", message.op, worker, exc)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
