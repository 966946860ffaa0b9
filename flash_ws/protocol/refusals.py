"""Every refusal the server can answer, with its HTTP status, wire code and WebSocket close code.

One table for every transport (docs/protocol.md, "Refusals"; ``tests/vectors/refusals.json`` holds
the same rows, read by the Python and the JS tests): a refusal reads the same whether it came on a
WebSocket, an event stream, a shared stream's lane or a POST, and the page does the same for it.
``close_code`` None: the refusal never closes a WebSocket (a refused message is answered with an
``error`` frame and the connection goes on, or the case cannot arise on a WebSocket); ``status``
None: it only ever closes a WebSocket.
"""

from __future__ import annotations

from dataclasses import dataclass

from .close_codes import CloseCode


@dataclass(frozen=True)
class RefusalKind:
    """One row of the table."""

    code: str
    status: int | None
    close_code: CloseCode | None
    when: str


_ROWS = (
    RefusalKind("bad_host", 400, CloseCode.FORBIDDEN_ORIGIN, "the Host header is not a host[:port]"),
    RefusalKind("origin", 403, CloseCode.FORBIDDEN_ORIGIN, "the Origin or the Host is not allowed"),
    RefusalKind("rejected", 403, CloseCode.REJECTED,
                "the app's own protection refused (a websocket hook, a before_request function, a dependency); "
                "over HTTP with the app's status where it gave one (401)"),
    RefusalKind("expected_hello", 400, CloseCode.EXPECTED_HELLO, "the first frame was not a valid hello"),
    RefusalKind("unsupported_version", 400, CloseCode.UNSUPPORTED_VERSION, "the hello's protocol version is not spoken here"),
    RefusalKind("bad_frame", 400, None, "a message, body or query the codec refuses (415 for a body that is not JSON)"),
    RefusalKind("too_large", 413, None, "a message over max_message_bytes"),
    RefusalKind("body_timeout", 408, None, "a POST's body did not arrive whole within post_body_timeout"),
    RefusalKind("unknown_session", 404, None, "a POST for a session that does not exist (expired, or never opened)"),
    RefusalKind("policy", 403, CloseCode.POLICY, "the page broke a budget (too many refused frames)"),
    RefusalKind("stalled", 403, CloseCode.POLICY,
                "the page acknowledged nothing for stalled_session_timeout while its replay buffer was full: its session is ended"),
    RefusalKind("store_unavailable", 503, CloseCode.UNAVAILABLE, "the session store (Redis) cannot be reached"),
    RefusalKind("too_many_sessions", 503, CloseCode.TRY_AGAIN_LATER, "over max_sessions or max_sessions_per_address"),
    RefusalKind("worker_draining", 503, CloseCode.TRY_AGAIN_LATER, "this worker is shutting down: connect again (elsewhere)"),
    RefusalKind("session_moved", 503, CloseCode.RECONNECT, "the session moved to another connection or worker: reconnect now"),
    RefusalKind("heartbeat_timeout", None, CloseCode.HEARTBEAT_TIMEOUT, "nothing heard for heartbeat_interval + heartbeat_timeout"),
    RefusalKind("replaced", None, CloseCode.REPLACED, "a newer connection of the same session took over"),
)
REFUSALS: dict[str, RefusalKind] = {row.code: row for row in _ROWS}


@dataclass(frozen=True)
class Refusal:
    """Why a connection or message is refused, in the terms of every transport."""

    code: str  # a key of REFUSALS: the JSON body's ``code``
    message: str  # for the client: says what was wrong, carries no secret
    app_status: int | None = None  # the app's own HTTP status (a before_request's 401), over the table's
    app_close_code: int | None = None  # an app hook's own close code (Dash's ``(code, reason)``)

    def __post_init__(self) -> None:
        if self.code not in REFUSALS:
            raise ValueError(f"unknown refusal code {self.code!r} (one of {', '.join(REFUSALS)})")

    @property
    def status(self) -> int:
        """The HTTP status of this refusal (a WebSocket-only refusal answers 400 if asked over HTTP)."""
        return self.app_status or REFUSALS[self.code].status or 400

    @property
    def close_code(self) -> int:
        """The WebSocket close code (a refusal that never closes one closes with POLICY if asked)."""
        return self.app_close_code or REFUSALS[self.code].close_code or CloseCode.POLICY

    @property
    def close_reason(self) -> str:
        """The message cut to fit a WebSocket close frame (123 bytes)."""
        return self.message.encode()[:120].decode(errors="ignore")

    def body(self) -> dict[str, str]:
        """The JSON body of an HTTP refusal."""
        return {"code": self.code, "message": self.message}
