"""Exceptions of the protocol core: the root of every flash_ws error, and the protocol's own.

    FlashWsError
    ├── ProtocolError        the peer sent something we refuse (remote error): carries a wire ``code``
    │   └── FrameTooLarge    a message over the size limit
    └── StateError           a call the current state does not allow (local error, a bug in the caller)

The whole tree, with the errors of the server, the client and flash_ws.celery, is drawn in
``flash_ws/errors.py``.
"""

from __future__ import annotations


class FlashWsError(Exception):
    """Base class of every flash_ws error."""


class ProtocolError(FlashWsError):
    """The peer sent a message or frame that the protocol refuses.

    ``code`` is the wire error code (see docs/protocol.md), ``message`` says what was expected and
    what came.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class FrameTooLarge(ProtocolError):
    """A message exceeds the configured size limit."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__("too_large", f"message of {size} bytes exceeds the limit of {limit} bytes")


class StateError(FlashWsError):
    """A call that the current state does not allow (e.g. a frame appended out of sequence): a bug
    in the caller, never something a peer can cause."""
