"""flash_ws.protocol.backoff: reconnection delays as a pure function of the attempt number."""

from __future__ import annotations

from itertools import islice

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flash_ws.protocol import backoff_delay, backoff_delays


def never_jitter() -> float:
    return 0.0


def full_jitter() -> float:
    return 1.0


@given(rand=st.floats(min_value=0.0, max_value=1.0))
def test_the_first_retry_waits_at_most_100_ms_and_never_less_than_zero(rand: float) -> None:
    delay = backoff_delay(0, rand=lambda: rand)

    assert 0.0 <= delay <= 0.1


@given(attempt=st.integers(min_value=0, max_value=5000), rand=st.floats(min_value=0.0, max_value=1.0))
def test_every_delay_lies_between_half_and_all_of_the_capped_delay(attempt: int, rand: float) -> None:
    delay = backoff_delay(attempt, rand=lambda: rand)

    capped = min(5.0, 0.1 * 2.0 ** min(attempt, 100))
    assert capped * 0.5 - 1e-12 <= delay <= capped + 1e-12


def test_without_jitter_delays_double_up_to_the_cap() -> None:
    delays = [backoff_delay(attempt, rand=never_jitter) for attempt in range(10)]

    assert delays == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0, 5.0, 5.0])


def test_delays_are_monotone_and_capped_for_a_fixed_draw() -> None:
    for rand in (never_jitter, lambda: 0.3, full_jitter):
        delays = [backoff_delay(attempt, rand=rand) for attempt in range(40)]

        assert delays == sorted(delays)
        assert max(delays) <= 5.0
        assert delays[-1] == pytest.approx(5.0 * (1 - 0.5 * rand()))


def test_jitter_bounds_with_injected_rand() -> None:
    assert backoff_delay(3, rand=never_jitter) == pytest.approx(0.8)
    assert backoff_delay(3, rand=full_jitter) == pytest.approx(0.4)
    assert backoff_delay(3, jitter=0.25, rand=full_jitter) == pytest.approx(0.6)
    assert backoff_delay(3, jitter=0.0, rand=full_jitter) == pytest.approx(0.8)


def test_options_change_base_factor_and_cap() -> None:
    delays = [backoff_delay(a, base=1.0, factor=3.0, cap=20.0, rand=never_jitter) for a in range(5)]

    assert delays == pytest.approx([1.0, 3.0, 9.0, 20.0, 20.0])


def test_a_very_late_attempt_still_gets_the_cap() -> None:
    # 0.1 * 2.0 ** 1024 overflows a float: a client retrying for an hour or more must not crash.
    assert backoff_delay(1024, rand=never_jitter) == 5.0
    assert backoff_delay(10**6, rand=full_jitter) == pytest.approx(2.5)
    assert backoff_delay(2000, factor=2, rand=never_jitter) == 5.0  # int factor: int too large for a float


def test_backoff_delays_yields_the_delays_of_attempts_0_1_2() -> None:
    delays = list(islice(backoff_delays(rand=never_jitter), 8))

    assert delays == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0])


def test_backoff_delays_passes_its_options_on() -> None:
    delays = list(islice(backoff_delays(base=0.5, cap=1.0, rand=full_jitter), 4))

    assert delays == pytest.approx([0.25, 0.5, 0.5, 0.5])


def test_backoff_delays_is_endless() -> None:
    delays = list(islice(backoff_delays(rand=never_jitter), 1500))

    assert len(delays) == 1500
    assert delays[-1] == 5.0
