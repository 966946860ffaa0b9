"""The figures of a ``scale`` level and the report: from what the load processes and the meters
measured to the per-level figures and verdict, then the two markdown tables and the conclusion.

Pure: nothing here starts a process or reads /proc; tests feed it hand-made levels.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from benchmarks.stats import percentile, summary

STARTUP_S = 10.0  # latency "after start-up" leaves out arrivals this long after the first (or a third of the run)
P99_LIMIT_MS = 1000.0  # a level "holds" when p99 stays under this and nothing is lost
# issue 12's speed target at 1,000 sessions: p99 at most this, and the workers' CPU per update at most this
SPEED_P99_MS = 100.0
SPEED_CPU_US = 60.0


def worker_us_per_update(run: dict[str, Any]) -> float | None:
    """CPU time of every worker together per update delivered, in µs (from the steady run's CPU);
    None when a worker's CPU could not be read (a sum without it would flatter the figure)."""
    pct = run["cpu"]["percent_of_core"]
    rate = run.get("updates_per_s")
    workers = [v for k, v in pct.items() if k.startswith("worker")]
    if not rate or not workers or None in workers:
        return None
    return round(sum(workers) / 100 / rate * 1e6, 1)


def latency_summary(values: list[float]) -> dict[str, float | None]:
    """p50, p95, p99 and max, rounded (all None for no values)."""
    quantiles = summary(values)
    if quantiles is None:
        return dict.fromkeys(("p50", "p95", "p99", "max"))
    return {**quantiles, "max": round(max(values), 2)}


def run_figures(dones: list[dict[str, Any]], expected: int, duration: float, started_wall: float,
                cpu: dict[str, Any]) -> dict[str, Any]:
    """What the load processes saw of the run (their ``done`` answers) against the ``expected``
    updates, with the CPU measured over its steady part."""
    latency = [v for d in dones for v in d["latency_ms"]]
    lag = [v for d in dones for v in d["lag_ms"]]
    arrivals = [v for d in dones for v in d["arrivals"]]
    ends: dict[str, int] = {}
    for d in dones:
        for reason, n in d["ends"].items():
            ends[reason] = ends.get(reason, 0) + n
    distinct = sum(d["distinct"] for d in dones)
    first = min(arrivals, default=started_wall)
    last = max(arrivals, default=started_wall)
    # p99 per 5 s of arrival time from the first arrival: a backlog that grows shows as a rising p99
    by_window: dict[int, list[float]] = {}
    for at, value in zip(arrivals, latency, strict=True):
        by_window.setdefault(int((at - first) // 5), []).append(value)
    # after start-up: the runs' starts (every session at once) are over
    settled = first + min(STARTUP_S, duration / 3)
    steady = [value for at, value in zip(arrivals, latency, strict=True) if at >= settled]
    return {
        "expected": expected,
        "received": sum(d["received"] for d in dones),
        "distinct": distinct,
        "lost": expected - distinct,
        "duplicated": sum(d["duplicated"] for d in dones),
        "reordered": sum(d["reordered"] for d in dones),
        "runs": sum(d["runs"] for d in dones),
        "ends": ends,
        "timed_out": any(d["timed_out"] for d in dones),
        "reconnections": sum(d["reconnections"] for d in dones),
        # WebSocket messages the pages got per update received (the load counts them: flash_ws's does)
        "messages_per_update": _ratio(sum(d["messages"] for d in dones), sum(d["received"] for d in dones))
        if all("messages" in d for d in dones) else None,
        "sessions_lost": sum(d["sessions_lost"] for d in dones),
        "failures": [f for d in dones for f in d["failures"]][:5],
        "server_errors": [e for d in dones for e in d["server_errors"]][:5],
        "latency_ms": latency_summary(latency),
        "latency_after_startup_ms": latency_summary(steady),
        "startup_s": round(settled - first, 1),
        "producer_lag_ms": latency_summary(lag),
        "p99_by_5s_ms": {str(k * 5): round(percentile(v, 99), 1) for k, v in sorted(by_window.items())},  # type: ignore[arg-type]
        "updates_per_s": round(len(arrivals) / (last - first), 1) if last > first else None,
        "client_loop_lag_ms": {"p99_worst": max((d["loop_lag_ms"]["p99"] or 0 for d in dones), default=None),
                               "max": max((d["loop_lag_ms"]["max"] or 0 for d in dones), default=None)},
        "cpu": cpu,
    }


@dataclass
class MemoryReadings:
    """RSS in KiB of each worker (by index) after warm-up, with every session idle and the highest
    during the run; the WebSocket connections each holds; each one's status idle and mid-run; and
    the RSS of the other processes (redis, nginx) by phase (``baseline``, ``idle``, ``active_peak``)."""

    base: dict[int, int | None]
    idle: dict[int, int | None] = field(default_factory=dict)
    peak: dict[int, int | None] = field(default_factory=dict)
    conns: dict[int, int] = field(default_factory=dict)
    statuses: dict[int, Any] = field(default_factory=dict)
    active_statuses: dict[int, Any] = field(default_factory=dict)
    others: dict[str, dict[str, int]] = field(default_factory=dict)

    def figures(self) -> dict[str, Any]:
        """Per worker and overall: RSS in MB by phase, KiB per idle and per active session."""
        per_worker = {}
        for index, n in self.conns.items():
            b, i, p = self.base[index], self.idle[index], self.peak[index]
            per_worker[f"worker{index}"] = {
                "connections": n, "store_sessions_idle": self.statuses[index].get("sessions"),
                "runs_active": self.active_statuses[index].get("runs"),
                "rss_mb": {"baseline": _mb(b), "idle": _mb(i), "active_peak": _mb(p)},
                "kib_per_idle_session": round((i - b) / n, 1) if n and b and i else None,
                "kib_per_active_session": round((p - b) / n, 1) if n and b and p else None,
            }
        total_n = sum(self.conns.values())

        def overall(rss: dict[int, int | None]) -> float | None:
            values = [(rss[index] or 0) - (self.base[index] or 0) for index in self.conns]
            return round(sum(values) / total_n, 1) if total_n else None

        names = list(self.others.get("baseline", {}))
        return {"workers": per_worker, "connections": total_n, "kib_per_idle_session": overall(self.idle),
                "kib_per_active_session": overall(self.peak),
                "others_rss_mb": {name: {phase: _mb(kib.get(name)) for phase, kib in self.others.items()}
                                  for name in names}}


def _mb(kib: int | None) -> float | None:
    return None if kib is None else round(kib / 1024, 1)


def verdict(sessions: int, level: dict[str, Any]) -> dict[str, Any]:
    """Whether the level was correct (every one of ``sessions`` connected, nothing lost, duplicated
    or reordered, every run ``done``) and held (correct, and p99 under ``P99_LIMIT_MS``), and why not."""
    run = level.get("run")
    if level["error"] or run is None:
        return {"correct": False, "holds": False, "why": level["error"] or "did not run"}
    correct = (run["lost"] == 0 and run["duplicated"] == 0 and run["reordered"] == 0
               and level["ramp"]["sessions"] == sessions and run["ends"] == {"done": run["runs"]})
    p99 = run["latency_ms"]["p99"]
    holds = correct and p99 is not None and p99 < P99_LIMIT_MS
    why = []
    if level["ramp"]["sessions"] != sessions:
        why.append(f"{level['ramp']['failed']} sessions failed to connect")
    if run["lost"] or run["duplicated"] or run["reordered"]:
        why.append(f"lost {run['lost']}, duplicated {run['duplicated']}, reordered {run['reordered']}")
    if run["ends"] != {"done": run["runs"]}:
        why.append(f"run ends {run['ends']} of {run['runs']}")
    if p99 is None or p99 >= P99_LIMIT_MS:
        why.append(f"p99 {p99} ms >= {P99_LIMIT_MS:.0f} ms")
    return {"correct": correct, "holds": holds, "why": "; ".join(why)}


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}" if abs(value) < 1 else f"{value:.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


LATENCY_HEAD = ("setup", "sessions", "streams × rate", "s", "connected", "expected", "received", "lost", "dup",
                "reord", "p50 ms", "p95 ms", "p99 ms", "max ms", "p99 after start-up ms", "producer lag p99 ms",
                "client loop lag p99 ms", "reconnects", "holds")
COST_HEAD = ("setup", "sessions", "updates/s", "CPU % of a core: workers", "workers' CPU µs / update",
             "workers waiting for a core, % of the time", "redis", "nginx", "load clients",
             "Redis commands / update", "Redis bytes in / out per update", "messages / update",
             "machine busy (of 200)", "irq", "other processes", "idle sessions' CPU: workers",
             "RSS MB per worker: baseline → idle → active", "KiB / idle session", "KiB / active session",
             "RSS MB redis; nginx: idle → active", "ramp s", "connect p99 ms")
LEFT = {"setup", "streams × rate", "holds", "CPU % of a core: workers", "workers waiting for a core, % of the time",
        "idle sessions' CPU: workers",
        "Redis bytes in / out per update",
        "RSS MB per worker: baseline → idle → active", "RSS MB redis; nginx: idle → active"}


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 3) if whole else None


def _table(head: tuple[str, ...], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" if h in LEFT else "--:" for h in head) + "|"]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def _latency_row(level: dict[str, Any]) -> list[str]:
    c, run, ramp = level["config"], level.get("run"), level.get("ramp") or {}
    row = [level["setup"], _fmt(c["sessions"]), f"{c['streams']} × {c['rate']:g}/s", f"{c['duration']:g}",
           _fmt(ramp.get("sessions"))]
    if run is None:
        why = level["error"] if level.get("skipped") else f"no: {level['error']}"
        return row + ["–"] * (len(LATENCY_HEAD) - len(row) - 1) + [why]
    lat = run["latency_ms"]
    verdict = level["verdict"]
    return row + [
        _fmt(run["expected"]), _fmt(run["distinct"]), str(run["lost"]), str(run["duplicated"]), str(run["reordered"]),
        _fmt(lat["p50"]), _fmt(lat["p95"]), _fmt(lat["p99"]), _fmt(lat["max"]),
        _fmt(run["latency_after_startup_ms"]["p99"]), _fmt(run["producer_lag_ms"]["p99"]),
        _fmt(run["client_loop_lag_ms"]["p99_worst"]), str(run["reconnections"]),
        "yes" if verdict["holds"] else "no: " + verdict["why"]]


def _cost_row(level: dict[str, Any]) -> list[str]:
    c, run, mem = level["config"], level["run"], level["memory"]
    cpu = run["cpu"]
    pct = cpu["percent_of_core"]
    workers = " + ".join(_fmt(v) for k, v in pct.items() if k.startswith("worker"))
    waiting = " + ".join(_fmt(v) for k, v in cpu.get("waiting_percent", {}).items() if k.startswith("worker")) or "–"
    idle = " + ".join(_fmt(v) for k, v in level["idle_cpu"]["percent_of_core"].items() if k.startswith("worker"))
    rss = "; ".join(f"{v['rss_mb']['baseline']} → {v['rss_mb']['idle']} → {v['rss_mb']['active_peak']}"
                    for v in mem["workers"].values())
    others = "; ".join(f"{v['idle']} → {v['active_peak']}" for v in mem.get("others_rss_mb", {}).values()) or "–"
    redis = run.get("redis") or {}
    traffic = f"{_fmt(redis['bytes_in_per_update'])} / {_fmt(redis['bytes_out_per_update'])}" if redis else "–"
    return [level["setup"], _fmt(c["sessions"]), _fmt(run["updates_per_s"]), workers, _fmt(worker_us_per_update(run)),
            waiting, _fmt(pct.get("redis")),
            _fmt(pct.get("nginx")), _fmt(pct["clients"]), _fmt(redis.get("commands_per_update")), traffic,
            _fmt(run.get("messages_per_update")),
            _fmt(cpu["machine_busy_percent"]), _fmt(cpu["irq_percent"]),
            _fmt(cpu["other_percent"]), idle, rss, _fmt(mem["kib_per_idle_session"]),
            _fmt(mem["kib_per_active_session"]), others, _fmt(level["ramp"]["elapsed_s"]),
            _fmt(level["ramp"]["connect_ms"]["p99"])]


def markdown_tables(levels: list[dict[str, Any]]) -> str:
    """Two tables: what arrived and how fast; what it cost (CPU during the steady run, memory)."""
    lines = _table(LATENCY_HEAD, [_latency_row(level) for level in levels])
    costs = [_cost_row(level) for level in levels if level.get("run") is not None]
    if costs:
        lines += [""] + _table(COST_HEAD, costs)
    return "\n".join(lines)


def conclusion(levels: list[dict[str, Any]], target: int) -> str:
    skipped = [level["error"] for level in levels if level.get("skipped")]
    levels = [level for level in levels if not level.get("skipped")]
    if not levels:
        return skipped[0] if skipped else "no level ran"
    held = [level["config"]["sessions"] for level in levels if level["verdict"]["holds"]]
    correct = all(level["verdict"]["correct"] for level in levels)
    parts = []
    top = max((level["config"]["sessions"] for level in levels), default=0)
    if any(level["config"]["sessions"] >= target and level["verdict"]["holds"] for level in levels):
        parts.append(f"target met: {target:,} sessions held p99 < {P99_LIMIT_MS:.0f} ms with nothing lost")
    elif top < target:
        parts.append(f"the target ({target:,} sessions) was not tried here (largest level {top:,}); "
                     + (f"the most that held p99 < {P99_LIMIT_MS:.0f} ms with nothing lost: {max(held):,} sessions"
                        if held else "no level held"))
    elif held:
        parts.append(f"target **not met** at {top:,} sessions; the most that held p99 < {P99_LIMIT_MS:.0f} ms with nothing "
                     f"lost: {max(held):,} sessions")
    else:
        parts.append(f"target **not met**: no level held p99 < {P99_LIMIT_MS:.0f} ms with nothing lost")
    parts.append("every update arrived exactly once and in order at every level" if correct
                 else "**correctness failed** at some level (see 'holds')")
    parts += [speed_verdict(level) for level in levels if level["config"]["sessions"] == target and level.get("run")]
    return "; ".join(parts)


def speed_verdict(level: dict[str, Any]) -> str:
    """Issue 12's speed target for one level: p99 and the workers' CPU per update against their limits."""
    run = level["run"]
    p99, us = run["latency_ms"]["p99"], worker_us_per_update(run)
    met = p99 is not None and us is not None and p99 <= SPEED_P99_MS and us <= SPEED_CPU_US and run["lost"] == 0
    return (f"speed target (p99 <= {SPEED_P99_MS:.0f} ms, workers' CPU <= {SPEED_CPU_US:.0f} µs per update): "
            f"{'met' if met else '**not met**'} (p99 {_fmt(p99)} ms, {_fmt(us)} µs per update, {level['setup']})")


def _paired_workers(level: dict[str, Any]) -> tuple[str, str]:
    """A paired level's worker on this checkout and its worker on the other (worker1; worker0 with swap)."""
    return ("worker1", "worker0") if level["config"]["swap"] else ("worker0", "worker1")


def paired_cpu_ratio(level: dict[str, Any]) -> float | None:
    """A paired level's run CPU of this checkout's worker over the other checkout's: below 1, this
    checkout costs less. None when the level did not run or a worker's CPU could not be read."""
    run = level.get("run")
    if run is None:
        return None
    pct = run["cpu"]["percent_of_core"]
    this, other = (pct.get(name) for name in _paired_workers(level))
    return round(this / other, 4) if this and other else None


def paired_line(level: dict[str, Any], shas: dict[str, str | None]) -> str:
    """A paired level in one line: each worker's checkout (``shas``: ``this``, ``dir``), its run CPU and
    connections (an even split shows that each served half the pages), and this checkout's change."""
    c, run = level["config"], level.get("run")
    head = f"paired, {c['sessions']:,} sessions: "
    if run is None:
        return head + f"no run ({level['error']})"
    pct, workers = run["cpu"]["percent_of_core"], level["memory"]["workers"]
    this, other = _paired_workers(level)
    labels = {this: f"this checkout, {shas['this'] or 'no git'}", other: f"{c['paired']}, {shas['dir'] or 'no git'}"}
    parts = []
    for name in sorted(labels):
        conns = workers.get(name, {}).get("connections")
        parts.append(f"{name} ({labels[name]}) {_fmt(pct.get(name))} % of a core"
                     + ("" if conns is None else f", {conns:,} connections"))
    ratio = paired_cpu_ratio(level)
    change = "–" if ratio is None else f"{(ratio - 1) * 100:+.1f} %"
    return head + "; ".join(parts) + f": this checkout {change} vs {c['paired']}"
