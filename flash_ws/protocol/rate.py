"""A token bucket: how many starts a page may make, refilled by the caller's clock (the core has none)."""

from __future__ import annotations


class TokenBucket:
    """``burst`` tokens at first, refilled at ``rate`` a second up to ``burst``; ``take(now)`` spends
    one when there is one. ``now`` is the caller's monotonic clock in seconds; a clock that stands
    still (or goes back) refills nothing."""

    def __init__(self, rate: float, burst: int) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError(f"a token bucket needs a positive rate and a burst of at least 1, got {rate}, {burst}")
        self.rate, self.burst = rate, burst
        self._tokens = float(burst)
        self._last: float | None = None

    def take(self, now: float) -> bool:
        """Spend a token at time ``now``; False (nothing spent) when there is none."""
        if self._last is not None and now > self._last:
            self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self.rate)
        self._last = now if self._last is None else max(self._last, now)
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True
