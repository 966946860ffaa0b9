"""A page connected to one worker while its session is owned by another.

The owner runs the session's streams and stores every sequenced frame in Redis; the worker holding
the page's connection reads them from there (``RemoteSession.take_messages``) when the owner's inbox
message says there is more, and forwards what the page sends to the owner's inbox: re-encoded from
the frames it decoded (so unknown members and padding never reach Redis); a malformed message is
refused here, never forwarded.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING

from ..protocol import Command, PageLeft, ProtocolError, Refused, decode_message, encode_frame, encode_message, join_frames
from ..protocol.frames import Bye, Error, Ping
from ..protocol.replay import utf8_size
from .sessions import Connection, SessionGone

if TYPE_CHECKING:
    from .redis_store import RedisSessionStore


class RemoteConnection(Connection):
    """On the owner: the page's connection is held by ``worker`` (its connection id ``conn_id``)."""

    def __init__(self, worker: str, conn_id: str) -> None:
        super().__init__(f"connection {conn_id} on worker {worker}")
        self.worker, self.conn_id = worker, conn_id


class RemoteSession:
    """On the worker holding the connection: a handle on a session owned by ``owner``.

    Adapters use it like a ``LiveSession``: ``bind``, ``take_messages``, ``ping``; the service
    forwards what the page sends with ``forward``. A handle without connection serves one POST.
    """

    remote = True

    def __init__(self, store: RedisSessionStore, sid: str, token: str, owner: str, sent_seq: int) -> None:
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
            if seq != self.sent_seq + 1:
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
