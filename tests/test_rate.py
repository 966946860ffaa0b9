"""flash_ws.protocol.rate: a token bucket on the caller's clock."""

from __future__ import annotations

import pytest

from flash_ws.protocol.rate import TokenBucket, TokenBuckets


def test_a_bucket_gives_its_burst_then_refills_at_its_rate_up_to_the_burst() -> None:
    bucket = TokenBucket(rate=2.0, burst=3)
    assert [bucket.take(10.0) for _ in range(4)] == [True, True, True, False]
    assert not bucket.take(10.4)  # 0.8 of a token
    assert bucket.take(10.5) and not bucket.take(10.5)
    assert [bucket.take(100.0) for _ in range(4)] == [True, True, True, False]  # never more than the burst


def test_a_clock_that_stands_still_or_goes_back_refills_nothing() -> None:
    bucket = TokenBucket(rate=100.0, burst=1)
    assert bucket.take(5.0)
    assert not bucket.take(4.0) and not bucket.take(5.0)
    assert bucket.take(5.02)


@pytest.mark.parametrize(("rate", "burst"), [(0.0, 1), (-1.0, 1), (1.0, 0)])
def test_a_bucket_refuses_nonsense(rate: float, burst: int) -> None:
    with pytest.raises(ValueError, match="positive rate and a burst of at least 1"):
        TokenBucket(rate, burst)


def test_buckets_per_key_are_independent_and_the_full_ones_are_forgotten() -> None:
    buckets = TokenBuckets(rate=1.0, burst=2)
    assert [buckets.take("a", 0.0) for _ in range(3)] == [True, True, False]
    assert buckets.take("b", 0.0)  # another address: its own bucket
    for key in range(100):  # at 10 s "a" and "b" have refilled: the sweep (at 64 buckets) forgets them
        assert buckets.take(f"k{key}", 10.0)
    assert len(buckets) == 100
    assert [buckets.take("a", 10.0) for _ in range(3)] == [True, True, False]  # a new bucket is the same
