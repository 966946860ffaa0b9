"""Reconnection backoff: a pure function of the attempt number."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator


def backoff_delay(
    attempt: int,
    base: float = 0.1,
    factor: float = 2.0,
    cap: float = 5.0,
    jitter: float = 0.5,
    rand: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait before reconnection ``attempt`` (0 is the first retry).

    Capped exponential growth; ``jitter`` removes up to that fraction at random so that many
    clients do not retry in step. The first retry waits at most ``base`` (100 ms by default).
    """
    try:
        delay = min(cap, base * factor**attempt)
    except OverflowError:  # float overflow after ~1000 attempts: long past the cap
        delay = cap
    return delay * (1 - jitter * rand())


def backoff_delays(**options: float) -> Iterator[float]:
    """An endless iterator of delays for attempts 0, 1, 2, ..."""
    attempt = 0
    while True:
        yield backoff_delay(attempt, **options)  # type: ignore[arg-type]
        attempt += 1
