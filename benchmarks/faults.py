"""What the flaky proxy does to traffic: per-direction shaping, resets, outages, refused WebSockets.

Pure data: frozen dataclasses validated on construction, and the named ``PROFILES`` the benchmark runs.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

# The "outage" profile's dead path lasts this long; the benchmark picks when it starts.
OUTAGE_DURATION_S = 5.0
DEFAULT_OUTAGE_START_S = 2.0


@dataclass(frozen=True)
class Shaping:
    """One direction of a link: each chunk waits ``latency_ms ± jitter_ms`` (uniform) after being
    paced to ``bandwidth_bytes_per_s`` (a token bucket; ``None`` is unlimited)."""

    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    bandwidth_bytes_per_s: float | None = None

    def __post_init__(self) -> None:
        if self.latency_ms < 0:
            raise ValueError(f"latency_ms must be >= 0, got {self.latency_ms}")
        if not 0 <= self.jitter_ms <= self.latency_ms:
            raise ValueError(f"jitter_ms must be between 0 and latency_ms ({self.latency_ms}), got {self.jitter_ms}")
        if self.bandwidth_bytes_per_s is not None and self.bandwidth_bytes_per_s <= 0:
            raise ValueError(f"bandwidth_bytes_per_s must be > 0 or None, got {self.bandwidth_bytes_per_s}")

    @property
    def is_clean(self) -> bool:
        return self.latency_ms == 0 and self.bandwidth_bytes_per_s is None


@dataclass(frozen=True)
class Faults:
    """Everything the proxy injects. ``upstream`` is client -> server, ``downstream`` server -> client.

    - ``reset_after_s=(lo, hi)``: each connection is reset (RST to both sides) at a moment drawn
      uniformly in ``[lo, hi]`` seconds after it opens;
    - ``refuse_websocket``: WebSocket upgrade requests reach the server without their Upgrade and
      Connection headers, as through a stock nginx ``proxy_pass`` (see ``upgrade_filter``);
    - ``outage=(start_s, duration_s)``: a dead path, ``start_s`` after the proxy starts (see
      ``FlakyProxy.blackhole``).
    """

    upstream: Shaping = Shaping()
    downstream: Shaping = Shaping()
    reset_after_s: tuple[float, float] | None = None
    refuse_websocket: bool = False
    outage: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if self.reset_after_s is not None:
            low, high = self.reset_after_s
            if not 0 <= low <= high:
                raise ValueError(f"reset_after_s must be (lo, hi) with 0 <= lo <= hi, got {self.reset_after_s}")
        if self.outage is not None:
            start, duration = self.outage
            if start < 0 or duration <= 0:
                raise ValueError(f"outage must be (start_s >= 0, duration_s > 0), got {self.outage}")

    @classmethod
    def symmetric(cls, shaping: Shaping, *, reset_after_s: tuple[float, float] | None = None,
                  refuse_websocket: bool = False, outage: tuple[float, float] | None = None) -> Faults:
        """The same ``shaping`` in both directions (combine further with ``dataclasses.replace``)."""
        return cls(shaping, shaping, reset_after_s, refuse_websocket, outage)


WAN = Shaping(latency_ms=40, jitter_ms=10, bandwidth_bytes_per_s=2_000_000)

PROFILES: dict[str, Faults] = {
    "clean": Faults(),
    "wan": Faults.symmetric(WAN),
    "lossy": Faults.symmetric(WAN, reset_after_s=(1.0, 4.0)),
    "outage": Faults.symmetric(WAN, outage=(DEFAULT_OUTAGE_START_S, OUTAGE_DURATION_S)),
    "ws-blocked": Faults(refuse_websocket=True),
}


def profile(name: str, *, outage_start_s: float | None = None) -> Faults:
    """The named profile; ``outage_start_s`` moves the dead path of profiles that have one."""
    try:
        faults = PROFILES[name]
    except KeyError:
        raise KeyError(f"unknown profile {name!r}, expected one of {sorted(PROFILES)}") from None
    if outage_start_s is not None:
        if faults.outage is None:
            raise ValueError(f"profile {name!r} has no outage to move")
        faults = dataclasses.replace(faults, outage=(outage_start_s, faults.outage[1]))
    return faults
