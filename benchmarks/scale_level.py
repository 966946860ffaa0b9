"""One level of ``benchmarks.scale``: a fresh stack, then warm-up, ramp, idle and run, measured.

Each phase adds its part to the level's record (a dict, written to the JSON as it is); a failure
anywhere is the level's ``error``, and the stack is stopped whatever happened.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.metering import CpuMeter, established, group_rss, status_kib
from benchmarks.scale_report import MemoryReadings, latency_summary, run_figures, verdict
from benchmarks.scale_stack import FLASH_WS, Stack, Worker, scale_contender, shares

IDLE_S = 3.0  # idle sessions are measured over this long after the ramp


@dataclass
class Config:
    sessions: int
    streams: int
    rate: float
    duration: float
    workers: int
    redis: bool
    lb: str
    clients: int
    ramp: float
    nginx_processes: int = 1
    loop: str = "asyncio"  # the event loop of the workers (hypercorn --worker-class, uvicorn --loop) and of the load processes
    contender: str = "flash_ws"  # or "dash-stream": Dash 4.5's own streaming callbacks
    dash_redis_pool: int | None = None  # dash-stream: redis-py connections per worker (None: its default, 100)
    redis_cluster: bool = False  # with redis: a Redis Cluster of 3 masters instead of one redis-server
    backend: str = "quart"  # flash_ws's workers: Quart under hypercorn, or "fastapi" under uvicorn
    paired: str | None = None  # another checkout: one worker (worker1; worker0 with swap) runs from there
    swap: bool = False
    phases: str = "together"  # how a page's streams sit in the update period (benchmarks.schedule)

    @property
    def worker_cwds(self) -> dict[int, Path]:
        """The workers that run from another checkout than this one, by index."""
        return {} if self.paired is None else {0 if self.swap else 1: Path(self.paired)}

    @property
    def count(self) -> int:
        """Updates each run yields."""
        return max(1, round(self.rate * self.duration))

    @property
    def load_processes(self) -> int:
        """``clients``, but never more than there are sessions."""
        return max(1, min(self.clients, self.sessions))

    def describe(self) -> str:
        store = ("redis cluster (3 masters)" if self.redis_cluster else "redis") if self.redis else \
            "in-process store" + (" per worker" if self.workers > 1 else "")
        loop = (", fastapi/uvicorn" if self.backend == "fastapi" else "") + (", uvloop" if self.loop == "uvloop" else "")
        pool = f" (pool {self.dash_redis_pool})" if self.dash_redis_pool and self.contender != "flash_ws" else ""
        who = "" if self.contender == "flash_ws" else f"{self.contender}{pool}: "
        paired = "".join(f", worker{index} from {cwd}" for index, cwd in self.worker_cwds.items())
        phases = ", streams apart" if self.phases == "apart" else ""
        return f"{who}{self.workers} worker{'s' if self.workers > 1 else ''}, {store}, {self.lb}{loop}{paired}{phases}"


def say(text: str) -> None:
    """A progress line on stderr."""
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


class Meters:
    """The level's meters once the stack is up: CPU of its process groups, and memory readings."""

    def __init__(self, stack: Stack, pages_per_worker: list[int] | None = None) -> None:
        self.stack = stack
        self.pages_per_worker = pages_per_worker
        groups = stack.cpu_groups()
        self.cpu = CpuMeter(groups)
        self.others = {name: pids for name, pids in groups.items() if name in ("redis", "nginx")}
        self.memory = MemoryReadings(base=self.workers_rss(), others={"baseline": group_rss(self.others)})
        self.base_conns = {w.index: established(w.port) for w in stack.workers}

    def workers_rss(self) -> dict[int, int | None]:
        return {w.index: status_kib(w.pid, "VmRSS") if w.pid else None for w in self.stack.workers}

    def note_idle(self) -> None:
        """RSS, connections and statuses with every session open and idle."""
        self.memory.idle = self.workers_rss()
        self.memory.others["idle"] = group_rss(self.others)
        self.memory.others["active_peak"] = dict(self.memory.others["idle"])
        if self.pages_per_worker is None:
            self.memory.conns = {w.index: established(w.port) - self.base_conns[w.index] for w in self.stack.workers}
        else:  # no connection per page: the pages are counted evenly over the workers
            self.memory.conns = dict(enumerate(self.pages_per_worker))
        self.memory.statuses = {w.index: w.holdings() for w in self.stack.workers}
        self.memory.peak = dict(self.memory.idle)

    def note_peak(self) -> None:
        """Keep the highest RSS of each worker and of redis and nginx."""
        for index, rss in self.workers_rss().items():
            if rss is not None and rss > (self.memory.peak[index] or 0):
                self.memory.peak[index] = rss
        peak = self.memory.others["active_peak"]
        for name, kib in group_rss(self.others).items():
            peak[name] = max(kib, peak.get(name, 0))


