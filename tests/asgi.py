"""An in-memory ASGI client: drives an ASGI app (any framework's) in the test's own event loop, with
no socket and no server process. HTTP requests with streamed responses (an event stream is read as it
is written), WebSockets (refused handshakes come back as HTTP answers, as hypercorn gives them), and
the app's lifespan (``before_serving`` / ``after_serving``).

Where the test's assertion does not depend on a real socket's timing, a proxy or a browser, this is
the layer it runs in (CONTRIBUTING.md: Tests); ``tests/asgi_links.py`` puts the Python reference client on it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from tests.conftest import TIMEOUT

Headers = Mapping[str, str] | list[tuple[str, str]]


def _raw(headers: Headers) -> list[tuple[bytes, bytes]]:
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    return [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in pairs]


class _Headers:
    """Response headers: ``get`` the first value of a name, ``get_all`` every one (case-insensitive)."""

    def __init__(self, raw: list[tuple[bytes, bytes]]) -> None:
        self.raw = [(name.decode("latin-1").lower(), value.decode("latin-1")) for name, value in raw]

    def get(self, name: str, default: str | None = None) -> str | None:
        return next((value for key, value in self.raw if key == name.lower()), default)

    def get_all(self, name: str) -> list[str]:
        return [value for key, value in self.raw if key == name.lower()]

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None


@dataclass
class Response:
    status: int
    headers: _Headers
    body: bytes = b""

    def json(self) -> Any:
        import json

        return json.loads(self.body)


@dataclass
class _Exchange:
    """One request's messages in both directions and the app's task."""

    to_app: asyncio.Queue = field(default_factory=asyncio.Queue)
    from_app: asyncio.Queue = field(default_factory=asyncio.Queue)
    task: asyncio.Task | None = None

    async def next_message(self) -> dict:
        """The app's next message; a failure of the app is raised here, not hidden behind a timeout."""
        getter = asyncio.ensure_future(self.from_app.get())
        assert self.task is not None
        try:
            done, _ = await asyncio.wait({getter, self.task}, timeout=TIMEOUT, return_when=asyncio.FIRST_COMPLETED)
        finally:
            getter.cancel()  # a reader cancelled meanwhile must not take the next message with it
        if getter in done:
            return getter.result()
        if self.task in done:
            error = self.task.exception()
            if error is not None:
                raise error
            return {"type": "app.finished"}
        raise AssertionError(f"the app sent nothing within {TIMEOUT:.0f}s")


class WebSocket:
    """The client end of an in-memory WebSocket: ``send``/``recv`` text, ``close``; ``close_code``
    and ``close_reason`` once the app closed it (1006 when the app ended without a close)."""

    def __init__(self, exchange: _Exchange, accept: dict) -> None:
        self._exchange = exchange
        self.response_headers = _Headers(list(accept.get("headers") or []))
        self.close_code: int | None = None
        self.close_reason = ""

    async def send(self, text: str | bytes) -> None:
        if self.close_code is not None:
            raise ConnectionClosed(self.close_code, self.close_reason)
        key = "bytes" if isinstance(text, bytes) else "text"
        await self._exchange.to_app.put({"type": "websocket.receive", key: text})

    async def recv(self) -> str:
        if self.close_code is not None:
            raise ConnectionClosed(self.close_code, self.close_reason)
        message = await self._exchange.next_message()
        if message["type"] == "websocket.send":
            return message.get("text") if message.get("text") is not None else message["bytes"].decode()
        self.close_code = message.get("code", 1000) if message["type"] == "websocket.close" else 1006
        self.close_reason = message.get("reason") or ""
        raise ConnectionClosed(self.close_code, self.close_reason)

    async def close(self, code: int = 1000) -> None:
        """Close from the client's side and let the app's handler end."""
        if self.close_code is None:
            self.close_code = code
        await self._exchange.to_app.put({"type": "websocket.disconnect", "code": code})
        if self._exchange.task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self._exchange.task, TIMEOUT)


class ConnectionClosed(ConnectionError):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"closed {code} {reason}")
        self.code, self.reason = code, reason


class HandshakeRefused(ConnectionError):
    """The app answered the WebSocket handshake with an HTTP response instead of accepting it."""

    def __init__(self, response: Response) -> None:
        super().__init__(f"handshake answered {response.status}")
        self.response = response


