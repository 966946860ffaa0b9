"""A page connected to one worker while its session is owned by another.

The owner runs the session's streams and stores every sequenced frame in Redis; the worker holding
the page's connection reads them from there (``RemoteSession.take_messages``) when the owner's inbox
message says there is more, and forwards what the page sends to the owner's inbox: re-encoded from
the frames it decoded (so unknown members and padding never reach Redis); a malformed message is
refused here, never forwarded. ``RemoteHandles`` keeps this worker's handles and takes the owners'
messages for them.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from typing import Protocol

from ..protocol import Command, Limits, PageLeft, ProtocolError, Refused, decode_message, encode_frame, encode_message, join_frames
from ..protocol.frames import Bye, Error, Frame, Ping
from ..protocol.replay import utf8_size
from .redis_bus import Control, Handlers, Heard, Reconnect, Replaced, Wake, Welcomed
from .sessions import Connection, RunHere, SessionGone, SessionMoved


class Owners(Protocol):
    """Where a handle reads its session's frames and sends what its page says (the Redis store)."""

    limits: Limits

    async def read_frames(self, sid: str, after: int) -> list[tuple[int, str]]:
        """The stored frames of session ``sid`` after ``after``, as (seq, encoded frame)."""
        ...

    async def forward(self, remote: RemoteSession, message: str) -> None:
        """Pass ``message`` (from the page of ``remote``) to the session's owner."""
        ...


class RemoteConnection(Connection):
    """On the owner: the page's connection is held by ``worker`` (its connection id ``conn_id``)."""

    def __init__(self, worker: str, conn_id: str) -> None:
        super().__init__(f"connection {conn_id} on worker {worker}")
        self.worker, self.conn_id = worker, conn_id


class RemoteSession:
    """On the worker holding the connection: a handle on a session owned by ``owner`` (a
    ``SessionHandle``: what the page sends is forwarded there). A handle without connection serves
    one POST."""

    def __init__(self, store: Owners, sid: str, token: str, owner: str, sent_seq: int) -> None:
        self.store, self.sid, self.token, self.owner = store, sid, token, owner
        self.sent_seq = sent_seq
        self.conn_id = secrets.token_hex(6)
        self.connection: Connection | None = None
        self.control: list[str] = []
        self.welcomed = False  # the owner's welcome arrived: frames may follow it

    def bind(self, connection: Connection) -> None:
        self.connection = connection
        connection.wakeup.set()

    def notify(self) -> None:
        if self.connection is not None:
            self.connection.wakeup.set()

    def ping(self, ping_id: int) -> None:
        self.control.append(encode_frame(Ping(ping_id)))
        self.notify()

    async def take_messages(self, connection: Connection) -> list[str]:
        """The control frames for this connection, then the stored frames after ``sent_seq``."""
        connection.wakeup.clear()
        if connection.closing is not None:
            raise connection.closing
        if connection.replaced or not self.welcomed:
            return []
        parts, self.control = self.control, []
        size = sum(len(p) for p in parts)
        messages: list[str] = []
        limit = self.store.limits.max_output_message_bytes
        for seq, text in await self.store.read_frames(self.sid, self.sent_seq):
            if seq != self.sent_seq + 1 and not _voids_up_to(text, self.sent_seq + 1):
                raise SessionGone(f"frames {self.sent_seq + 1}..{seq - 1} of this session are no longer stored")
            if parts and size + utf8_size(text) > limit:
                messages.append(join_frames(parts))
                parts, size = [], 0
            parts.append(text)
            size += utf8_size(text)
            self.sent_seq = seq
        if parts:
            messages.append(join_frames(parts))
        return messages

    async def deliver(self, text: str | bytes, frames: list[Frame] | None, run_here: RunHere) -> list[Command]:
        """The session runs on its owner: ``forward`` the page's message there."""
        return await self.forward(text)

    async def forward(self, text: str | bytes) -> list[Command]:
        """Check what the page sent, then pass it on to the owner (which answers through Redis)."""
        try:
            frames = decode_message(text, "client", self.store.limits.max_message_bytes)
            message = encode_message(frames)
        except (ProtocolError, ValueError) as exc:  # ValueError: a number JSON cannot carry (NaN, Infinity)
            code, why = (exc.code, exc.message) if isinstance(exc, ProtocolError) else ("bad_frame", f"message is not valid JSON: {exc}")
            self.control.append(encode_frame(Error(code, why)))
            self.notify()
            return [Refused(code, why)]
        await self.store.forward(self, message)
        return [PageLeft()] if any(isinstance(frame, Bye) for frame in frames) else []

    def __repr__(self) -> str:
        return f"<RemoteSession {self.sid} owned by {self.owner}>"


class RemoteHandles:
    """This worker's handles on sessions owned elsewhere, by sid; the owners' messages about those
    sessions (``handlers``) wake, feed or end the handles' connections."""

    def __init__(self) -> None:
        self._by_sid: dict[str, set[RemoteSession]] = {}

    def add(self, remote: RemoteSession) -> None:
        self._by_sid.setdefault(remote.sid, set()).add(remote)

    def drop(self, remote: RemoteSession) -> None:
        handles = self._by_sid.get(remote.sid)
        if handles is not None:
            handles.discard(remote)
            if not handles:
                del self._by_sid[remote.sid]

    def wake(self, sid: str) -> None:
        """Make the writers of ``sid``'s connections here read what is stored."""
        for remote in self._by_sid.get(sid, ()):
            remote.notify()

    def handlers(self) -> Handlers:
        return {Wake: self._wake, Heard: self._heard, Control: self._control, Welcomed: self._welcomed,
                Replaced: self._replaced, Reconnect: self._reconnect}

    def connected(self, sid: str, conn_id: str | None = None) -> Iterator[tuple[RemoteSession, Connection]]:
        """The handles of ``sid`` with a connection (only connection ``conn_id``'s, when given)."""
        for remote in list(self._by_sid.get(sid, ())):
            if remote.connection is not None and conn_id in (None, remote.conn_id):
                yield remote, remote.connection

    def _wake(self, message: Wake) -> None:
        for _remote, connection in self.connected(message.sid):
            connection.wakeup.set()

    def _heard(self, message: Heard) -> None:
        for _remote, connection in self.connected(message.sid):
            connection.last_heard = time.monotonic()

    def _control(self, message: Control) -> None:
        for remote, connection in self.connected(message.sid, message.conn_id):
            remote.control.append(message.frame)
            connection.wakeup.set()

    def _welcomed(self, message: Welcomed) -> None:
        for remote, connection in self.connected(message.sid, message.conn_id):
            remote.control.insert(0, message.frame)
            remote.welcomed = True
            connection.wakeup.set()

    def _replaced(self, message: Replaced) -> None:
        for _remote, connection in self.connected(message.sid, message.conn_id):
            connection.replaced = True
            connection.wakeup.set()

    def _reconnect(self, message: Reconnect) -> None:
        for _remote, connection in self.connected(message.sid):
            connection.closing = SessionMoved(message.why)
            connection.wakeup.set()


def _voids_up_to(text: str, seq: int) -> bool:
    """Whether ``text`` is a void frame declaring every number from ``seq`` up to its own (a
    survivor's jump past what a dead owner may have sent: docs/protocol.md)."""
    if not text.startswith('{"t":"void"'):
        return False
    frame = json.loads(text)
    return isinstance(frame.get("from"), int) and frame["from"] <= seq
