"""Why a session store cannot serve a session: the errors transports turn into refusals (gate.refusal_for)."""

from __future__ import annotations

from ..protocol.errors import FlashWsError


class SessionStoreError(FlashWsError):
    """The session store cannot serve a session right now; the message says why."""


class StoreUnavailable(SessionStoreError):
    """The shared store (Redis) cannot be reached: the page should retry later."""


class SessionGone(SessionStoreError):
    """The session's stored state was lost (the store restarted, or another worker took it over)."""


class SessionMoved(SessionStoreError):
    """The page must reconnect to go on with its session (it resumes, on any worker)."""


class TooManySessions(SessionStoreError):
    """A new session would exceed a cap (the message names the setting): the page retries later."""
