"""The one gate every byte from a client passes, whatever the backend, transport or message.

Two entry points, called by every transport (``websocket``, ``sse``, ``shared_stream``, ``post``):

- ``Gate.open`` for a connection (the WebSocket handshake and its hello, an event stream, a shared
  stream's lane): the Host (``allowed_hosts``), the Origin (the request's own scheme, host and
  port, or ``allowed_origins``: ``origins``), the app's own protection where its framework does not run it (the
  adapter's ``authenticate``: Quart's ``before_request`` functions for a WebSocket), Dash's
  ``websocket_connect`` hooks, the protocol version; then the session is opened or resumed.
- ``Gate.message`` for each client message: decoded with the sessions' own codec (size before
  parsing, JSON, schema, nesting depth), Dash's ``websocket_message`` hooks on every frame, then
  handed to the session.

A POST passes ``Gate.admit`` (the connection's checks) and then ``Gate.message``. Every refusal is a
``Refusal`` of the one table (``flash_ws.protocol.refusals``) that the transport only translates.
"""

from __future__ import annotations

import inspect
import logging
import re
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from ..protocol import PROTOCOL_VERSION, Command, Hello, Misbehaved, ProtocolError, decode_message, encode_message
from ..protocol.codec import frame_to_dict
from ..protocol.frames import Frame
from ..protocol.refusals import Refusal
from ..protocol.tokens import BROWSER_KEY_COOKIE, binding, browser_key_issued, new_browser_key
from .draining import WorkerDraining
from .origins import host_allowed, host_is_well_formed, origin_refusal, quoted
from .requests import ClientRequest
from .service import FlashWsService
from .sessions import Connection, SessionHandle, SessionMoved, SessionStoreError, StoreUnavailable, TooManySessions

log = logging.getLogger("flash_ws")
Hook = Callable[..., Any]
MAX_REFUSAL_WARNINGS = 64  # distinct refusals (kind, Origin or address, Host) logged per process; later ones are not
Authenticate = Callable[[ClientRequest], Awaitable[Refusal | None]]


def key_cookie_name(secure: bool, app_path: str) -> str:
    """The browser key's cookie: ``__Host-`` prefixed on https (Secure, Path=/, no Domain, so no
    sibling subdomain or http page can plant one), named after the app's path when it is not /,
    so two apps of one host keep a key each; plain ``flash_ws_key`` on http."""
    if not secure:
        return BROWSER_KEY_COOKIE
    mount = re.sub(r"[^A-Za-z0-9]+", "_", app_path).strip("_")
    return f"__Host-{BROWSER_KEY_COOKIE}" + (f"_{mount}" if mount else "")


def _rejected(message: str, status: int | None = None) -> Refusal:
    return Refusal("rejected", message, app_status=status)


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
            return Refusal("rejected", str(result[1]), app_close_code=int(result[0]))
    return None



def refusal_for(exc: SessionStoreError) -> Refusal:
    """The refusal of a session the store cannot open, resume or reach (the one mapping of them)."""
    message = str(exc)
    if isinstance(exc, WorkerDraining):
        return Refusal("worker_draining", message)
    if isinstance(exc, TooManySessions):
        return Refusal("too_many_sessions", message)
    if isinstance(exc, StoreUnavailable):
        return Refusal("store_unavailable", message)
    return Refusal("session_moved", message if isinstance(exc, SessionMoved) else f"{message}: reconnect")


