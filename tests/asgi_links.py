"""The Python reference client's links over ``tests/asgi.py``: the same ``FlashWsClient`` (session,
resume, cookies, POST ordering) against an app served in the test's own event loop.

    client = FlashWsClient(server.url, links=asgi_links(server.asgi))
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import httpx

from flash_ws.client_links import CookieJar, LinkClosed, LinkFactory, SseLink
from flash_ws.protocol import encode_message
from flash_ws.protocol.close_codes import http_action, websocket_action
from flash_ws.protocol.frames import Hello
from tests.asgi import AsgiClient, ConnectionClosed, HandshakeRefused


class AsgiTransport(httpx.AsyncBaseTransport):
    """httpx's requests into the app, their responses streamed as written (an event stream too)."""

    def __init__(self, asgi: AsgiClient) -> None:
        self.asgi = asgi
        self.open: set[_Body] = set()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        headers = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in request.headers.raw]
        opened = self.asgi.stream(request.method, request.url.raw_path.decode(), body, headers)
        response, chunks = await opened.__aenter__()
        stream = _Body(chunks, opened, self.open)
        return httpx.Response(response.status, headers=response.headers.raw, stream=stream, request=request)

    async def aclose(self) -> None:
        """The client closed: every response still open is hung up, as closing its connections does."""
        for body in list(self.open):
            await body.aclose()


class _Body(httpx.AsyncByteStream):
    def __init__(self, chunks: AsyncIterator[bytes], opened, open_bodies: set[_Body]) -> None:
        self.chunks, self.opened, self.open_bodies = chunks, opened, open_bodies
        open_bodies.add(self)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self.chunks:
            yield chunk

    async def aclose(self) -> None:
        if self in self.open_bodies:
            self.open_bodies.discard(self)
            await self.opened.__aexit__(None, None, None)  # the client hung up


class AsgiSseLink(SseLink):
    """The SSE + POST link, its HTTP going into the app."""

    def __init__(self, asgi: AsgiClient, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.asgi = asgi

    def http_client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=AsgiTransport(self.asgi), timeout=10.0)


class AsgiWebSocketLink:
    """The WebSocket link over an in-memory WebSocket into the app."""

    def __init__(self, asgi: AsgiClient, base_url: str, origin: str, headers: dict[str, str] | None = None,
                 cookies: CookieJar | None = None) -> None:
        self.asgi = asgi
        self.path = urlsplit(base_url).path + "ws"
        self.origin = origin
        self.headers = headers or {}
        self.cookies = cookies or CookieJar()
        self.ws = None

    async def open(self, hello: Hello) -> None:
        try:
            self.ws = await self.asgi.websocket(self.path, {**self.headers, "Origin": self.origin, **self.cookies.headers()})
        except HandshakeRefused as exc:
            self.cookies.keep(exc.response.headers.get_all("set-cookie"))
            raise LinkClosed(f"websocket refused: {exc}", http_action("sse", exc.response.status, None)) from exc
        self.cookies.keep(self.ws.response_headers.get_all("set-cookie"))
        await self.send(encode_message([hello]))

    async def send(self, text: str) -> None:
        try:
            await self._open().send(text)
        except ConnectionClosed as exc:
            raise LinkClosed(str(exc), websocket_action(exc.code)) from exc

    async def recv(self) -> str:
        try:
            return await self._open().recv()
        except ConnectionClosed as exc:
            raise LinkClosed(str(exc), websocket_action(exc.code)) from exc

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()

    def _open(self):
        if self.ws is None:
            raise LinkClosed("websocket is not open")
        return self.ws


def asgi_links(asgi: AsgiClient) -> dict[str, LinkFactory]:
    """``FlashWsClient(..., links=asgi_links(asgi))``: both transports into ``asgi``'s app."""
    return {"websocket": lambda *args, **kwargs: AsgiWebSocketLink(asgi, *args, **kwargs),
            "sse": lambda *args, **kwargs: AsgiSseLink(asgi, *args, **kwargs)}