class AsgiClient:
    """Requests to ``app`` as if it were served at ``base_url`` to a client at ``client_addr``."""

    def __init__(self, app: Any, base_url: str = "http://127.0.0.1:8050", client_addr: str = "127.0.0.1") -> None:
        self.app = app
        self.url = base_url.rstrip("/")
        parts = urlsplit(self.url)
        self.host = parts.netloc
        self.server = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.client_addr = client_addr
        self._clients = 0
        self._lifespan: _Exchange | None = None

    # ----- lifespan

    async def start(self) -> None:
        """Run the app's startup (its ``before_serving`` hooks)."""
        self._lifespan = exchange = _Exchange()
        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": {}}
        exchange.task = asyncio.get_running_loop().create_task(self.app(scope, exchange.to_app.get, exchange.from_app.put))
        await exchange.to_app.put({"type": "lifespan.startup"})
        message = await exchange.next_message()
        if message["type"] != "lifespan.startup.complete":
            raise RuntimeError(f"the app's startup failed: {message}")

    async def stop(self) -> None:
        """Run the app's shutdown (its ``after_serving`` hooks)."""
        exchange, self._lifespan = self._lifespan, None
        if exchange is None:
            return
        await exchange.to_app.put({"type": "lifespan.shutdown"})
        message = await exchange.next_message()
        if message["type"] != "lifespan.shutdown.complete":
            raise RuntimeError(f"the app's shutdown failed: {message}")

    # ----- requests

    def _scope(self, kind: str, path: str, headers: Headers, client_addr: str | None) -> dict:
        path, _, query = path.partition("?")
        self._clients += 1
        given = _raw(headers)
        if not any(name == b"host" for name, _ in given):
            given.insert(0, (b"host", self.host.encode()))
        # spec_version 2.3: a WebSocket's accept may carry headers (the browser key's Set-Cookie)
        return {"type": kind, "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
                "scheme": "http" if kind == "http" else "ws", "path": path, "raw_path": path.encode(),
                "query_string": query.encode(), "root_path": "", "headers": given,
                "client": (client_addr or self.client_addr, 40000 + self._clients), "server": self.server,
                "extensions": {"websocket.http.response": {}} if kind == "websocket" else {}}

    @contextlib.asynccontextmanager
    async def stream(self, method: str, path: str, body: bytes = b"", headers: Headers = (),
                     client_addr: str | None = None) -> AsyncIterator[tuple[Response, AsyncIterator[bytes]]]:
        """A request whose response body is read as the app writes it: ``(response, chunks)``;
        leaving the block disconnects, as a client closing its connection does."""
        exchange = _Exchange()
        scope = {**self._scope("http", path, headers, client_addr), "method": method}
        await exchange.to_app.put({"type": "http.request", "body": body, "more_body": False})
        exchange.task = asyncio.get_running_loop().create_task(self.app(scope, exchange.to_app.get, exchange.from_app.put))
        start = await exchange.next_message()
        if start["type"] != "http.response.start":
            raise AssertionError(f"expected the response's start, got {start}")
        response = Response(start["status"], _Headers(list(start.get("headers") or [])))

        async def chunks() -> AsyncIterator[bytes]:
            while True:
                message = await exchange.next_message()
                if message["type"] != "http.response.body":
                    return
                if message.get("body"):
                    yield message["body"]
                if not message.get("more_body"):
                    return

        try:
            yield response, chunks()
        finally:
            await exchange.to_app.put({"type": "http.disconnect"})
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(exchange.task, TIMEOUT)

    async def request(self, method: str, path: str, body: bytes = b"", headers: Headers = (),
                      client_addr: str | None = None) -> Response:
        """A whole request and its whole response."""
        async with self.stream(method, path, body, headers, client_addr) as (response, chunks):
            response.body = b"".join([chunk async for chunk in chunks])
        return response

    async def websocket(self, path: str, headers: Headers = (), client_addr: str | None = None) -> WebSocket:
        """Open a WebSocket; HandshakeRefused when the app answers it with an HTTP response."""
        exchange = _Exchange()
        scope = {**self._scope("websocket", path, headers, client_addr), "subprotocols": []}
        await exchange.to_app.put({"type": "websocket.connect"})
        exchange.task = asyncio.get_running_loop().create_task(self.app(scope, exchange.to_app.get, exchange.from_app.put))
        message = await exchange.next_message()
        if message["type"] == "websocket.accept":
            return WebSocket(exchange, message)
        if message["type"] == "websocket.http.response.start":
            response = Response(message["status"], _Headers(list(message.get("headers") or [])))
            while (more := await exchange.next_message())["type"] == "websocket.http.response.body":
                response.body += more.get("body", b"")
                if not more.get("more_body"):
                    break
            raise HandshakeRefused(response)
        if message["type"] == "websocket.close":
            raise HandshakeRefused(Response(403, _Headers([])))
        raise AssertionError(f"expected the handshake's answer, got {message}")
