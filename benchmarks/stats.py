"""The benchmark's arithmetic, pure: percentiles, sequence accounting, reconnection times.

Nothing here knows about sockets or clocks; tests feed it hand-made numbers.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


def percentile(values: Iterable[float], q: float) -> float | None:
    """The ``q``-th percentile (0..100) with linear interpolation between closest ranks (NumPy's
    default); None for no values."""
    if not 0 <= q <= 100:
        raise ValueError(f"q must be between 0 and 100, got {q}")
    ordered = sorted(values)
    if not ordered:
        return None
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary(values: Sequence[float], digits: int = 2) -> dict[str, float] | None:
    """``{"p50", "p95", "p99"}`` rounded, or None for no values."""
    if not values:
        return None
    return {f"p{q}": round(percentile(values, q), digits) for q in (50, 95, 99)}  # type: ignore[arg-type]


@dataclass(frozen=True)
class SequenceReport:
    """What a client saw of one stream whose producer numbered its updates 0 .. produced - 1."""

    received: int  # arrivals, duplicates included
    distinct: int
    lost: int  # produced, never received
    duplicated: int  # arrivals of a number already received
    reordered: int  # first arrivals of a number lower than one received before
    pending: int = 0  # produced after the highest number received, on a stream still being delivered

    def __add__(self, other: SequenceReport) -> SequenceReport:
        return SequenceReport(*(a + b for a, b in zip(
            (self.received, self.distinct, self.lost, self.duplicated, self.reordered, self.pending),
            (other.received, other.distinct, other.lost, other.duplicated, other.reordered, other.pending), strict=True)))


EMPTY = SequenceReport(0, 0, 0, 0, 0, 0)


def account(seqs: Iterable[int], produced: int | None = None, settled: bool = True) -> SequenceReport:
    """Count loss, duplication and reordering in ``seqs``, the sequence numbers in arrival order.

    ``produced`` is how many updates the producer made (numbers ``0 .. produced - 1``); without it,
    only the gaps below the highest number received count as lost. A number outside that range
    counts as received but never as lost.

    ``settled=False`` is for a stream whose delivery was still going on when counting stopped (a
    contender that resumes, cut at the deadline): what was produced after the highest number received
    is ``pending``, not lost; the gaps below it are lost all the same.
    """
    seen: set[int] = set()
    received = duplicated = reordered = 0
    highest = -1
    for seq in seqs:
        received += 1
        if seq in seen:
            duplicated += 1
            continue
        seen.add(seq)
        if seq < highest:
            reordered += 1
        highest = max(highest, seq)
    expected = produced if produced is not None else highest + 1
    pending = 0
    if not settled and expected > highest + 1:
        pending, expected = expected - (highest + 1), highest + 1
    lost = expected - sum(1 for seq in seen if 0 <= seq < expected)
    return SequenceReport(received, len(seen), lost, duplicated, reordered, pending)


@dataclass(frozen=True)
class Recovery:
    """Reconnection after faults: milliseconds from each fault's end to the first update after it."""

    samples_ms: tuple[float, ...]
    unrecovered: int  # faults after which no update arrived in time

    @property
    def faults(self) -> int:
        return len(self.samples_ms) + self.unrecovered

    def summary(self) -> dict[str, float] | None:
        """``{"p50", "p95", "n", "unrecovered"}``; None when no fault hit a running stream."""
        if not self.faults:
            return None
        result: dict[str, float] = {"n": self.faults, "unrecovered": self.unrecovered}
        for q in (50, 95):
            value = percentile(self.samples_ms, q)
            result[f"p{q}"] = None if value is None else round(value, 1)  # type: ignore[assignment]
        return result


def recovery(healed_at: Iterable[float], arrivals: Sequence[float], until: float) -> Recovery:
    """For each moment a fault healed, the delay to the first arrival after it, up to ``until``.

    ``arrivals`` are arrival times (any order, same clock as ``healed_at``, in seconds).
    """
    ordered = sorted(arrivals)
    samples: list[float] = []
    unrecovered = 0
    for healed in sorted(healed_at):
        index = bisect_right(ordered, healed)
        if index < len(ordered) and ordered[index] <= until:
            samples.append((ordered[index] - healed) * 1000)
        else:
            unrecovered += 1
    return Recovery(tuple(samples), unrecovered)
