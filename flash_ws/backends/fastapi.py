"""The FastAPI adapter (Dash's ``backend="fastapi"``, or ``server=`` a FastAPI app), served by
uvicorn (or hypercorn).

The transport's routes are FastAPI routes of the app itself, so what protects the app's routes
protects them too: dependencies given to ``FastAPI(dependencies=[...])`` run for the WebSocket
handshake, the event stream and every POST; pure ASGI middleware sees all three; middleware made
with ``@app.middleware("http")`` (Starlette's ``BaseHTTPMiddleware``) sees the event stream and the
POSTs only, as Starlette never hands it a WebSocket (docs/security.md).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from starlette.requests import HTTPConnection, Request
from starlette.responses import Response, StreamingResponse
from starlette.websockets import WebSocket, WebSocketDisconnect

from ..protocol.tokens import BROWSER_KEY_COOKIE
from ..server.post import receive_post
from ..server.requests import ClientRequest, Disconnected, HttpAnswer
from ..server.shared_post import receive_posts
from ..server.shared_stream import open_shared_stream
from ..server.sse import open_event_stream
from ..server.websocket import serve_websocket
from . import hypercorn_deflate

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


def client_request(conn: HTTPConnection) -> ClientRequest:
    """Starlette's ``Request`` or ``WebSocket`` as the core sees it."""
    body = conn.stream if isinstance(conn, Request) else None
    length = conn.headers.get("content-length")
    return ClientRequest(headers=conn.headers, cookies=conn.cookies, remote_addr=conn.client.host if conn.client else "",
                         scheme=conn.url.scheme, path=conn.url.path, query_string=conn.scope.get("query_string", b""),
                         native=conn, body=body, content_length=int(length) if length and length.isdigit() else None)


def response_of(answer: HttpAnswer) -> Response:
    headers = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in answer.headers]
    if isinstance(answer.body, bytes):
        response = Response(answer.body, status_code=answer.status)
    else:
        response = StreamingResponse(answer.body, status_code=answer.status)
    response.raw_headers += headers
    return response


class StarletteSocket:
    """Starlette's WebSocket as the WebSocket transport drives it."""

    def __init__(self, ws: WebSocket) -> None:
        self.ws = ws

    async def accept(self, headers: list[tuple[str, str]]) -> None:
        await self.ws.accept(headers=[(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers])

    async def receive(self) -> str | bytes:
        message = await self.ws.receive()
        if message["type"] == "websocket.disconnect":
            raise Disconnected(f"the client left (close code {message.get('code')})")
        text = message.get("text")
        return text if text is not None else message.get("bytes") or b""

    async def send(self, message: str) -> None:
        try:
            await self.ws.send_text(message)
        except (WebSocketDisconnect, RuntimeError) as exc:  # a socket the client closed meanwhile
            raise Disconnected(str(exc)) from None

    async def close(self, code: int, reason: str) -> None:
        try:
            await self.ws.close(code, reason)
        except RuntimeError:  # already closed by the client
            pass


class BrowserKeyOnPages:
    """Pure ASGI middleware: a page (HTML) gets its browser key before its first connection, so tabs
    opened later share one key instead of racing to set their own."""

    def __init__(self, app: Any, gate: Any) -> None:
        self.app = app
        self.gate = gate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or BROWSER_KEY_COOKIE.encode() in dict(scope.get("headers") or []).get(b"cookie", b""):
            await self.app(scope, receive, send)
            return

        async def send_with_key(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or [])
                if any(k.lower() == b"content-type" and v.startswith(b"text/html") for k, v in headers):
                    _, cookie = self.gate.browser_key(client_request(HTTPConnection(scope)))
                    if cookie:
                        message = {**message, "headers": headers + [(b"set-cookie", cookie.encode("latin-1"))]}
            await send(message)

        await self.app(scope, receive, send_with_key)


def install(app: Any) -> None:
    """Add the transport to ``app`` (a ``Flash`` on FastAPI)."""
    server, gate, ops, prefix = app.server, app.flash_ws_gate, app.flash_ws_ops, app.flash_ws_routes

    async def serve_ws(websocket: WebSocket) -> None:
        app.install_event_callbacks()
        await serve_websocket(StarletteSocket(websocket), client_request(websocket), gate)

    async def serve_sse(request: Request) -> Response:
        app.install_event_callbacks()
        return response_of(await open_event_stream(client_request(request), gate))

    async def serve_shared(request: Request) -> Response:
        app.install_event_callbacks()
        return response_of(await open_shared_stream(client_request(request), gate))

    async def serve_post(request: Request) -> Response:
        return response_of(await receive_post(client_request(request), gate))

    async def serve_posts(request: Request) -> Response:
        return response_of(await receive_posts(client_request(request), gate))

    async def serve_health(request: Request) -> Response:
        return response_of(await ops.health(client_request(request)))

    async def serve_metrics(request: Request) -> Response:
        return response_of(await ops.metrics(client_request(request)))

    server.add_api_websocket_route(prefix + "ws", serve_ws, name="flash_ws_ws")
    for name, handler, method in (("sse", serve_sse, "GET"), ("post", serve_post, "POST"), ("health", serve_health, "GET"),
                                  ("metrics", serve_metrics, "GET"), ("shared", serve_shared, "GET"),
                                  ("posts", serve_posts, "POST")):
        if name in ("shared", "posts") and not gate.settings.shared_event_stream:
            continue
        server.add_api_route(prefix + name, handler, methods=[method], name=f"flash_ws_{name}", include_in_schema=False)
    server.add_middleware(BrowserKeyOnPages, gate=gate)
    previous = server.router.lifespan_context

    @asynccontextmanager
    async def lifespan(asgi_app: Any) -> AsyncIterator[Any]:
        """The service starts before the app's own lifespan and stops after it."""
        hypercorn_deflate.install_when_served(gate.settings.ws_compress_min_bytes)
        await ops.starting()
        try:
            async with previous(asgi_app) as state:
                yield state
        finally:
            await ops.stopping()

    server.router.lifespan_context = lifespan
