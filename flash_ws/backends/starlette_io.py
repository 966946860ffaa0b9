"""Starlette's requests, WebSockets and responses as the core sees them: shared by the FastAPI
adapter and the Flask adapter's ASGI front (both serve the transport with Starlette's objects)."""

from __future__ import annotations

from typing import Any

from starlette.requests import HTTPConnection, Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Message, Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from ..server.requests import ClientRequest, Disconnected, HttpAnswer


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
    opened later share one key instead of racing to set their own (a key this app did not sign is
    replaced)."""

    def __init__(self, app: Any, gate: Any) -> None:
        self.app = app
        self.gate = gate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_key(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or [])
                if any(k.lower() == b"content-type" and v.startswith(b"text/html") for k, v in headers):
                    _, cookie = self.gate.browser_key(client_request(HTTPConnection(scope)))
                    if cookie:
                        message = {**message, "headers": headers + [(b"set-cookie", cookie.encode("latin-1"))]}
            await send(message)

        await self.app(scope, receive, send_with_key)
