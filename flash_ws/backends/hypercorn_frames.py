"""Uncompressed WebSocket messages framed here and handed to hypercorn's stream directly.

Under hypercorn, a message Quart sends passes Quart's ``send_data`` (and its ``websocket_sent``
signal), hypercorn's ``app_send`` and wsproto's framing, which copies it three times, before
hypercorn writes it: ~17 µs of a worker's CPU per message (benchmarks/README.md, "Frames written
directly"). A message that goes out uncompressed needs none of that: it is a header of 2 to 10 bytes
and the UTF-8 text. :class:`FrameSender` writes such a message as one frame through the WebSocket
stream's own ``send``, the very call wsproto's frames end in (hypercorn's HTTP/1.1 or HTTP/2
protocol: its send lock, its drain, its handling of a socket that closed).

Everything else goes Quart's way, unchanged:

- a message permessage-deflate would compress (``ws_compress_min_bytes`` or more on a connection that
  negotiated it, hypercorn_deflate.py; every message when the extension is not flash_ws's);
- any message once the stream is not open (the socket closed, either side closing): hypercorn
  drops or refuses it, and Quart raises, as they always do;
- every message while an app listens to Quart's ``websocket_sent`` signal, so that it still sees them.

``frame_sender`` finds the stream behind a Quart WebSocket, and answers None (Quart's way for every
message) when Quart or hypercorn are laid out otherwise.
"""

from __future__ import annotations

import inspect
import math
import struct
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from hypercorn.protocol.events import Data
from hypercorn.protocol.ws_stream import ASGIWebsocketState, WSStream
from quart.signals import websocket_sent
from wsproto.connection import ConnectionState
from wsproto.extensions import PerMessageDeflate

from .hypercorn_deflate import SizedDeflate

Send = Callable[[Any], Awaitable[None]]  # Quart's send: a message, text or bytes
TEXT, BINARY = 0x81, 0x82  # FIN set, RSV bits clear (uncompressed), opcode 1 or 2


def frame_header(first: int, length: int) -> bytes:
    """A server's frame header (RFC 6455 5.2: no mask) for a payload of ``length`` bytes."""
    if length < 126:
        return bytes((first, length))
    if length < 1 << 16:
        return struct.pack("!BBH", first, 126, length)
    return struct.pack("!BBQ", first, 127, length)


def frame_sender(ws: Any, fallback: Send) -> FrameSender | None:
    """A sender writing ``ws``'s uncompressed messages as frames (``fallback`` for the others), or
    None when ``ws`` is not a Quart WebSocket served by hypercorn as this module knows them."""
    send = getattr(ws, "_send", None)  # Quart: partial(ASGIWebsocketConnection.send_data, asgi_send)
    if not isinstance(send, partial) or not send.args:
        return None
    # the ASGI send: hypercorn's WSStream.app_send (Quart 0.23 wraps it, functools.wraps, to raise
    # ClientDisconnectedError for an OSError; hypercorn's protocol catches the socket's own errors)
    stream = getattr(inspect.unwrap(send.args[0]), "__self__", None)
    return FrameSender(stream, fallback) if isinstance(stream, WSStream) else None


class FrameSender:
    """Sends a message on ``stream`` as one uncompressed frame when it may, else with ``fallback``."""

    def __init__(self, stream: WSStream, fallback: Send) -> None:
        self.stream, self.fallback = stream, fallback
        self.limit: float | None = None  # messages of this many bytes or more go to fallback; known once open

    async def __call__(self, message: str | bytes) -> None:
        stream = self.stream
        connection = getattr(stream, "connection", None)  # wsproto's, from the accept on
        if (connection is None or stream.closed or stream.state is not ASGIWebsocketState.CONNECTED
                or connection.state is not ConnectionState.OPEN or websocket_sent.receivers):
            return await self.fallback(message)
        if self.limit is None:
            self.limit = uncompressed_limit(connection)
        if isinstance(message, str):
            data, first = message.encode(), TEXT
        else:
            data, first = bytes(message), BINARY
        if len(data) >= self.limit:
            return await self.fallback(message)
        await stream.send(Data(stream_id=stream.stream_id, data=frame_header(first, len(data)) + data))


def uncompressed_limit(connection: Any) -> float:
    """The size from which ``connection`` (wsproto's) compresses a message: never without
    permessage-deflate, ``min_bytes`` with flash_ws's, always (0) with another or when unknown."""
    extensions = getattr(getattr(connection, "_proto", None), "extensions", None)
    if not isinstance(extensions, list):
        return 0
    deflate = [ext for ext in extensions if isinstance(ext, PerMessageDeflate)]
    if not deflate:
        return math.inf
    return SizedDeflate.min_bytes if all(isinstance(ext, SizedDeflate) for ext in deflate) else 0
