"""When each chunk of one direction leaves the proxy: pure arithmetic on a clock the caller passes in.

A chunk is first paced by a token bucket (the bottleneck link), then delayed by latency ± jitter
(propagation). A chunk never leaves before the one read before it, so jitter cannot reorder bytes.
"""

from __future__ import annotations

import random
from collections import deque

from benchmarks.faults import Shaping

# The bucket holds this much traffic when idle: a short burst, then the configured rate.
BURST_S = 0.01
# How many drawn delays a DelayLine remembers (for tests and reports).
KEPT_DELAYS = 256


class TokenBucket:
    """Bytes per second with a burst of ``burst`` bytes. A chunk larger than the tokens available
    goes into debt: it leaves when the debt is paid, and the next chunk waits for that too."""

    def __init__(self, rate: float, burst: float, now: float = 0.0) -> None:
        if rate <= 0 or burst <= 0:
            raise ValueError(f"rate and burst must be > 0, got rate={rate}, burst={burst}")
        self.rate = rate
        self.burst = burst
        self._tokens = burst
        self._last = now

    def reserve(self, size: int, now: float) -> float:
        """Take ``size`` bytes at ``now``; return when their last byte has crossed the link."""
        now = max(now, self._last)
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now
        self._tokens -= size
        return now if self._tokens >= 0 else now + -self._tokens / self.rate


class DelayLine:
    """Departure times for the chunks of one direction of one connection."""

    def __init__(self, shaping: Shaping, rng: random.Random, now: float = 0.0) -> None:
        self.shaping = shaping
        self._rng = rng
        rate = shaping.bandwidth_bytes_per_s
        self._bucket = TokenBucket(rate, max(1.0, rate * BURST_S), now) if rate else None
        self._last_departure = now
        self.delays: deque[float] = deque(maxlen=KEPT_DELAYS)
        """The drawn propagation delays, in seconds, most recent last."""

    def schedule(self, size: int, now: float) -> float:
        """The loop time at which a chunk of ``size`` bytes read at ``now`` is delivered."""
        paced = self._bucket.reserve(size, now) if self._bucket else now
        latency, jitter = self.shaping.latency_ms / 1000, self.shaping.jitter_ms / 1000
        delay = self._rng.uniform(latency - jitter, latency + jitter) if jitter else latency
        self.delays.append(delay)
        self._last_departure = max(self._last_departure, paced + delay)
        return self._last_departure


def read_size(shaping: Shaping) -> int:
    """How much to read at once: 64 KiB, or one burst (at least 1 KiB) on a paced link."""
    rate = shaping.bandwidth_bytes_per_s
    return 64 * 1024 if rate is None else int(min(64 * 1024, max(1024, rate * BURST_S)))
