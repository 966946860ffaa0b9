"""The common shape of a contender: a server to start and a client driver that runs streams.

A driver opens one page's worth of connection(s) to a base URL (the proxy in front of the server),
runs a set of streams concurrently, and records every update as it arrives. It never judges what it
saw: the benchmark counts loss, duplication and reordering from the records and from what the
server says it produced.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from benchmarks.contenders.streams import StreamParams, component_id
from benchmarks.servers import ServerProcess

# (seq, server timestamp, arrival timestamp): both time.time() on this machine.
Record = tuple[int, float, float]


class ContenderUnavailable(Exception):
    """The contender cannot run here (its WebSocket upgrade is refused, say): the row records why."""


@dataclass(frozen=True)
class StreamSpec:
    """One stream to run: the server callback/component ``name`` with ``params``."""

    name: str
    params: StreamParams

    @property
    def key(self) -> str:
        return self.params.key

    @property
    def component(self) -> str:
        return component_id(self.name)


@dataclass
class Recorder:
    """Arrivals of every stream, by key, in arrival order; and how each stream ended."""

    records: dict[str, list[Record]] = field(default_factory=lambda: defaultdict(list))
    ended: dict[str, str] = field(default_factory=dict)  # key -> "done" or why not
    restarts: int = 0  # streams started again after a drop (contenders without resume)
    last_arrival: float = 0.0

    def arrive(self, key: str, seq: int, ts: float) -> None:
        now = time.time()
        self.records[key].append((seq, ts, now))
        self.last_arrival = now

    def end(self, key: str, how: str = "done") -> None:
        self.ended.setdefault(key, how)

    def arrivals(self) -> list[float]:
        return [arrival for records in self.records.values() for _, _, arrival in records]


class Driver(ABC):
    """The client side of one contender, for one row (one profile)."""

    page_per_run = False  # every phase needs a new page: what one run leaves in the page changes the next

    def __init__(self) -> None:
        self.connections = 0  # connections the client opened (the proxy counts too)
        self.transport = ""  # what was actually used, e.g. "websocket" or "sse (fallback)"
        self.notes: list[str] = []

    @abstractmethod
    async def open(self, base_url: str) -> None:
        """Connect (as a page load would); raise ContenderUnavailable when that cannot work here."""

    @abstractmethod
    async def run(self, streams: list[StreamSpec], recorder: Recorder) -> None:
        """Start ``streams`` at once; return when each has ended. The benchmark may cancel this."""

    @abstractmethod
    async def close(self) -> None:
        """Leave, as a closing page does."""


@dataclass(frozen=True)
class Contender:
    name: str
    summary: str
    server: Callable[[], ServerProcess]
    driver: Callable[[], Driver]
    resumes: bool  # it resumes a dropped stream itself (else its driver starts the stream again)
    profiles: tuple[str, ...] | None = None  # where it runs unless named with --contender (None: everywhere)
    in_chromium: bool = False  # its client is a page in headless Chromium (``--quick`` runs those in clean only)