async def _warm_up(stack: Stack, level: dict[str, Any], config: Config) -> None:
    """One short stream straight to each worker; note the store class each one reports."""
    await stack.command({"cmd": "warmup", "urls": [w.url for w in stack.workers]}, "warm", 120, stack.loads[:1])
    stores = [w.holdings()["store"] for w in stack.workers]
    level["store_class"] = sorted(set(stores))
    if config.redis and "redis" not in " ".join(stores).lower():
        level["notes"] = [f"the workers were given a Redis URL but report the store classes {stores}"]
        say(f"  warning: {level['notes'][0]}")


async def _ramp(stack: Stack, config: Config, meters: Meters) -> dict[str, Any]:
    """Open every session at ``config.ramp`` per second in all."""
    clients = len(stack.loads)
    say(f"  ramp: {config.sessions} sessions at {config.ramp:g}/s over {clients} load processes …")
    before = meters.cpu.snapshot()
    connected = await stack.command([{"cmd": "connect", "sessions": n, "rate": config.ramp / clients}
                                     for n in shares(config.sessions, clients)],
                                    "connected", config.sessions / config.ramp * 3 + 120)
    cpu = CpuMeter.between(before, meters.cpu.snapshot())
    sessions = sum(c["sessions"] for c in connected)
    errors: dict[str, int] = {}
    for c in connected:
        for text, n in c["errors"].items():
            errors[text] = errors.get(text, 0) + n
    ramp = {"sessions": sessions, "failed": config.sessions - sessions, "errors": errors,
            "elapsed_s": max(c["elapsed_s"] for c in connected),
            "connect_ms": latency_summary([t for c in connected for t in c["connect_ms"]]), "cpu": cpu}
    say(f"  ramp: {sessions}/{config.sessions} connected in {ramp['elapsed_s']:.1f}s "
        f"(connect p99 {ramp['connect_ms']['p99']} ms)")
    return ramp


async def _idle(meters: Meters) -> dict[str, Any]:
    """``IDLE_S`` with every session open and idle: the CPU it costs, then memory and connections."""
    before = meters.cpu.snapshot()
    await asyncio.sleep(IDLE_S)
    cpu = CpuMeter.between(before, meters.cpu.snapshot())
    meters.note_idle()
    return cpu


async def _holdings(worker: Worker) -> dict[str, Any]:
    """A worker's status mid-run; a saturated worker that does not answer in time is noted, not fatal."""
    try:
        return await asyncio.to_thread(worker.holdings)
    except (OSError, TimeoutError) as exc:
        return {"unanswered": f"{type(exc).__name__}: {exc}"}


