"""Prometheus metrics of flash_ws (the optional extra ``flash_ws[metrics]``, i.e. ``prometheus_client``).

The metrics are process-wide, created once by ``enable()``. Every figure is what *this worker
process* did; Prometheus (or prometheus_client's multiprocess mode, when ``PROMETHEUS_MULTIPROC_DIR``
is set before the server starts) sums the processes. See docs/operating.md for the list.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

# Buckets of the time from a ``yield`` to the page's acknowledgement of that update.
ACK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


@dataclass(frozen=True)
class Metrics:
    """Every metric flash_ws exports (names start with ``flash_ws_``)."""

    sessions_opened: Any
    sessions_resumed: Any
    sessions_ended: Any
    sessions_refused: Any
    connections: Any
    fallbacks: Any
    runs_started: Any
    runs_ended: Any
    active_runs: Any
    updates_sent: Any
    bytes_sent: Any
    frames_replayed: Any
    backpressure_wait: Any
    refused_frames: Any
    heartbeat_timeouts: Any
    ack_latency: Any
    draining: Any


_metrics: Metrics | None = None


def _import_prometheus() -> Any:
    try:
        import prometheus_client
    except ImportError as exc:
        raise ImportError(f"metrics=True needs prometheus_client: pip install 'flash_ws[metrics]' ({exc})") from exc
    return prometheus_client


def enable() -> Metrics:
    """Create the metrics (once per process) and return them."""
    global _metrics
    if _metrics is None:
        prom = _import_prometheus()
        counter, gauge = prom.Counter, prom.Gauge
        _metrics = Metrics(
            sessions_opened=counter("flash_ws_sessions_opened", "Sessions opened (new pages)", ["transport"]),
            sessions_resumed=counter("flash_ws_sessions_resumed", "Sessions resumed by a new connection", ["transport"]),
            sessions_ended=counter("flash_ws_sessions_ended", "Sessions closed or lost, by reason", ["reason"]),
            sessions_refused=counter("flash_ws_sessions_refused", "Connections refused a session, by reason", ["reason"]),
            connections=gauge("flash_ws_connections", "Open transport connections", ["transport"],
                              multiprocess_mode="livesum"),
            fallbacks=counter("flash_ws_fallbacks", "Sessions opened on the SSE + POST fallback, by reason", ["reason"]),
            runs_started=counter("flash_ws_runs_started", "Runs started, by event callback", ["callback"]),
            runs_ended=counter("flash_ws_runs_ended", "Runs ended, by event callback and reason (or error code)",
                               ["callback", "reason"]),
            active_runs=gauge("flash_ws_active_runs", "Runs whose generator is running", multiprocess_mode="livesum"),
            updates_sent=counter("flash_ws_updates_sent", "Update frames sent to pages, by transport", ["transport"]),
            bytes_sent=counter("flash_ws_bytes_sent", "Bytes of messages sent to pages, by transport", ["transport"]),
            frames_replayed=counter("flash_ws_frames_replayed", "Frames sent again to pages that resumed"),
            backpressure_wait=counter("flash_ws_backpressure_wait_seconds",
                                      "Time generators spent waiting at a yield for their page (backpressure)"),
            refused_frames=counter("flash_ws_refused_frames", "Client frames refused, by code", ["code"]),
            heartbeat_timeouts=counter("flash_ws_heartbeat_timeouts", "Connections closed after heartbeat silence",
                                       ["transport"]),
            ack_latency=prom.Histogram("flash_ws_ack_latency_seconds",
                                       "Time from a yield to the page's acknowledgement (acks are batched: up to 1 s)",
                                       buckets=ACK_BUCKETS),
            draining=gauge("flash_ws_draining", "1 while this worker is shutting down", multiprocess_mode="liveall"),
        )
    return _metrics


def current() -> Metrics | None:
    """The metrics when enabled in this process, else None."""
    return _metrics


def exposition() -> tuple[bytes, str]:
    """The text to serve at ``_flash_ws/metrics`` and its content type; with
    ``PROMETHEUS_MULTIPROC_DIR`` set, the sum over every process of the server."""
    prom = _import_prometheus()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = prom.CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return prom.generate_latest(registry), prom.CONTENT_TYPE_LATEST
    return prom.generate_latest(prom.REGISTRY), prom.CONTENT_TYPE_LATEST


def process_exited() -> None:
    """In multiprocess mode: drop this process's live gauges (call when the worker stops)."""
    if _metrics is not None and os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(os.getpid())
