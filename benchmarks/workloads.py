"""What each row runs, and for how long: a paced stream, a burst, and eight concurrent bursts.

- **paced**: ``rate`` updates per second (100) for the row's duration: latency, and what the faults
  do (the lossy profile's resets and the outage profile's dead path fall in this phase; both get a
  longer one: resets come 1 to 4 s after a connection opens, and the outage needs room around it,
  1 s on either side, ``--quick`` 0.5 s);
- **burst**: one stream as fast as the contender takes it, for a few seconds: updates per second
  on one connection;
- **streams**: eight bursts at once on one session (eight distinct callbacks): aggregate updates/s.

``--quick`` (a smoke run) shrinks every phase: the paced one to 0.5 s (lossy 2.5 s, outage 3 s), the
bursts to 0.3 s, the outage to 2 s (the full run's is 5 s), and waits less for a phase to deliver.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from benchmarks.contenders.base import StreamSpec
from benchmarks.contenders.streams import StreamParams
from benchmarks.faults import OUTAGE_DURATION_S

DEFAULT_DURATION_S = 2.0
QUICK_DURATION_S = 0.5
CONCURRENT_STREAMS = 8


@dataclass(frozen=True)
class Sizing:
    duration_s: float  # the paced phase in clean, wan and ws-blocked
    lossy_s: float  # the paced phase in lossy
    outage_paced_s: float  # the paced phase in outage
    outage_s: float  # how long the outage profile's dead path lasts
    burst_s: float  # each of the burst and streams phases
    rate: float = 100.0
    burst_limit: int = 100_000  # updates per burst stream at most
    grace_s: float = 6.0  # how long after its producers stop a phase may take to deliver
    idle_cut_s: float = 3.0  # contenders without resume: give up after this much silence once producers stop
    quick: bool = False
    repeat_paced_s: float = 1.0  # the paced phase of each repeated clean round (benchmarks/repeats.py)
    repeat_cpu_s: float = 1.0  # its phase at 1,000 updates/s that measures server CPU per update

    @classmethod
    def choose(cls, quick: bool, duration_s: float | None = None, rate: float = 100.0) -> Sizing:
        if quick:
            duration = duration_s or QUICK_DURATION_S
            outage = 2.0
            return cls(duration, max(duration, 2.5), max(duration, outage + 1.0), outage,
                       min(max(duration / 3, 0.3), 2.0), rate, grace_s=2.0, idle_cut_s=0.75, quick=True,
                       repeat_paced_s=0.5, repeat_cpu_s=0.5)
        duration = duration_s or DEFAULT_DURATION_S
        outage = OUTAGE_DURATION_S
        return cls(duration, max(duration, 5.0), max(duration, outage + 2.0), outage,
                   min(max(duration / 3, 0.5), 2.0), rate)

    def paced_s(self, profile: str) -> float:
        return {"lossy": self.lossy_s, "outage": self.outage_paced_s}.get(profile, self.duration_s)

    def outage_offset_s(self) -> float:
        """When, after the paced phase starts, the dead path begins: in the middle of the phase."""
        return (self.outage_paced_s - self.outage_s) / 2

    def to_json(self) -> dict[str, float | int | bool]:
        return {"duration_s": self.duration_s, "lossy_paced_s": self.lossy_s, "outage_paced_s": self.outage_paced_s,
                "outage_s": self.outage_s, "burst_s": self.burst_s, "rate": self.rate,
                "burst_limit": self.burst_limit, "grace_s": self.grace_s, "idle_cut_s": self.idle_cut_s,
                "quick": self.quick, "repeat_paced_s": self.repeat_paced_s, "repeat_cpu_s": self.repeat_cpu_s}


@dataclass(frozen=True)
class Phase:
    name: str  # "paced", "burst" or "streams"
    duration_s: float
    streams: tuple[StreamSpec, ...]


def _key() -> str:
    return uuid.uuid4().hex[:16]


def phases(profile: str, sizing: Sizing) -> list[Phase]:
    """The phases of one row, each stream with a fresh key."""
    paced_s = sizing.paced_s(profile)

    def burst(name: str) -> StreamSpec:
        return StreamSpec(name, StreamParams(_key(), "burst", sizing.burst_s, sizing.rate, sizing.burst_limit))

    return [
        Phase("paced", paced_s, (StreamSpec("paced", StreamParams(_key(), "paced", paced_s, sizing.rate)),)),
        Phase("burst", sizing.burst_s, (burst("burst"),)),
        Phase("streams", sizing.burst_s, tuple(burst(f"stream{i}") for i in range(CONCURRENT_STREAMS))),
    ]
