"""flash_ws.protocol.rate: a token bucket on the caller's clock."""

from __future__ import annotations

import pytest

from flash_ws.protocol.rate import TokenBucket


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
