"""The FastAPI adapter (Dash's ``backend="fastapi"``, or ``server=`` a FastAPI app), served by
uvicorn (or hypercorn).

The transport's routes are FastAPI routes of the app itself, so what protects the app's routes
protects them too: dependencies given to ``FastAPI(dependencies=[...])`` run for the WebSocket
handshake, the event stream and every POST; pure ASGI middleware sees all three; middleware made
with ``@app.middleware("http")`` (Starlette's ``BaseHTTPMiddleware``) sees the event stream and the
POSTs only, as Starlette never hands it a WebSocket (docs/security.md).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket

from ..server.post import receive_post
from ..server.shared_post import receive_posts
from ..server.shared_stream import open_shared_stream
from ..server.sse import open_event_stream
from ..server.websocket import serve_websocket
from . import hypercorn_deflate
from .starlette_io import BrowserKeyOnPages, StarletteSocket, client_request, response_of


def install(app: Any) -> None:
    """Add the transport to ``app`` (a ``Flash`` on FastAPI)."""
    server, gate, ops, prefix = app.server, app.flash_ws_gate, app.flash_ws_ops, app.flash_ws_routes
    app.asgi = server  # what an ASGI server serves: the app itself

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
