"""What every contender's server streams: numbered, timestamped updates, and a book of them.

All servers run the same producer, so the contenders differ only in how updates travel:

- a **paced** stream yields ``rate`` updates per second until its ``duration`` is over;
- a **burst** yields as fast as the transport takes them (one ``await asyncio.sleep(0)`` per update,
  as any producer that awaits its data source does) until ``duration`` is over or ``limit`` updates
  have gone out.

Each update is ``{"seq": n, "ts": time.time()}`` for the component ``out-<name>``. Sequence numbers
belong to a stream ``key`` chosen by the benchmark, not to one run of the producer: when a contender
without resume starts a dropped stream again with the same key, numbering goes on from the last
update produced, so whatever was produced and never delivered shows up as lost. A new run of a key
stops the previous one at its next step. ``StreamBook.status`` tells the benchmark, over a side
channel that bypasses the proxy, how many updates a key has produced.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from benchmarks.processes import BENCH_STATUS_PATH

KINDS = ("paced", "burst")
# Concurrent streams use callbacks/components stream0 .. stream7.
STREAM_NAMES = ("paced", "burst", *(f"stream{i}" for i in range(8)))
STATUS_PATH = BENCH_STATUS_PATH


def component_id(name: str) -> str:
    return f"out-{name}"


@dataclass(frozen=True)
class StreamParams:
    """What a client asks a server to stream (sent as a plain JSON object)."""

    key: str
    kind: str
    duration: float
    rate: float = 100.0
    limit: int = 1_000_000

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")
        if self.duration < 0 or self.rate <= 0 or self.limit < 0:
            raise ValueError(f"duration, rate and limit must be positive, got {self}")

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "kind": self.kind, "duration": self.duration, "rate": self.rate, "limit": self.limit}

    @classmethod
    def from_json(cls, data: Any) -> StreamParams:
        if not isinstance(data, dict):
            raise ValueError(f"stream parameters must be an object, got {type(data).__name__}")
        return cls(str(data["key"]), str(data["kind"]), float(data["duration"]), float(data.get("rate", 100.0)),
                   int(data.get("limit", 1_000_000)))


@dataclass
class _Stream:
    deadline: float  # time.monotonic() when production stops, set by the key's first run
    produced: int = 0
    generation: int = 0
    running: int = 0


class StreamBook:
    """The streams of one server process, by key."""

    def __init__(self, clock=time.monotonic) -> None:
        self._streams: dict[str, _Stream] = {}
        self._clock = clock

    def status(self, key: str) -> dict[str, Any]:
        stream = self._streams.get(key)
        if stream is None:
            return {"key": key, "known": False, "produced": 0, "running": False}
        return {"key": key, "known": True, "produced": stream.produced, "running": stream.running > 0}

    async def updates(self, params: StreamParams) -> AsyncIterator[tuple[int, float]]:
        """Yield ``(seq, time.time())`` for this run of ``params.key`` (see the module docstring)."""
        now = self._clock()
        stream = self._streams.setdefault(params.key, _Stream(deadline=now + params.duration))
        stream.generation += 1
        generation = stream.generation
        base_time, base_count = now, stream.produced
        stream.running += 1
        try:
            while stream.generation == generation and stream.produced < params.limit:
                now = self._clock()
                if now >= stream.deadline:
                    return
                if params.kind == "paced":
                    due = base_time + (stream.produced - base_count) / params.rate
                    if due > now:
                        await asyncio.sleep(due - now)
                        if stream.generation != generation or self._clock() >= stream.deadline:
                            return
                else:
                    await asyncio.sleep(0)
                seq = stream.produced
                stream.produced += 1
                yield seq, time.time()
        finally:
            stream.running -= 1

    def forget(self, key: str) -> None:
        self._streams.pop(key, None)


def update_props(seq: int, ts: float) -> dict[str, Any]:
    """The props of one update: what every contender carries."""
    return {"children": {"seq": seq, "ts": ts}}


BOOK = StreamBook()
