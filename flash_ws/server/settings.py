"""Server settings of flash_ws, set through ``Flash(...)`` arguments: the one object that owns every
option's default and validation (the protocol's per-session ``Limits`` are its ``limits``)."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..logs import LOG_FORMATS
from ..protocol import Limits
from .metrics_access import Network
from .sync_steps import DEFAULT_SYNC_THREADS, DEFAULT_SYNC_THREADS_PER_PAGE

TRANSPORTS = ("auto", "websocket", "sse")
SECRET_ENV = "FLASH_WS_SECRET"
REDIS_CLUSTER_ENV = "FLASH_WS_REDIS_CLUSTER"
REDIS_CLUSTER_MODES = ("auto", "yes", "no")
_CLUSTER_WORDS = {"auto": "auto", "": "auto", "yes": "yes", "true": "yes", "1": "yes", "on": "yes",
                  "no": "no", "false": "no", "0": "no", "off": "no"}


def secret_from_environment() -> bytes | None:
    """``$FLASH_WS_SECRET``: what signs browser keys, the same on every worker of an app."""
    return os.environ.get(SECRET_ENV, "").encode() or None


def redis_cluster_mode(value: bool | str | None = None) -> str:
    """Whether the Redis of ``redis_url`` is a Redis Cluster, as one of ``REDIS_CLUSTER_MODES``
    (True: "yes", False: "no", None: ``$FLASH_WS_REDIS_CLUSTER``, else "auto"); ValueError otherwise."""
    if value is None:
        value = os.environ.get(REDIS_CLUSTER_ENV, "auto")
    if isinstance(value, bool):
        return "yes" if value else "no"
    mode = _CLUSTER_WORDS.get(str(value).strip().lower())
    if mode is None:
        raise ValueError(f"redis_cluster (${REDIS_CLUSTER_ENV}) must be auto, yes or no, got {value!r}")
    return mode


@dataclass(frozen=True)
class Settings:
    limits: Limits = field(default_factory=Limits)
    allowed_origins: tuple[str, ...] = ()
    allowed_hosts: tuple[str, ...] = ()  # empty: any Host header
    session_user: Callable[[Any], Any] | None = None  # the user a request is from, bound into its session
    resume_grace: float = 30.0
    transport: str = "auto"
    ack_interval_ms: int = 3000  # the page acks at least this often (also by count and by bytes)
    ack_every: int = 64
    heartbeat_interval: float = 15.0
    heartbeat_timeout: float = 10.0
    ws_timeout: float = 2.0
    ws_retry_after: float = 600.0
    redis_url: str | None = None
    redis_cluster: str = "auto"  # "auto" (asked when the worker starts), "yes" (a Redis Cluster) or "no"
    worker_ttl: float = 5.0
    redis_store_interval: float = 0.02  # seconds between two stores of every owned session's output (one pipeline)
    redis_ahead_frames: int = 1024  # frames a page connected to the owner may get before Redis holds them
    replay_memory_budget: int = 256 << 20  # unacknowledged output of all sessions of a process
    replay_memory_per_address: int = 64 << 20  # of which one client address's pages hold past their fair shares
    stalled_session_timeout: float = 60.0  # a page whose buffer stays full, nothing acknowledged, this long is ended
    max_starts_per_address_per_second: float = 1000.0  # starts of all pages of one client address, per process
    debug: bool = False  # the page sees exception text (the service's ``debug`` can change later)
    max_sessions: int = 10_000  # open sessions (connected or in their grace period) per process
    max_sessions_per_address: int = 256  # open sessions per client address, per process
    redis_inbox_bytes: int = 16 << 20  # bytes waiting in one worker's Redis inbox; forwards past it are refused
    shared_event_stream: bool = True  # on the fallback, the tabs of a browser share one event stream
    max_shared_sessions: int = 64  # sessions (tabs) one shared event stream may carry
    stall_warning: float = 10.0  # the page says so in its console when a request waits this long
    post_body_timeout: float = 10.0  # seconds a POST's body may take to arrive whole (408 past it)
    sync_threads: int = DEFAULT_SYNC_THREADS  # threads sync generators step in (a pool of their own)
    sync_threads_per_page: int = DEFAULT_SYNC_THREADS_PER_PAGE  # of which one page may hold at once
    ws_compress_min_bytes: int = 1024  # WebSocket messages shorter than this go out uncompressed (hypercorn)
    log_format: str = "text"  # "json": flash_ws's loggers write JSON lines once the app starts serving
    metrics: bool = False  # serve Prometheus metrics at _flash_ws/metrics
    metrics_allowed: tuple[Network, ...] = ()  # besides loopback, who may read them (addresses, networks)
    metrics_token: str | None = None  # a bearer token that may read them from anywhere
    shutdown_grace: float = 5.0  # seconds running generators get to finish when the worker stops
    gc_tuning: bool = True  # when serving starts: freeze start-up's objects, rarer young collections (gc_tuning.py)
    # signs browser keys; None: a random one per process, agreed on through Redis when there is one
    secret: bytes | None = field(default_factory=secret_from_environment, repr=False)

    def __post_init__(self) -> None:
        if self.transport not in TRANSPORTS:
            raise ValueError(f"transport must be one of {', '.join(TRANSPORTS)}, got {self.transport!r}")
        if self.heartbeat_interval <= 0 or self.heartbeat_timeout <= 0:
            raise ValueError("heartbeat_interval and heartbeat_timeout must be positive seconds")
        if self.redis_cluster not in REDIS_CLUSTER_MODES:
            raise ValueError(f"redis_cluster must be one of {', '.join(REDIS_CLUSTER_MODES)}, got {self.redis_cluster!r}")
        if self.worker_ttl <= 0:
            raise ValueError(f"worker_ttl must be positive seconds, got {self.worker_ttl}")
        if not 0 <= self.redis_store_interval <= 1:
            raise ValueError(f"redis_store_interval must be 0 to 1 second, got {self.redis_store_interval}")
        if self.redis_ahead_frames < 1:
            raise ValueError(f"redis_ahead_frames must be at least 1, got {self.redis_ahead_frames}")
        if self.replay_memory_budget <= 0:
            raise ValueError(f"replay_memory_budget must be positive bytes, got {self.replay_memory_budget}")
        if self.replay_memory_per_address <= 0:
            raise ValueError(f"replay_memory_per_address must be positive bytes, got {self.replay_memory_per_address}")
        if self.stalled_session_timeout <= 0:
            raise ValueError(f"stalled_session_timeout must be positive seconds, got {self.stalled_session_timeout}")
        if self.max_starts_per_address_per_second <= 0:
            raise ValueError(f"max_starts_per_address_per_second must be positive, got {self.max_starts_per_address_per_second}")
        for name in ("max_sessions", "max_sessions_per_address", "redis_inbox_bytes", "max_shared_sessions", "sync_threads",
                     "sync_threads_per_page"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)}")
        if self.stall_warning <= 0:
            raise ValueError(f"stall_warning must be positive seconds, got {self.stall_warning}")
        if self.post_body_timeout <= 0:
            raise ValueError(f"post_body_timeout must be positive seconds, got {self.post_body_timeout}")
        if self.shutdown_grace < 0:
            raise ValueError(f"shutdown_grace must be >= 0 seconds, got {self.shutdown_grace}")
        if self.log_format not in LOG_FORMATS:
            raise ValueError(f"log_format must be one of {', '.join(LOG_FORMATS)}, got {self.log_format!r}")
        if self.ws_compress_min_bytes < 0:
            raise ValueError(f"ws_compress_min_bytes must be 0 or more bytes, got {self.ws_compress_min_bytes}")
        if self.secret is not None and len(self.secret) < 16:
            raise ValueError(f"{SECRET_ENV} must be at least 16 characters (a random value, the same on every worker)")
        if self.resume_grace < 0:
            raise ValueError(f"resume_grace must be >= 0 seconds, got {self.resume_grace}")

    @property
    def start_burst_per_address(self) -> int:
        """How many of ``max_starts_per_address_per_second`` one address may make at once: two
        seconds' worth, as ``start_burst`` is of a page's ``max_starts_per_second``."""
        return max(1, round(2 * self.max_starts_per_address_per_second))
