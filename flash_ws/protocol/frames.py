"""Frames: the typed messages of the wire protocol (docs/protocol.md), as frozen dataclasses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

PROTOCOL_VERSION = 1

EndReason = Literal["done", "cancelled", "replaced", "error", "refused"]
END_REASONS: frozenset[str] = frozenset({"done", "cancelled", "replaced", "error", "refused"})


@dataclass(frozen=True)
class RawJson:
    """Already-encoded JSON text, inserted verbatim by the encoder (no re-encoding per frame)."""

    text: str


# client -> server


@dataclass(frozen=True)
class Hello:
    session: str | None = None
    seq: int = 0
    v: int = PROTOCOL_VERSION


@dataclass(frozen=True)
class Start:
    """Start ``run`` of ``cb``; ``key`` names its instance (a MATCH callback's matched values, as
    canonical JSON; empty otherwise). A run's identity is its callback and its key: a start replaces
    only the active run of the same callback and key (docs/protocol.md, "Run identity")."""

    run: int
    cb: str
    args: list[Any]
    key: str = ""


@dataclass(frozen=True)
class Cancel:
    run: int


@dataclass(frozen=True)
class Ack:
    seq: int


@dataclass(frozen=True)
class Bye:
    """The page is leaving: end the session now rather than keep it for a resume."""


# both directions


@dataclass(frozen=True)
class Ping:
    id: int


@dataclass(frozen=True)
class Pong:
    id: int


# server -> client


@dataclass(frozen=True)
class Welcome:
    session: str
    epoch: str
    resumed: bool
    seq: int
    run: int = 0
    v: int = PROTOCOL_VERSION


@dataclass(frozen=True)
class Update:
    """Props to apply in one render: ``props`` is a list of ``[id, props]`` pairs or its RawJson."""

    seq: int
    run: int
    props: list[Any] | RawJson


@dataclass(frozen=True)
class ErrorInfo:
    code: str
    message: str


@dataclass(frozen=True)
class End:
    seq: int
    run: int
    reason: EndReason
    error: ErrorInfo | None = None


@dataclass(frozen=True)
class Void:
    """The sequence numbers ``first`` (``from`` on the wire) to ``seq - 1`` will never come: a worker
    died before storing frames it may have sent (docs/protocol.md, "Frames sent before Redis holds them")."""

    seq: int
    first: int


@dataclass(frozen=True)
class Error:
    code: str
    message: str
    run: int | None = None
    cb: str | None = None


ClientFrame = Hello | Start | Cancel | Ack | Bye | Ping | Pong
ServerFrame = Welcome | Update | End | Void | Error | Ping | Pong
Frame = ClientFrame | ServerFrame
