"""The one gate every byte from a client passes, whatever the transport or message it came in.

``Admission.admit`` checks a connection (the WebSocket handshake, the event stream, every POST):
the Host (``allowed_hosts``), the Origin (the page's own host or ``allowed_origins``), the app's
own authentication (its Quart ``before_request`` functions, which Quart itself runs only for HTTP
routes) and Dash's ``websocket_connect`` hooks. ``Admission.read`` turns a client message into
frames with the sessions' own codec: size before parsing, JSON, schema, nesting depth. ``Admission.admit_frames`` runs
Dash's ``websocket_message`` hooks on every decoded frame, the first message's included.
Every refusal is a ``Refusal`` that each transport turns into its own answer.
"""

from __future__ import annotations

import inspect
import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ..protocol import decode_message
from ..protocol.close_codes import CloseCode
from ..protocol.codec import frame_to_dict
from ..protocol.frames import Frame
from ..protocol.tokens import BROWSER_KEY_COOKIE, binding, new_browser_key
from .settings import Settings

log = logging.getLogger("flash_ws")
Hook = Callable[..., Any]
_BROWSER_KEY = re.compile(r"[A-Za-z0-9_-]{43}")


@dataclass(frozen=True)
class Refusal:
    """Why a connection or message is refused, in the terms of every transport."""

    status: int  # HTTP status (event stream, POST)
    code: str  # the JSON body's code (docs/protocol.md)
    message: str  # for the client: says what was wrong, carries no secret
    close_code: int  # WebSocket close code (tests/vectors/close_codes.json)

    @property
    def close_reason(self) -> str:
        """The message cut to fit a WebSocket close frame (123 bytes)."""
        return self.message.encode()[:120].decode(errors="ignore")


def _rejected(message: str, status: int = 403) -> Refusal:
    return Refusal(status, "rejected", message, CloseCode.REJECTED)


# host[:port]: a DNS name (underscores too, as container names have them; a trailing dot) or IPv4
# address, or a bracketed IPv6 address; no userinfo, path or spaces
_HOST = re.compile(r"(?:[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?\.?|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")


def host_is_well_formed(host: str | None) -> bool:
    """Whether a Host header is a host[:port] (``evil@app.example.com`` is not)."""
    return host is not None and _HOST.fullmatch(host) is not None


def host_allowed(host: str | None, allowed: Sequence[str]) -> bool:
    """Whether the Host header names this app (``allowed`` empty: any host; ``*.x`` wildcards)."""
    if not allowed or "*" in allowed:
        return True
    name = urlsplit(f"//{host or ''}").hostname or ""
    return any(name == entry or (entry.startswith("*.") and name.endswith(entry[1:])) for entry in allowed)


def origin_refusal(origin: str | None, host: str | None, allowed: Iterable[str]) -> str | None:
    """Why a request from ``origin`` must be refused, or None when it is allowed.

    Same origin means the Origin's host and port are the Host header's; a Host without a port (a
    proxy that rewrote it, like nginx's ``$host``) is compared by host name alone."""
    if not origin:
        return "Origin header required"
    if origin in allowed or "*" in allowed:
        return None
    netloc = urlsplit(origin).netloc
    if host and (netloc == host or (":" not in host and urlsplit(origin).hostname == host)):
        return None
    return f"Origin {_short(origin)} not allowed (same host {_short(host)} or the app's allowed_origins)"


def _short(text: str | None, limit: int = 80) -> str:
    """Client text fit for a message or a log line: escaped, and cut to ``limit`` characters."""
    shown = repr(text)
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


async def run_hooks(hooks: Iterable[Hook], *args: Any) -> Refusal | None:
    """Dash's websocket hooks: False or a ``(code, reason)`` tuple refuses (Dash's own rules)."""
    for hook in hooks:
        try:
            result = hook(*args)
            if inspect.isawaitable(result):
                result = await result
        except Exception:
            log.exception("flash_ws: a websocket hook raised; the connection is refused")
            return _rejected("Authentication error")
        if result is False:
            return _rejected("Rejected")
        if isinstance(result, tuple) and len(result) == 2:
            return Refusal(403, "rejected", str(result[1]), int(result[0]))
    return None