class Gate:
    """The checks of one app; every transport of every backend calls it for every connection and
    every message. ``hooks`` gives Dash's hook lists by name (``websocket_connect``,
    ``websocket_message``); ``authenticate`` runs the app's own protection for the transports in
    ``authenticate_on`` where its framework does not (None: the framework runs it itself)."""

    def __init__(self, service: FlashWsService, hooks: Callable[[str], list[Hook]], cookie_path: str,
                 authenticate: Authenticate | None = None) -> None:
        self.service = service
        self.settings = service.settings
        self.hooks = hooks
        self.cookie_path = cookie_path
        self.authenticate = authenticate
        self.authenticate_on = frozenset({"websocket"})  # the transports the framework does not protect itself
        self._warned: set[tuple[str, ...]] = set()  # the kinds of refusal logged (``_warn``)

    async def admit(self, req: ClientRequest, transport: str) -> Refusal | None:
        """The checks of a connection: ``transport`` is ``"websocket"``, ``"sse"`` or ``"post"``.
        A refusal is logged at WARNING (once per kind, transport and Host or client address, see
        ``_warn``); the WebSocket route logs its own refusals but the Origin's."""
        settings = self.settings
        host = req.headers.get("host")
        if not host_is_well_formed(host):
            return self._host_refused(transport, host, Refusal("bad_host", f"Host {quoted(host)} is not a host[:port]"))
        if not host_allowed(host, settings.allowed_hosts):
            return self._host_refused(transport, host, Refusal("origin", f"Host {quoted(host)} is not in the app's "
                                                                         "allowed_hosts (Flash(allowed_hosts=[...]))"))
        origin = req.headers.get("origin")
        if origin is not None or transport != "sse":  # a same-origin EventSource sends no Origin
            foreign = origin_refusal(origin, host, settings.allowed_origins, req.secure)
            if foreign and transport == "post" and origin and self.holds_browser_key(req):
                foreign = None  # a proxy that rewrote Host (docs/security.md: "A proxy that rewrites Host")
            if foreign:
                self._warn(("origin", origin or "", host or ""), "flash_ws: refused a %s request from Origin %s to "
                           "Host %s: %s", transport, quoted(origin), quoted(host), foreign.fix)
                return Refusal("origin", f"{foreign.why}; {foreign.fix}")
        refused = None
        if transport in self.authenticate_on and self.authenticate is not None:
            refused = await self.authenticate(req)
        refused = refused or await run_hooks(self.hooks("websocket_connect"), req.native)
        if refused and transport != "websocket":
            self._warn(("login", transport, req.remote_addr), "flash_ws: refused a %s request from %s (the app's "
                       "login or websocket_connect hook): %s", transport, req.remote_addr, refused.message)
        return refused

    def _host_refused(self, transport: str, host: str | None, refusal: Refusal) -> Refusal:
        if transport != "websocket":
            self._warn(("host", transport, host or ""), "flash_ws: refused a %s request: %s", transport, refusal.message)
        return refusal

    async def open(self, req: ClientRequest, hello: Hello, connection: Connection, key: str,
                   bundled: Sequence[Frame] = ()) -> tuple[SessionHandle, list[Command]] | Refusal:
        """Open or resume the session ``hello`` names on ``connection`` (after ``admit``), and hand
        it the frames that came with the hello (a WebSocket's first message)."""
        if hello.v != PROTOCOL_VERSION:
            return Refusal("unsupported_version",
                           f"protocol version {hello.v} not supported (this server speaks {PROTOCOL_VERSION})")
        refused = await self.admit_frames(req, bundled)
        if refused:
            return refused
        try:
            live = await self.service.attach(hello, connection, self.binding(req, key), req.remote_addr)
            commands = await self.service.receive(live, encode_message(list(bundled)), list(bundled)) if bundled else []
        except SessionStoreError as exc:
            log.warning("flash_ws: %s not served: %s", connection, exc)
            return refusal_for(exc)
        misbehaved = next((c for c in commands if isinstance(c, Misbehaved)), None)
        if misbehaved is not None:
            return Refusal("policy", misbehaved.reason)
        return live, commands

    async def message(self, req: ClientRequest, live: SessionHandle, data: str | bytes) -> list[Command] | Refusal:
        """Hand one client message to its session. A message the codec refuses goes to the session
        as it came: the session answers it with an ``error`` frame and counts it."""
        try:
            frames: list[Frame] | None = self.read(data)
        except ProtocolError:
            frames = None
        refused = await self.admit_frames(req, frames or ())
        if refused:
            return refused
        try:
            commands = await self.service.receive(live, data, frames)
        except SessionStoreError as exc:
            return refusal_for(exc)
        misbehaved = next((c for c in commands if isinstance(c, Misbehaved)), None)
        if misbehaved is not None:
            return Refusal("policy", misbehaved.reason)
        return commands

    def read(self, data: str | bytes) -> list[Frame]:
        """Decode one client message with the codec the sessions use (size before parsing, then
        JSON, schema and nesting): raises ProtocolError (``too_large``, ``bad_frame``)."""
        limits = self.settings.limits
        return decode_message(data, "client", limits.max_message_bytes, limits.max_nesting)

    async def admit_frames(self, req: ClientRequest, frames: Iterable[Frame]) -> Refusal | None:
        """Dash's ``websocket_message`` hooks, run on every frame (as its JSON object)."""
        hooks = self.hooks("websocket_message")
        for frame in frames if hooks else ():
            refused = await run_hooks(hooks, req.native, frame_to_dict(frame))
            if refused:
                return refused
        return None

    def holds_browser_key(self, req: ClientRequest) -> bool:
        """Whether ``req`` carries a browser key this app issued: a ``SameSite=Strict`` cookie, which
        a browser sends only with requests that a page of this site made."""
        return self._presented_key(req) is not None

    def _presented_key(self, req: ClientRequest) -> str | None:
        key = req.cookies.get(key_cookie_name(req.secure, self.cookie_path))
        return key if key and browser_key_issued(key, self.service.key_secret) else None

    def _warn(self, kind: tuple[str, ...], line: str, *args: object) -> None:
        """Log a refusal at WARNING once per ``kind`` (what was refused, and to whom), at most
        ``MAX_REFUSAL_WARNINGS`` kinds per process: a client cannot flood the log."""
        if kind in self._warned or len(self._warned) >= MAX_REFUSAL_WARNINGS:
            return
        self._warned.add(kind)
        log.warning(line, *args)

    def browser_key(self, req: ClientRequest) -> tuple[str, str | None]:
        """The browser key ``req`` presents in its cookie when this app signed it, else a new one
        with the Set-Cookie value that gives it to the browser (replacing a key it never issued):
        HttpOnly, SameSite=Strict, scoped to the app's path; on https ``__Host-`` prefixed,
        Secure and Path=/ as that prefix requires."""
        key = self._presented_key(req)
        if key:
            return key, None
        key = new_browser_key(self.service.key_secret)
        name = key_cookie_name(req.secure, self.cookie_path)
        scope = "Path=/; Secure" if req.secure else f"Path={self.cookie_path}"
        return key, f"{name}={key}; {scope}; HttpOnly; SameSite=Strict"

    def binding(self, req: ClientRequest, key: str) -> str:
        """What the session of this browser (and user, when the app names one) stores."""
        user = self.settings.session_user(req.native) if self.settings.session_user else None
        return binding(key, None if user is None else str(user))
