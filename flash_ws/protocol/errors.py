"""Exceptions of the protocol core.

    FlashWsError
    ├── ProtocolError        the peer sent something we refuse (remote error): carries a wire ``code``
    │   └── FrameTooLarge    a message over the size limit
    └── StateError           our own code broke an invariant (local error, a bug)
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
    """An operation that the current state does not allow: a bug in the caller."""
