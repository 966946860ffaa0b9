"""Token buckets: how many starts a page (or a client address) may make, refilled by the caller's clock
(the core has none)."""

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

    def full(self, now: float) -> bool:
        """Whether the bucket has refilled to ``burst`` by ``now`` (it is then the same as a new one)."""
        refill = (now - self._last) * self.rate if self._last is not None and now > self._last else 0.0
        return self._tokens + refill >= self.burst


class TokenBuckets:
    """A ``TokenBucket`` per key (a client address), made when the key is first seen. Buckets that
    refilled to ``burst`` are forgotten now and then (a new one is the same), so what is held is
    the keys seen in the last ``burst / rate`` seconds, not every key ever seen."""

    def __init__(self, rate: float, burst: int) -> None:
        TokenBucket(rate, burst)  # the same checks
        self.rate, self.burst = rate, burst
        self._buckets: dict[str, TokenBucket] = {}
        self._sweep_at = 64  # how many buckets are held before the full ones are forgotten

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, key: str, now: float) -> bool:
        """Spend a token of ``key``'s bucket at time ``now``; False (nothing spent) when it has none."""
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(self.rate, self.burst)
        taken = bucket.take(now)
        if len(self._buckets) >= self._sweep_at:
            self._buckets = {other: kept for other, kept in self._buckets.items() if not kept.full(now)}
            self._sweep_at = max(64, 2 * len(self._buckets))
        return taken