class Admission:
    """The checks of one app; the transports call it for every connection and every message."""

    def __init__(self, server: Any, settings: Settings, hooks: Callable[[str], list[Hook]]) -> None:
        self._server = server  # the Quart app, for its before_request functions
        self._settings = settings
        self._hooks = hooks  # Dash's hook lists by name ("websocket_connect", "websocket_message")

    async def admit(self, conn: Any, transport: str) -> Refusal | None:
        """Check a connection: ``conn`` is Quart's ``websocket`` or ``request``; ``transport`` is
        ``"websocket"``, ``"sse"`` or ``"post"``."""
        settings = self._settings
        host = conn.headers.get("host")
        if not host_is_well_formed(host):
            return Refusal(400, "origin", f"Host {_short(host)} is not a host[:port]", CloseCode.FORBIDDEN_ORIGIN)
        if not host_allowed(host, settings.allowed_hosts):
            return Refusal(403, "origin", f"Host {_short(host)} is not in the app's allowed_hosts", CloseCode.FORBIDDEN_ORIGIN)
        origin = conn.headers.get("origin")
        if origin is not None or transport != "sse":  # a same-origin EventSource sends no Origin
            why = origin_refusal(origin, host, settings.allowed_origins)
            if why:
                return Refusal(403, "origin", why, CloseCode.FORBIDDEN_ORIGIN)
        if transport == "websocket":  # Quart runs before_request functions for HTTP routes only
            refused = await self._before_request(conn)
            if refused:
                return refused
        return await run_hooks(self._hooks("websocket_connect"), conn)

    async def _before_request(self, ws: Any) -> Refusal | None:
        """Run the app's ``before_request`` functions for a WebSocket handshake, in a request
        context made of the handshake's path, query, headers and peer."""
        server = self._server
        if not any(server.before_request_funcs.values()):
            return None
        scope = {"client": (ws.remote_addr or "", 0)}
        context = server.test_request_context(ws.path, headers=ws.headers, query_string=dict(ws.args),
                                              scheme="https" if ws.scheme in ("wss", "https") else "http",
                                              root_path=ws.root_path, scope_base=scope)
        try:
            async with context:
                answer = await server.preprocess_request()
        except Exception as exc:  # abort(401) and the like
            status = getattr(exc, "code", None)
            if isinstance(status, int):
                return _rejected(f"refused by the app (before_request answered {status})", status)
            log.exception("flash_ws: a before_request function raised on a WebSocket handshake")
            return _rejected("refused by the app (before_request failed)")
        if answer is None:
            return None
        response = await server.make_response(answer)
        return _rejected(f"refused by the app (before_request answered {response.status_code})", response.status_code)

    def read(self, data: str | bytes) -> list[Frame]:
        """Decode one client message with the codec the sessions use (size before parsing, then
        JSON, schema and nesting): raises ProtocolError (``too_large``, ``bad_frame``)."""
        limits = self._settings.limits
        return decode_message(data, "client", limits.max_message_bytes, limits.max_nesting)

    async def admit_frames(self, conn: Any, frames: Iterable[Frame]) -> Refusal | None:
        """Dash's ``websocket_message`` hooks, run on every frame (as its JSON object)."""
        hooks = self._hooks("websocket_message")
        for frame in frames if hooks else ():
            refused = await run_hooks(hooks, conn, frame_to_dict(frame))
            if refused:
                return refused
        return None

    def browser_key(self, conn: Any) -> tuple[str, bool]:
        """The browser key ``conn`` presents in its cookie, or a new one (and True: set it)."""
        key = conn.cookies.get(BROWSER_KEY_COOKIE)
        if key and _BROWSER_KEY.fullmatch(key):
            return key, False
        return new_browser_key(), True

    def binding(self, conn: Any, key: str) -> str:
        """What the session of this browser (and user, when the app names one) stores."""
        user = self._settings.session_user(conn) if self._settings.session_user else None
        return binding(key, None if user is None else str(user))

    def cookie_header(self, conn: Any, key: str, path: str) -> str:
        """The Set-Cookie value that gives the browser its key: HttpOnly, SameSite=Strict, scoped to
        the app's path, Secure on https."""
        secure = "; Secure" if conn.scheme in ("https", "wss") else ""
        return f"{BROWSER_KEY_COOKIE}={key}; Path={path}; HttpOnly; SameSite=Strict{secure}"