async def _run(stack: Stack, config: Config, meters: Meters) -> dict[str, Any]:
    """Every session starts its runs, their starts spread over one update period; CPU over the steady
    part (every run started, none ended), the highest RSS meanwhile, each worker's status mid-run;
    then what the load processes counted, and memory."""
    say(f"  run: {config.streams} streams x {config.rate:g}/s x {config.duration:g}s on every session …")
    spread = min(1.0 / config.rate, 2.0)
    timeout = config.duration + spread + 60
    await stack.command({"cmd": "run", "streams": config.streams, "count": config.count, "rate": config.rate,
                         "spread": spread, "timeout": timeout, "phases": config.phases}, "started", spread * 3 + 60)
    started_wall = time.time()
    # steady: every run started, none ended (the first ended about `duration` after the first start)
    steady_end = time.monotonic() + max(0.5, config.duration - spread - 0.2)
    await asyncio.sleep(min(1.0, config.duration * 0.2))
    redis_before = await asyncio.to_thread(stack.redis.counters) if stack.redis else None
    before = meters.cpu.snapshot()
    active = meters.memory.active_statuses
    midpoint = (before["at"] + steady_end) / 2
    while time.monotonic() < steady_end - 0.05:
        await asyncio.sleep(min(1.0, max(0.05, steady_end - time.monotonic())))
        meters.note_peak()
        if not active and time.monotonic() >= midpoint:
            for w in stack.workers:  # what each worker holds mid-run (its runs, its sessions)
                active[w.index] = await _holdings(w)
    cpu = CpuMeter.between(before, meters.cpu.snapshot())
    for w in stack.workers:
        if w.index not in active:
            active[w.index] = await _holdings(w)
    window = (before["at"], time.monotonic())
    redis_after = await asyncio.to_thread(stack.redis.counters) if stack.redis else None
    dones = await asyncio.gather(*(load.expect("done", timeout + 30) for load in stack.loads))
    expected = config.sessions * config.streams * config.count
    figures = run_figures(list(dones), expected, config.duration, started_wall, cpu)
    if redis_before and redis_after and figures["updates_per_s"]:
        figures["redis"] = redis_per_update(redis_before, redis_after, figures["updates_per_s"] * (window[1] - window[0]))
    return {"run": figures, "memory": meters.memory.figures(), "steady_window_s": round(window[1] - window[0], 2)}


def redis_per_update(before: dict[str, int], after: dict[str, int], updates: float) -> dict[str, Any]:
    """Redis's counters over the steady window per update delivered meanwhile (``updates``)."""
    def per(key: str) -> float:
        return round((after.get(key, 0) - before.get(key, 0)) / updates, 2)

    calls = {key[len("calls:"):]: per(key) for key in after if key.startswith("calls:") and per(key) >= 0.01}
    return {"commands_per_update": per("total_commands_processed"), "calls_per_update": per("calls"),
            "bytes_in_per_update": per("total_net_input_bytes"), "bytes_out_per_update": per("total_net_output_bytes"),
            "calls_by_command": dict(sorted(calls.items(), key=lambda kv: -kv[1])), "updates": round(updates)}


async def run_level(config: Config) -> dict[str, Any]:
    """One level on a fresh stack; never raises: a failure is the level's ``error``."""
    workdir = Path(tempfile.mkdtemp(prefix="flash_ws_scale_"))
    stack = Stack(workdir)
    level: dict[str, Any] = {"config": {**config.__dict__, "updates_per_run": config.count},
                             "setup": config.describe(), "error": None}
    began = time.monotonic()
    contender, found = scale_contender(config.contender)
    if contender is None:  # Dash 4.5 is not installed: the row says why, nothing runs
        level.update(skipped=found, error=f"skipped: {found}", elapsed_s=0.0)
        level["verdict"] = verdict(config.sessions, level)
        return level
    level["contender"] = found
    try:
        await stack.start(redis=config.redis, workers=config.workers, lb=config.lb, nginx_processes=config.nginx_processes,
                          clients=config.load_processes, loop=config.loop, contender=contender,
                          redis_pool=config.dash_redis_pool, redis_cluster=config.redis_cluster, backend=config.backend,
                          cwds=config.worker_cwds)
        await _warm_up(stack, level, config)
        await asyncio.sleep(1.0)
        meters = Meters(stack, None if contender is FLASH_WS else shares(config.sessions, config.workers))
        level["ramp"] = await _ramp(stack, config, meters)
        idle_cpu = await _idle(meters)
        ran = await _run(stack, config, meters)
        level.update(run=ran["run"], memory=ran["memory"], idle_cpu=idle_cpu, steady_window_s=ran["steady_window_s"])
        await stack.command({"cmd": "close"}, "closed", 120)
    except Exception as exc:  # noqa: BLE001 - the level records why it could not finish
        level["error"] = f"{type(exc).__name__}: {exc}"[:800]
        say(f"  error: {level['error']}")
    finally:
        await stack.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    level["elapsed_s"] = round(time.monotonic() - began, 1)
    level["verdict"] = verdict(config.sessions, level)
    return level
