"""Close codes and what the page does for each: the table of docs/protocol.md ("Close codes"),
as data shared with the JS client through ``tests/vectors/close_codes.json``."""

from __future__ import annotations

from enum import Enum, IntEnum


class CloseCode(IntEnum):
    """Every WebSocket close code the server sends (or a browser reports for a cut connection)."""

    NORMAL = 1000
    GOING_AWAY = 1001
    ABNORMAL = 1006
    POLICY = 1008
    TOO_BIG = 1009
    UNAVAILABLE = 1011
    RECONNECT = 1012
    TRY_AGAIN_LATER = 1013
    EXPECTED_HELLO = 4000
    REJECTED = 4001
    FORBIDDEN_ORIGIN = 4003
    HEARTBEAT_TIMEOUT = 4008
    REPLACED = 4009
    UNSUPPORTED_VERSION = 4400


class CloseAction(str, Enum):
    """What the page does when a connection ends (or a POST is answered)."""

    RESUME = "resume"
    RESUME_NOW = "resume_now"
    REPLACED = "replaced"
    GIVE_UP = "give_up"
    REFUSED = "refused"
    ACCEPTED = "accepted"


_WEBSOCKET_ACTIONS: dict[int, CloseAction] = {
    CloseCode.NORMAL: CloseAction.RESUME,
    CloseCode.GOING_AWAY: CloseAction.RESUME_NOW,
    CloseCode.ABNORMAL: CloseAction.RESUME,
    CloseCode.POLICY: CloseAction.GIVE_UP,
    CloseCode.TOO_BIG: CloseAction.GIVE_UP,
    CloseCode.UNAVAILABLE: CloseAction.RESUME,
    CloseCode.RECONNECT: CloseAction.RESUME_NOW,
    CloseCode.TRY_AGAIN_LATER: CloseAction.RESUME,
    CloseCode.EXPECTED_HELLO: CloseAction.GIVE_UP,
    CloseCode.REJECTED: CloseAction.GIVE_UP,
    CloseCode.FORBIDDEN_ORIGIN: CloseAction.GIVE_UP,
    CloseCode.HEARTBEAT_TIMEOUT: CloseAction.RESUME,
    CloseCode.REPLACED: CloseAction.REPLACED,
    CloseCode.UNSUPPORTED_VERSION: CloseAction.GIVE_UP,
}


def websocket_action(code: int) -> CloseAction:
    """What the page does when its WebSocket closes with ``code``."""
    if code in _WEBSOCKET_ACTIONS:
        return _WEBSOCKET_ACTIONS[code]
    return CloseAction.GIVE_UP if 4000 <= code <= 4999 else CloseAction.RESUME


def http_action(route: str, status: int, code: str | None) -> CloseAction:
    """What the page does with an answer of ``status`` (JSON ``code``, if any) on ``route``
    (``"post"`` or ``"sse"``, the event stream)."""
    if 200 <= status < 300:
        return CloseAction.ACCEPTED
    if status in (408, 429) or status >= 500:  # 408: a body that came too slowly is sent again
        return CloseAction.RESUME
    if status in (401, 403):
        return CloseAction.GIVE_UP
    if route == "sse":
        return CloseAction.GIVE_UP
    if status == 404 and code == "unknown_session":
        return CloseAction.RESUME
    return CloseAction.REFUSED
