"""The Flask adapter (Dash's default backend: ``backend="flask"``, or ``server=`` a Flask app).

``app.asgi`` is an ASGI app in front of the Flask app: flash_ws's routes are served natively on
asyncio (a stream is a coroutine, not a thread), every other request goes to the Flask app through
a2wsgi's WSGI bridge, in its thread pool, unchanged. Serve it with an ASGI server:
``uvicorn mymodule:app.asgi`` (docs/design.md: "Flask", for why and the measured costs).

The Flask app's ``before_request`` functions run for every transport request (the WebSocket
handshake, the event stream, every POST), in a request context made of that request and in a
thread (they may block), as they run for the app's own routes. A run of an event callback runs in a
request context made of the request that started it (the WebSocket's handshake, the POST of its
start): ``flask.request``, ``flask.session``, ``flask.g`` (fresh per run) and Flask-Login's
``current_user`` read as in a Dash callback. Dash's websocket hooks and ``session_user`` get a Flask
``Request`` of the transport request (``flask.request``'s API: headers, cookies, args).
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from dataclasses import replace
from typing import Any

from a2wsgi import WSGIMiddleware
from a2wsgi.wsgi import build_environ
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from werkzeug.exceptions import HTTPException

from ..protocol.refusals import Refusal
from ..server.post import receive_post
from ..server.requests import ClientRequest, HttpAnswer
from ..server.runner import RUN_CONTEXT
from ..server.shared_post import receive_posts
from ..server.shared_stream import open_shared_stream
from ..server.sse import open_event_stream
from ..server.websocket import serve_websocket
from . import hypercorn_deflate
from .starlette_io import Receive, Scope, Send, StarletteSocket, client_request, response_of

log = logging.getLogger("flash_ws")
WSGI_THREADS = 16  # a2wsgi's pool for the Flask app's own requests (its default is 10)


def environ_of(scope: Scope) -> dict[str, Any]:
    """A WSGI environ of an ASGI request or WebSocket handshake (its body left out)."""
    http = {**scope, "method": scope.get("method", "GET"), "http_version": scope.get("http_version", "1.1"),
            "scheme": {"ws": "http", "wss": "https"}.get(scope.get("scheme", "http"), scope.get("scheme", "http"))}
    return dict(build_environ(http, io.BytesIO(b"")))  # type: ignore[arg-type]


class FlaskFront:
    """The ASGI app of a ``Flash`` on Flask: the transport natively, the rest to the Flask app."""

    def __init__(self, app: Any) -> None:
        self.flash = app
        self.flask = app.server
        self.gate = app.flash_ws_gate
        self.wsgi = WSGIMiddleware(self.flask, workers=WSGI_THREADS)
        prefix = app.flash_ws_routes
        shared = self.gate.settings.shared_event_stream
        self.routes: dict[str, tuple[str, Callable[[Request], Awaitable[HttpAnswer]]]] = {
            prefix + "sse": ("GET", self._stream(open_event_stream)),
            prefix + "post": ("POST", self._message(receive_post)),
            prefix + "health": ("GET", lambda request: app.flash_ws_ops.health(self.client(request))),
            prefix + "metrics": ("GET", lambda request: app.flash_ws_ops.metrics(self.client(request))),
            **({prefix + "shared": ("GET", self._stream(open_shared_stream)),
                prefix + "posts": ("POST", self._message(receive_posts))} if shared else {}),
        }
        self.ws_path = prefix + "ws"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind, path = scope["type"], scope.get("path", "")
        if kind == "lifespan":
            await self._lifespan(receive, send)
        elif kind == "websocket" and path == self.ws_path:
            await self._websocket(scope, receive, send)
        elif kind == "websocket":
            await send({"type": "websocket.close", "code": 1000})  # the Flask app serves no WebSocket
        elif kind == "http" and path in self.routes:
            method, handler = self.routes[path]
            request = Request(scope, receive)
            response = (response_of(await handler(request)) if request.method == method
                        else Response(status_code=405, headers={"Allow": method}))
            await response(scope, receive, send)
        else:
            await self.wsgi(scope, receive, send)  # type: ignore[arg-type]

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.flash.install_event_callbacks()
        ws = WebSocket(scope, receive, send)
        RUN_CONTEXT.set(self._run_context(scope))  # this handler's task: the socket's runs copy it
        await serve_websocket(StarletteSocket(ws), self.client(ws), self.gate)

    def _stream(self, open_stream: Callable[[ClientRequest, Any], Awaitable[HttpAnswer]]) -> Callable[[Request], Awaitable[HttpAnswer]]:
        async def handler(request: Request) -> HttpAnswer:
            self.flash.install_event_callbacks()
            return await open_stream(self.client(request), self.gate)
        return handler

    def _message(self, take: Callable[[ClientRequest, Any], Awaitable[HttpAnswer]]) -> Callable[[Request], Awaitable[HttpAnswer]]:
        async def handler(request: Request) -> HttpAnswer:
            RUN_CONTEXT.set(self._run_context(request.scope))  # runs this POST starts copy it
            return await take(self.client(request), self.gate)
        return handler

    def client(self, conn: Request | WebSocket) -> ClientRequest:
        """The request as the core sees it; what Dash's hooks and ``session_user`` get of it is a
        Flask request (its headers, cookies, args: ``flask.request``'s API, outside any context)."""
        return replace(client_request(conn), native=self.flask.request_class(environ_of(conn.scope)))

    def _run_context(self, scope: Scope) -> Callable[[], AbstractContextManager[Any]]:
        """A fresh request context (and app context: a fresh ``g``) of this request, per run."""
        environ = environ_of(scope)
        return lambda: self.flask.request_context(dict(environ))

    async def authenticate(self, req: ClientRequest) -> Refusal | None:
        """The gate's check of every transport request: the Flask app's ``before_request`` functions."""
        if not any(self.flask.before_request_funcs.values()):
            return None
        return await asyncio.to_thread(self._before_request, dict(req.native.environ))

    def _before_request(self, environ: dict[str, Any]) -> Refusal | None:
        flask = self.flask
        try:
            with flask.request_context(environ):
                answer = flask.preprocess_request()
                status = None if answer is None else flask.make_response(answer).status_code
        except HTTPException as exc:  # abort(401) and the like
            status = exc.code or 403
        except Exception:
            log.exception("flash_ws: a before_request function raised on a flash_ws request")
            return Refusal("rejected", "refused by the app (before_request failed)")
        if status is None:
            return None
        return Refusal("rejected", f"refused by the app (before_request answered {status})", app_status=status)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        ops = self.flash.flash_ws_ops
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                hypercorn_deflate.install_when_served(self.gate.settings.ws_compress_min_bytes)
                await ops.starting()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await ops.stopping()
                await send({"type": "lifespan.shutdown.complete"})
                return


def install(app: Any) -> None:
    """Add the transport to ``app`` (a ``Flash`` on Flask): ``app.asgi`` serves it."""
    front = FlaskFront(app)
    app.flash_ws_gate.authenticate = front.authenticate
    app.flash_ws_gate.authenticate_on = frozenset({"websocket", "sse", "post"})
    app.asgi = front

    @app.server.after_request
    def give_browser_key(response: Any) -> Any:
        """A page (HTML) gets its browser key before its first connection (tabs share one key)."""
        if response.mimetype == "text/html":
            from flask import request

            cookies = request.cookies
            _, cookie = app.flash_ws_gate.browser_key(ClientRequest(headers=request.headers, cookies=cookies,
                                                                    remote_addr=request.remote_addr or "",
                                                                    scheme=request.scheme, path=request.path))
            if cookie:
                response.headers.add("Set-Cookie", cookie)
        return response
