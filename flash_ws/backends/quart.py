"""The Quart adapter (Dash's ``backend="quart"``), served by hypercorn.

Quart runs an app's ``before_request`` functions for HTTP routes only: for a WebSocket handshake
the gate runs them through ``authenticate``, in a request context made of the handshake.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

from quart import Response, request, websocket
from werkzeug.datastructures import Headers

from ..protocol.refusals import Refusal
from ..server.post import receive_post
from ..server.requests import ClientRequest, HttpAnswer
from ..server.shared_post import receive_posts
from ..server.shared_stream import open_shared_stream
from ..server.sse import open_event_stream
from ..server.websocket import serve_websocket
from . import hypercorn_deflate
from .hypercorn_frames import frame_sender

log = logging.getLogger("flash_ws")


def client_request(conn: Any) -> ClientRequest:
    """Quart's ``request`` or ``websocket`` as the core sees it."""
    body = None
    if hasattr(conn, "body"):
        async def chunks() -> AsyncIterator[bytes]:
            async for chunk in conn.body:
                yield chunk
        body = chunks
    return ClientRequest(headers=conn.headers, cookies=conn.cookies, remote_addr=conn.remote_addr or "",
                         scheme=conn.scheme, path=conn.path, query_string=conn.query_string, native=conn,
                         body=body, content_length=getattr(conn, "content_length", None))


def response_of(answer: HttpAnswer) -> Response:
    response = Response(answer.body, status=answer.status, headers=Headers(answer.headers))
    if answer.streaming:
        response.timeout = None  # an event stream has no response timeout
    return response


class QuartSocket:
    """Quart's WebSocket as the WebSocket transport drives it. Quart's ``send`` yields one loop turn
    before every message (for handlers that never yield otherwise): ~0.1 ms more latency per update
    in a paced stream (benchmarks/README.md). The writer yields after its writes by itself, so this
    sends with the accepted connection's own ``_send`` (ASGI ``websocket.send`` and Quart's
    ``websocket_sent`` signal, as ``send`` does after its turn) where Quart has it; under hypercorn,
    a message that goes out uncompressed is written as a frame directly (hypercorn_frames.py). A
    client that leaves cancels the handler (Quart's way), so ``receive`` never raises ``Disconnected``."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        send = getattr(ws, "_send", None)
        quarts = send if callable(send) else ws.send
        self.send = frame_sender(ws, quarts) or quarts

    async def accept(self, headers: list[tuple[str, str]]) -> None:
        await self.ws.accept(headers=dict(headers) or None)

    async def receive(self) -> str | bytes:
        return await self.ws.receive()

    async def close(self, code: int, reason: str) -> None:
        await self.ws.close(code, reason)


def before_request_check(server: Any) -> Any:
    """The gate's ``authenticate`` for a WebSocket handshake: the app's ``before_request`` functions."""

    async def authenticate(req: ClientRequest) -> Refusal | None:
        if not any(server.before_request_funcs.values()):
            return None
        ws = req.native
        context = server.test_request_context(ws.path, headers=ws.headers, query_string=dict(ws.args),
                                              scheme="https" if req.secure else "http", root_path=ws.root_path,
                                              scope_base={"client": (req.remote_addr, 0)})
        try:
            async with context as pushed:  # Quart 0.23 (Python 3.13) needs the context passed
                answer = await server.preprocess_request(pushed)
        except Exception as exc:  # abort(401) and the like
            status = getattr(exc, "code", None)
            if isinstance(status, int):
                return Refusal("rejected", f"refused by the app (before_request answered {status})", app_status=status)
            log.exception("flash_ws: a before_request function raised on a WebSocket handshake")
            return Refusal("rejected", "refused by the app (before_request failed)")
        if answer is None:
            return None
        response = await server.make_response(answer)
        return Refusal("rejected", f"refused by the app (before_request answered {response.status_code})",
                       app_status=response.status_code)

    return authenticate


def install(app: Any) -> None:
    """Add the transport to ``app`` (a ``Flash`` on Quart). Routes go on the Quart app itself:
    Dash's ``hooks.route`` wraps handlers in a sync function."""
    server, gate, ops, prefix = app.server, app.flash_ws_gate, app.flash_ws_ops, app.flash_ws_routes
    app.asgi = server  # what an ASGI server serves: the app itself
    gate.authenticate = before_request_check(server)

    async def serve_ws() -> None:
        app.install_event_callbacks()
        await serve_websocket(QuartSocket(websocket), client_request(websocket), gate)

    async def serve_sse() -> Response:
        app.install_event_callbacks()
        return response_of(await open_event_stream(client_request(request), gate))

    async def serve_shared() -> Response:
        app.install_event_callbacks()
        return response_of(await open_shared_stream(client_request(request), gate))

    async def serve_post() -> Response:
        return response_of(await receive_post(client_request(request), gate))

    async def serve_posts() -> Response:
        return response_of(await receive_posts(client_request(request), gate))

    async def serve_health() -> Response:
        return response_of(await ops.health(client_request(request)))

    async def serve_metrics() -> Response:
        return response_of(await ops.metrics(client_request(request)))

    async def give_browser_key(response: Any) -> Any:
        """A page (HTML) gets its browser key before its first connection, so tabs opened later
        share one key instead of racing to set their own."""
        if response.mimetype == "text/html":
            _, cookie = gate.browser_key(client_request(request))
            if cookie:
                response.headers.add("Set-Cookie", cookie)
        return response

    server.websocket(prefix + "ws", endpoint="flash_ws_ws")(serve_ws)
    for name, handler, method in (("sse", serve_sse, "GET"), ("post", serve_post, "POST"), ("health", serve_health, "GET"),
                                  ("metrics", serve_metrics, "GET"), ("shared", serve_shared, "GET"),
                                  ("posts", serve_posts, "POST")):
        if name in ("shared", "posts") and not gate.settings.shared_event_stream:
            continue
        server.route(prefix + name, methods=[method], endpoint=f"flash_ws_{name}")(handler)
    server.after_request(give_browser_key)
    async def starting() -> None:
        hypercorn_deflate.install_when_served(gate.settings.ws_compress_min_bytes)
        await ops.starting()

    server.before_serving(starting)
    server.after_serving(ops.stopping)
