"""What a ``ServerSession`` asks of its adapter: the commands ``receive_message`` returns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .frames import EndReason


@dataclass(frozen=True)
class StartRun:
    """Command: run callback ``cb`` with ``args`` as run ``run``."""

    run: int
    cb: str
    args: list[Any]


@dataclass(frozen=True)
class CancelRun:
    """Command: stop run ``run`` (its generator must be closed); ``reason`` is cancelled or replaced."""

    run: int
    reason: EndReason


@dataclass(frozen=True)
class Refused:
    """Something the client sent was refused; an error or end frame already tells the client."""

    code: str
    message: str
    run: int | None = None
    cb: str | None = None


@dataclass(frozen=True)
class PageLeft:
    """Command: the page said bye; close the session now."""


@dataclass(frozen=True)
class Misbehaved:
    """Command: the client sent more than ``max_refused_frames`` refused frames on this connection.
    Close the session; the WebSocket closes with 1008 (CloseCode.POLICY), a POST answers 403 ``policy``."""

    reason: str


Command = StartRun | CancelRun | Refused | PageLeft | Misbehaved
