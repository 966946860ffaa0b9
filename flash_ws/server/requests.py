"""What the core sees of a client's request, whatever web framework received it.

Each backend's adapter (``flash_ws.backends``) makes a ``ClientRequest`` of its framework's request
or WebSocket handshake, and a ``WebSocketPort`` of its WebSocket; the gate and the transports read
only these. An ``HttpAnswer`` is what a transport answers, which the adapter turns into its
framework's response.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import parse_qs

from ..protocol.errors import FlashWsError


class Headers(Protocol):
    """A case-insensitive view of request headers (Werkzeug's, Starlette's)."""

    def get(self, key: str, /) -> str | None: ...


@dataclass(frozen=True)
class ClientRequest:
    """A request or WebSocket handshake as the gate and the transports see it."""

    headers: Headers
    cookies: Mapping[str, str]
    remote_addr: str
    scheme: str  # http, https, ws or wss
    path: str
    query_string: bytes = b""
    native: Any = None  # the framework's own request or WebSocket: given to Dash's hooks and session_user
    body: Callable[[], AsyncIterator[bytes]] | None = None  # the body's chunks (HTTP requests)
    content_length: int | None = None
    _query: dict[str, list[str]] = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def secure(self) -> bool:
        return self.scheme in ("https", "wss")

    @property
    def content_type(self) -> str:
        """The body's media type, without parameters (``application/json``)."""
        return (self.headers.get("content-type") or "").split(";", 1)[0].strip().lower()

    def query(self, name: str) -> list[str]:
        """Every value of the query parameter ``name``, in order."""
        if not self._query and self.query_string:
            self._query.update(parse_qs(self.query_string.decode("latin-1"), keep_blank_values=True))
        return self._query.get(name, [])

    def arg(self, name: str, default: str = "") -> str:
        """The first value of the query parameter ``name``."""
        values = self.query(name)
        return values[0] if values else default


class Disconnected(FlashWsError, ConnectionError):
    """The client's side of a WebSocket is gone (the adapter raises it from ``receive``)."""


class WebSocketPort(Protocol):
    """A framework's WebSocket, as the WebSocket transport drives it."""

    async def accept(self, headers: list[tuple[str, str]]) -> None: ...

    async def receive(self) -> str | bytes:
        """The next message; raises ``Disconnected`` once the client is gone."""
        ...

    async def send(self, message: str) -> None: ...

    async def close(self, code: int, reason: str) -> None: ...


@dataclass
class HttpAnswer:
    """A transport's answer to an HTTP request: a whole body, or a stream of chunks (SSE)."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes | AsyncIterator[bytes] = b""

    @property
    def streaming(self) -> bool:
        return not isinstance(self.body, bytes)
