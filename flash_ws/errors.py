"""Every flash_ws error, in one tree. Each class lives in the module that raises it; this module
re-exports them all but ``TaskFailed`` (flash_ws.celery needs the optional ``celery`` extra).

    FlashWsError                      flash_ws.protocol.errors: the root
    ├── ProtocolError                 the peer sent something the protocol refuses; carries a wire ``code``
    │   └── FrameTooLarge             a message over the size limit
    ├── StateError                    a call the current state does not allow (a bug in the caller)
    ├── SessionStoreError             flash_ws.server.sessions: the store cannot serve a session now
    │   ├── StoreUnavailable          the shared store (Redis) cannot be reached
    │   │   └── WorkerDraining        flash_ws.server.draining: this worker is shutting down
    │   ├── SessionGone               the session's stored state was lost
    │   ├── SessionMoved              the page must reconnect to go on (it resumes, on any worker)
    │   └── TooManySessions           a cap on open sessions is reached
    ├── BadYield                      flash_ws.server.runner: a generator yielded no stream_props result
    ├── Disconnected                  flash_ws.server.requests: a WebSocket's client is gone (raised by a
    │                                 backend's adapter; also a ConnectionError)
    ├── LinkClosed                    flash_ws.client_links: the reference client's connection is gone
    │                                 (also a ConnectionError)
    ├── PostRefused                   flash_ws.client_links: a POST answered 4xx (also a ValueError)
    └── TaskFailed                    flash_ws.celery: the followed Celery task failed or was revoked

Arguments that are wrong from the start (a bad setting, a callback that is not a generator) raise
Python's ``ValueError`` and ``TypeError``, as the standard library does.
"""

from __future__ import annotations

from .client_links import LinkClosed, PostRefused
from .protocol.errors import FlashWsError, FrameTooLarge, ProtocolError, StateError
from .server.draining import WorkerDraining
from .server.requests import Disconnected
from .server.runner import BadYield
from .server.sessions import SessionGone, SessionMoved, SessionStoreError, StoreUnavailable, TooManySessions

__all__ = [
    "BadYield", "Disconnected", "FlashWsError", "FrameTooLarge", "LinkClosed", "PostRefused", "ProtocolError", "SessionGone",
    "SessionMoved", "SessionStoreError", "StateError", "StoreUnavailable", "TooManySessions", "WorkerDraining",
]
