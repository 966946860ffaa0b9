"""``python -m benchmarks.scale``: many concurrent pages, each running several paced streams.

The target: 1,000 sessions x 4 streams x 2 updates/s (8,000 updates/s) over two hypercorn workers
sharing sessions through Redis, behind a round-robin nginx, all on this machine. For each level of
``--sessions`` everything starts afresh: redis-server, the workers (one hypercorn process each,
``benchmarks.scale_app``), nginx (upstream of both workers, round-robin, no stickiness) and
``--clients`` load-generating processes (``benchmarks.scale_load``: each holds its share of the
sessions on one asyncio loop, with the Python reference client). Then:

1. **warm-up**: one short stream straight to each worker; each worker's RSS is the baseline;
2. **ramp**: the sessions open gradually (``--ramp`` per second in all) and stay idle for
   ``IDLE_S``: RSS per idle session = RSS growth of a worker / the WebSocket connections it holds
   (counted in ``/proc/net/tcp``), and what idle sessions cost in CPU (heartbeats);
3. **run**: every session starts ``--streams`` runs, their starts spread over one update period so
   their phases do not line up; each run yields ``rate x duration`` updates, paced from its start,
   then ends. CPU of every process is measured over the steady part (all runs started, none ended
   yet); RSS per active session from the worker's highest RSS sampled meanwhile;
4. the clients count what they applied: every update must arrive once and in order (lost,
   duplicated, reordered 0), every run must end ``done``.

Latency is the client's ``time.time()`` when it applies an update less the ``time.time()`` the
producer stamped it with when it yielded it (same machine, same clock): it includes the worker's
writer, Redis when the session's connection is on another worker than the run, nginx, and the
load-generating process's own event loop (its lateness is reported apart, ``client loop lag``).
``producer lag`` is how late the producer yielded relative to its schedule (the worker's loop
running behind).

    python -m benchmarks.scale                          # the target, Redis + 2 workers + nginx
    python -m benchmarks.scale --sessions 250,500,750,1000 --json benchmarks/results/scale.json
    python -m benchmarks.scale --no-redis               # one worker, in-process store
    python -m benchmarks.scale --quick                  # 200 sessions, 10 s
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import inspect
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.flaky_net import machine, versions
from benchmarks.scale_app import MAX_STREAMS, STATUS_PATH
from benchmarks.servers import CLOCK_TICKS, LOOPBACK, ROOT, children, cpu_seconds, free_port, status_kib
from benchmarks.stats import percentile

IDLE_S = 3.0  # idle sessions are measured over this long after the ramp
STARTUP_S = 10.0  # latency "after start-up" leaves out arrivals this long after the first (or a third of the run)
P99_LIMIT_MS = 1000.0  # a level "holds" when p99 stays under this and nothing is lost
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback only


# --- processes ----------------------------------------------------------------------------------------


def _get_json(url: str, timeout: float = 5.0) -> Any:
    with _OPENER.open(url, timeout=timeout) as response:
        return json.loads(response.read())


def _wait(condition, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if condition():
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not ready after {timeout:.0f}s")
        time.sleep(0.05)


def _stop(proc: subprocess.Popen | None, sig: int = signal.SIGTERM) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class Redis:
    """redis-server on a free loopback port, no persistence."""

    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("redis-server")
        if not binary:
            raise RuntimeError("the Redis mode needs redis-server (Debian: apt-get install redis-server), or --no-redis")
        self.port = free_port()
        self.url = f"redis://{LOOPBACK}:{self.port}/0"
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", LOOPBACK, "--save", "", "--appendonly", "no",
             "--maxclients", "20000", "--dir", str(workdir), "--logfile", str(workdir / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        _wait(self._ready, f"redis-server on port {self.port}", 20)

    def _ready(self) -> bool:
        import socket

        if self.proc.poll() is not None:
            raise RuntimeError("redis-server exited at start")
        with socket.create_connection((LOOPBACK, self.port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")

    @property
    def pids(self) -> list[int]:
        return [self.proc.pid]

    def stop(self) -> None:
        _stop(self.proc)


def _environment(extra: dict[str, str]) -> dict[str, str]:
    """This process's environment without any FLASH_WS_REDIS_URL of its own, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k != "FLASH_WS_REDIS_URL"}
    return {**env, **extra}


class Worker:
    """One hypercorn process serving ``benchmarks.scale_app:server`` on its own port."""

    def __init__(self, index: int, env: dict[str, str], workdir: Path) -> None:
        self.index = index
        self.port = free_port()
        self.url = f"http://{LOOPBACK}:{self.port}"
        self.log = workdir / f"worker{index}.log"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hypercorn", "benchmarks.scale_app:server", "--bind", f"{LOOPBACK}:{self.port}",
             "--backlog", "4096"],
            cwd=ROOT, env=_environment(env), stdout=self.log.open("wb"), stderr=subprocess.STDOUT)
        self.pid: int | None = None  # the process that serves (hypercorn's worker), from its own status

    def wait_ready(self) -> None:
        def ready() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker {self.index} exited: {self.log.read_text(errors='replace')[-1500:]}")
            self.pid = self.status()["pid"]
            return True

        _wait(ready, f"worker {self.index} on port {self.port}", 90)

    def status(self) -> dict[str, Any]:
        return _get_json(self.url + STATUS_PATH)

    @property
    def pids(self) -> list[int]:
        return [self.pid] if self.pid else []

    def stop(self) -> None:
        _stop(self.proc)


NGINX_CONFIG = """
{user}
worker_processes {processes};
worker_rlimit_nofile 40000;
error_log {root}/error.log warn;
pid {root}/nginx.pid;
events {{ worker_connections 16384; }}
http {{
    access_log off;
    client_body_temp_path {root}/body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}
    upstream flash_ws_workers {{
{servers}
    }}
    server {{
        listen {host}:{port} backlog=4096;
        location / {{
            proxy_pass http://flash_ws_workers;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Host $host:$server_port;
            proxy_read_timeout 1h;
        }}
    }}
}}
"""


class Nginx:
    """nginx in front of the workers: one upstream, nginx's default round-robin, no stickiness."""

    def __init__(self, upstream_ports: list[int], workdir: Path, processes: int = 1) -> None:
        binary = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
        if not binary:
            raise RuntimeError("--lb nginx needs nginx (Debian: apt-get install nginx), or --lb direct")
        self.root = workdir / "nginx"
        self.root.mkdir()
        self.port = free_port()
        self.url = f"http://{LOOPBACK}:{self.port}"
        servers = "\n".join(f"        server {LOOPBACK}:{port};" for port in upstream_ports)
        config = NGINX_CONFIG.format(user="user root;" if os.geteuid() == 0 else "", processes=processes,
                                     root=self.root, servers=servers, host=LOOPBACK, port=self.port)
        (self.root / "nginx.conf").write_text(config)
        self.proc = subprocess.Popen([binary, "-p", str(self.root), "-c", str(self.root / "nginx.conf"),
                                      "-g", "daemon off;"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _wait(self._ready, f"nginx on port {self.port}", 20)

    def _ready(self) -> bool:
        if self.proc.poll() is not None:
            raise RuntimeError(f"nginx exited: {self.proc.stderr.read().decode() if self.proc.stderr else ''}")
        return isinstance(_get_json(self.url + STATUS_PATH, timeout=2), dict)

    @property
    def pids(self) -> list[int]:
        return [self.proc.pid, *children(self.proc.pid)]

    def stop(self) -> None:
        _stop(self.proc, signal.SIGQUIT)


class LoadClient:
    """One ``benchmarks.scale_load`` process, driven over its stdin / stdout."""

    def __init__(self, index: int, proc: asyncio.subprocess.Process) -> None:
        self.index = index
        self.proc = proc

    @classmethod
    async def start(cls, index: int, urls: list[str], workdir: Path) -> LoadClient:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "benchmarks.scale_load", "--urls", ",".join(urls), cwd=ROOT,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=(workdir / f"load{index}.log").open("wb"), limit=1 << 28)
        client = cls(index, proc)
        await client.expect("ready", 60)
        return client

    @property
    def pids(self) -> list[int]:
        return [self.proc.pid]

    async def send(self, command: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(command) + "\n").encode())
        await self.proc.stdin.drain()

    async def expect(self, event: str, timeout: float) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
        if not line:
            raise RuntimeError(f"load process {self.index} exited (code {await self.proc.wait()})")
        message = json.loads(line)
        if message.get("event") == "error":
            raise RuntimeError(f"load process {self.index} failed at {message['cmd']}: {message['error']}")
        if message.get("event") != event:
            raise RuntimeError(f"load process {self.index}: expected {event!r}, got {message.get('event')!r}")
        return message

    async def stop(self) -> None:
        if self.proc.returncode is None:
            try:
                await asyncio.wait_for(self.proc.wait(), 10)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()


# --- measuring -----------------------------------------------------------------------------------------


def machine_busy() -> tuple[float, float, float]:
    """(busy, total, irq + softirq) jiffies of the whole machine from /proc/stat (idle and iowait are
    not busy). Interrupt time (loopback TCP runs in softirqs) is charged to no process."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    total = sum(fields[:8])  # guest time is already in user
    return total - fields[3] - fields[4], total, fields[5] + fields[6]


class CpuMeter:
    """CPU seconds of named groups of processes between two snapshots, as % of one core."""

    def __init__(self, groups: dict[str, list[int]]) -> None:
        self.groups = groups

    def snapshot(self) -> dict[str, Any]:
        taken = {name: sum(cpu_seconds(pid) or 0.0 for pid in pids) for name, pids in self.groups.items()}
        return {"at": time.monotonic(), "groups": taken, "machine": machine_busy()}

    @staticmethod
    def between(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
        wall = b["at"] - a["at"]
        percent = {name: round(100 * (b["groups"][name] - a["groups"][name]) / wall, 1) for name in a["groups"]}
        busy = b["machine"][0] - a["machine"][0]
        total = b["machine"][1] - a["machine"][1]
        cores = os.cpu_count() or 1
        machine_pct = 100 * cores * busy / total if total else None
        irq_pct = 100 * cores * (b["machine"][2] - a["machine"][2]) / total if total else None
        ours = sum(percent.values())
        return {"other_percent": None if machine_pct is None else round(max(0.0, machine_pct - ours - irq_pct), 1),
                "irq_percent": None if irq_pct is None else round(irq_pct, 1),
                "wall_s": round(wall, 2), "percent_of_core": percent,
                "machine_busy_percent": round(100 * cores * busy / total, 1) if total else None,
                "machine_capacity_percent": 100 * cores,
                "clock_ticks": CLOCK_TICKS}


def established(port: int) -> int:
    """TCP connections in state ESTABLISHED whose local port is ``port`` (the server's side)."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if parts[3] == "01" and int(parts[1].rsplit(":", 1)[1], 16) == port:
                count += 1
    return count


def _summary(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None, "p99": None, "max": None}
    ordered = sorted(values)
    result: dict[str, float | None] = {f"p{q}": round(percentile(ordered, q), 2) for q in (50, 95, 99)}  # type: ignore[misc]
    result["max"] = round(ordered[-1], 2)
    return result


# --- one level ------------------------------------------------------------------------------------------


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

    @property
    def count(self) -> int:
        """Updates each run yields."""
        return max(1, round(self.rate * self.duration))

    def describe(self) -> str:
        store = "redis" if self.redis else "in-process store" + (" per worker" if self.workers > 1 else "")
        return f"{self.workers} worker{'s' if self.workers > 1 else ''}, {store}, {self.lb}"


@dataclass
class Stack:
    workdir: Path
    redis: Redis | None = None
    workers: list[Worker] = field(default_factory=list)
    nginx: Nginx | None = None
    loads: list[LoadClient] = field(default_factory=list)

    async def stop(self) -> None:
        for load in self.loads:
            if load.proc.returncode is None:
                load.proc.kill()
            await load.proc.wait()
        for part in (self.nginx, *self.workers, self.redis):
            if part is not None:
                await asyncio.to_thread(part.stop)


def _say(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


async def _all(loads: list[LoadClient], command: dict[str, Any] | list[dict[str, Any]], event: str,
               timeout: float) -> list[dict[str, Any]]:
    commands = command if isinstance(command, list) else [command] * len(loads)
    for load, each in zip(loads, commands, strict=True):
        await load.send(each)
    return list(await asyncio.gather(*(load.expect(event, timeout) for load in loads)))


def _shares(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


async def run_level(config: Config) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="flash_ws_scale_"))
    stack = Stack(workdir)
    level: dict[str, Any] = {"config": {**config.__dict__, "updates_per_run": config.count},
                             "setup": config.describe(), "error": None}
    began = time.monotonic()
    try:
        env = {"PYTHONUNBUFFERED": "1"}
        if config.redis:
            stack.redis = await asyncio.to_thread(Redis, workdir)
            env["FLASH_WS_REDIS_URL"] = stack.redis.url
        stack.workers = [Worker(i, env, workdir) for i in range(config.workers)]
        for worker in stack.workers:
            await asyncio.to_thread(worker.wait_ready)
        if config.lb == "nginx":
            stack.nginx = await asyncio.to_thread(Nginx, [w.port for w in stack.workers], workdir, config.nginx_processes)
            urls = [stack.nginx.url]
        else:
            urls = [w.url for w in stack.workers]
        clients = max(1, min(config.clients, config.sessions))
        stack.loads = list(await asyncio.gather(*(LoadClient.start(i, urls, workdir) for i in range(clients))))
        await _all(stack.loads[:1], {"cmd": "warmup", "urls": [w.url for w in stack.workers]}, "warm", 120)
        stores = [w.status()["store"] for w in stack.workers]
        level["store_class"] = sorted(set(stores))
        if config.redis and "redis" not in " ".join(stores).lower():
            level["notes"] = [f"FLASH_WS_REDIS_URL is set but the workers report the store classes {stores}"]
            _say(f"  warning: {level['notes'][0]}")
        await asyncio.sleep(1.0)
        groups = {f"worker{w.index}": w.pids for w in stack.workers}
        if stack.redis:
            groups["redis"] = stack.redis.pids
        if stack.nginx:
            groups["nginx"] = stack.nginx.pids
        groups["clients"] = [pid for load in stack.loads for pid in load.pids]
        groups["orchestrator"] = [os.getpid()]
        meter = CpuMeter(groups)
        base_rss = {w.index: status_kib(w.pid, "VmRSS") for w in stack.workers}  # type: ignore[arg-type]
        others = {name: pids for name, pids in groups.items() if name in ("redis", "nginx")}
        others_rss = {"baseline": _group_rss(others)}
        base_conns = {w.index: established(w.port) for w in stack.workers}

        # ramp
        _say(f"  ramp: {config.sessions} sessions at {config.ramp:g}/s over {clients} load processes …")
        shares = _shares(config.sessions, clients)
        before = meter.snapshot()
        connected = await _all(stack.loads, [{"cmd": "connect", "sessions": n, "rate": config.ramp / clients}
                                             for n in shares], "connected", config.sessions / config.ramp * 3 + 120)
        ramp_cpu = CpuMeter.between(before, meter.snapshot())
        sessions = sum(c["sessions"] for c in connected)
        connect_ms = [t for c in connected for t in c["connect_ms"]]
        errors: dict[str, int] = {}
        for c in connected:
            for text, n in c["errors"].items():
                errors[text] = errors.get(text, 0) + n
        level["ramp"] = {"sessions": sessions, "failed": config.sessions - sessions, "errors": errors,
                         "elapsed_s": max(c["elapsed_s"] for c in connected), "connect_ms": _summary(connect_ms),
                         "cpu": ramp_cpu}
        _say(f"  ramp: {sessions}/{config.sessions} connected in {level['ramp']['elapsed_s']:.1f}s "
             f"(connect p99 {level['ramp']['connect_ms']['p99']} ms)")

        # idle
        before = meter.snapshot()
        await asyncio.sleep(IDLE_S)
        idle_cpu = CpuMeter.between(before, meter.snapshot())
        idle_rss = {w.index: status_kib(w.pid, "VmRSS") for w in stack.workers}  # type: ignore[arg-type]
        others_rss["idle"] = _group_rss(others)
        others_rss["active_peak"] = dict(others_rss["idle"])
        conns = {w.index: established(w.port) - base_conns[w.index] for w in stack.workers}
        statuses = {w.index: w.status() for w in stack.workers}

        # run
        _say(f"  run: {config.streams} streams x {config.rate:g}/s x {config.duration:g}s on every session …")
        spread = min(1.0 / config.rate, 2.0)
        timeout = config.duration + spread + 60
        await _all(stack.loads, {"cmd": "run", "streams": config.streams, "count": config.count, "rate": config.rate,
                                 "spread": spread, "timeout": timeout}, "started", spread * 3 + 60)
        started_wall = time.time()
        # steady: every run started, none ended (the first ended about `duration` after the first start)
        steady_end = time.monotonic() + max(0.5, config.duration - spread - 0.2)
        await asyncio.sleep(min(1.0, config.duration * 0.2))
        before = meter.snapshot()
        peak_rss = dict(idle_rss)
        active_statuses: dict[int, Any] = {}
        midpoint = (before["at"] + steady_end) / 2
        while time.monotonic() < steady_end - 0.05:
            await asyncio.sleep(min(1.0, max(0.05, steady_end - time.monotonic())))
            for w in stack.workers:
                rss = status_kib(w.pid, "VmRSS")  # type: ignore[arg-type]
                if rss is not None and rss > (peak_rss[w.index] or 0):
                    peak_rss[w.index] = rss
            for name, kib in _group_rss(others).items():
                others_rss["active_peak"][name] = max(kib, others_rss["active_peak"].get(name, 0))
            if not active_statuses and time.monotonic() >= midpoint:
                for w in stack.workers:  # what each worker holds mid-run (its runs, its sessions)
                    active_statuses[w.index] = await asyncio.to_thread(w.status)
        run_cpu = CpuMeter.between(before, meter.snapshot())
        for w in stack.workers:
            active_statuses.setdefault(w.index, await asyncio.to_thread(w.status))
        window = (before["at"], time.monotonic())
        dones = await asyncio.gather(*(load.expect("done", timeout + 30) for load in stack.loads))
        level["run"] = _run_report(config, dones, started_wall, run_cpu)
        level["memory"] = _memory(stack.workers, base_rss, idle_rss, peak_rss, conns, statuses, active_statuses)
        level["memory"]["others_rss_mb"] = {name: {phase: _mb(others_rss[phase].get(name)) for phase in others_rss}
                                            for name in others}
        level["idle_cpu"] = idle_cpu
        level["steady_window_s"] = round(window[1] - window[0], 2)
        await _all(stack.loads, {"cmd": "close"}, "closed", 120)
    except Exception as exc:  # noqa: BLE001 - the level records why it could not finish
        level["error"] = f"{type(exc).__name__}: {exc}"[:800]
        _say(f"  error: {level['error']}")
    finally:
        await stack.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    level["elapsed_s"] = round(time.monotonic() - began, 1)
    level["verdict"] = _verdict(config, level)
    return level


def _run_report(config: Config, dones: list[dict[str, Any]], started_wall: float, cpu: dict[str, Any]) -> dict[str, Any]:
    latency = [v for d in dones for v in d["latency_ms"]]
    lag = [v for d in dones for v in d["lag_ms"]]
    arrivals = [v for d in dones for v in d["arrivals"]]
    ends: dict[str, int] = {}
    for d in dones:
        for reason, n in d["ends"].items():
            ends[reason] = ends.get(reason, 0) + n
    expected = config.sessions * config.streams * config.count
    distinct = sum(d["distinct"] for d in dones)
    first = min(arrivals, default=started_wall)
    last = max(arrivals, default=started_wall)
    # p99 per 5 s of arrival time from the first arrival: a backlog that grows shows as a rising p99
    by_window: dict[int, list[float]] = {}
    for at, value in zip(arrivals, latency, strict=True):
        by_window.setdefault(int((at - first) // 5), []).append(value)
    # after start-up: the runs' starts (every session at once) are over
    settled = first + min(STARTUP_S, config.duration / 3)
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
        "sessions_lost": sum(d["sessions_lost"] for d in dones),
        "failures": [f for d in dones for f in d["failures"]][:5],
        "server_errors": [e for d in dones for e in d["server_errors"]][:5],
        "latency_ms": _summary(latency),
        "latency_after_startup_ms": _summary(steady),
        "startup_s": round(settled - first, 1),
        "producer_lag_ms": _summary(lag),
        "p99_by_5s_ms": {str(k * 5): round(percentile(v, 99), 1) for k, v in sorted(by_window.items())},  # type: ignore[arg-type]
        "updates_per_s": round(len(arrivals) / (last - first), 1) if last > first else None,
        "client_loop_lag_ms": {"p99_worst": max((d["loop_lag_ms"]["p99"] or 0 for d in dones), default=None),
                               "max": max((d["loop_lag_ms"]["max"] or 0 for d in dones), default=None)},
        "cpu": cpu,
    }


def _memory(workers: list[Worker], base: dict[int, int | None], idle: dict[int, int | None], peak: dict[int, int | None],
            conns: dict[int, int], statuses: dict[int, Any], active_statuses: dict[int, Any]) -> dict[str, Any]:
    per_worker = {}
    for w in workers:
        b, i, p, n = base[w.index], idle[w.index], peak[w.index], conns[w.index]
        per_worker[f"worker{w.index}"] = {
            "connections": n, "store_sessions_idle": statuses[w.index].get("sessions"),
            "runs_active": active_statuses[w.index].get("runs"),
            "rss_mb": {"baseline": _mb(b), "idle": _mb(i), "active_peak": _mb(p)},
            "kib_per_idle_session": round((i - b) / n, 1) if n and b and i else None,
            "kib_per_active_session": round((p - b) / n, 1) if n and b and p else None,
        }
    total_n = sum(conns.values())

    def overall(key: dict[int, int | None]) -> float | None:
        values = [(key[w.index] or 0) - (base[w.index] or 0) for w in workers]
        return round(sum(values) / total_n, 1) if total_n else None

    return {"workers": per_worker, "connections": total_n, "kib_per_idle_session": overall(idle),
            "kib_per_active_session": overall(peak)}


def _group_rss(groups: dict[str, list[int]]) -> dict[str, int]:
    """VmRSS in KiB of each group of processes (summed)."""
    return {name: sum(status_kib(pid, "VmRSS") or 0 for pid in pids) for name, pids in groups.items()}


def _mb(kib: int | None) -> float | None:
    return None if kib is None else round(kib / 1024, 1)


def _verdict(config: Config, level: dict[str, Any]) -> dict[str, Any]:
    run = level.get("run")
    if level["error"] or run is None:
        return {"correct": False, "holds": False, "why": level["error"] or "did not run"}
    correct = (run["lost"] == 0 and run["duplicated"] == 0 and run["reordered"] == 0
               and level["ramp"]["sessions"] == config.sessions and run["ends"] == {"done": run["runs"]})
    p99 = run["latency_ms"]["p99"]
    holds = correct and p99 is not None and p99 < P99_LIMIT_MS
    why = []
    if level["ramp"]["sessions"] != config.sessions:
        why.append(f"{level['ramp']['failed']} sessions failed to connect")
    if run["lost"] or run["duplicated"] or run["reordered"]:
        why.append(f"lost {run['lost']}, duplicated {run['duplicated']}, reordered {run['reordered']}")
    if run["ends"] != {"done": run["runs"]}:
        why.append(f"run ends {run['ends']} of {run['runs']}")
    if p99 is None or p99 >= P99_LIMIT_MS:
        why.append(f"p99 {p99} ms >= {P99_LIMIT_MS:.0f} ms")
    return {"correct": correct, "holds": holds, "why": "; ".join(why)}


# --- the report -------------------------------------------------------------------------------------------


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
COST_HEAD = ("setup", "sessions", "updates/s", "CPU % of a core: workers", "redis", "nginx", "load clients",
             "machine busy (of 200)", "irq", "other processes", "idle sessions' CPU: workers",
             "RSS MB per worker: baseline → idle → active", "KiB / idle session", "KiB / active session",
             "RSS MB redis; nginx: idle → active", "ramp s", "connect p99 ms")
LEFT = {"setup", "streams × rate", "holds", "CPU % of a core: workers", "idle sessions' CPU: workers",
        "RSS MB per worker: baseline → idle → active", "RSS MB redis; nginx: idle → active"}


def _table(head: tuple[str, ...], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" if h in LEFT else "--:" for h in head) + "|"]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def _latency_row(level: dict[str, Any]) -> list[str]:
    c, run, ramp = level["config"], level.get("run"), level.get("ramp") or {}
    row = [level["setup"], _fmt(c["sessions"]), f"{c['streams']} × {c['rate']:g}/s", f"{c['duration']:g}",
           _fmt(ramp.get("sessions"))]
    if run is None:
        return row + ["–"] * (len(LATENCY_HEAD) - len(row) - 1) + [f"no: {level['error']}"]
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
    idle = " + ".join(_fmt(v) for k, v in level["idle_cpu"]["percent_of_core"].items() if k.startswith("worker"))
    rss = "; ".join(f"{v['rss_mb']['baseline']} → {v['rss_mb']['idle']} → {v['rss_mb']['active_peak']}"
                    for v in mem["workers"].values())
    others = "; ".join(f"{v['idle']} → {v['active_peak']}" for v in mem.get("others_rss_mb", {}).values()) or "–"
    return [level["setup"], _fmt(c["sessions"]), _fmt(run["updates_per_s"]), workers, _fmt(pct.get("redis")),
            _fmt(pct.get("nginx")), _fmt(pct["clients"]), _fmt(cpu["machine_busy_percent"]), _fmt(cpu["irq_percent"]),
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
    return "; ".join(parts)


# --- command line ------------------------------------------------------------------------------------------


def redis_supported() -> bool:
    """Whether flash_ws has the Redis session store (``Flash(redis_url=...)``)."""
    from flash_ws import Flash

    return "redis_url" in inspect.signature(Flash.__init__).parameters


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scale", description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", default=None, metavar="N[,N...]",
                        help="concurrent sessions; several levels comma-separated (default 1000; quick 200)")
    parser.add_argument("--streams", type=int, default=4, help=f"streams per session, 1..{MAX_STREAMS} (4)")
    parser.add_argument("--rate", type=float, default=2.0, help="updates per second of each stream (2)")
    parser.add_argument("--duration", type=float, default=None, help="seconds each stream runs (default 30; quick 10)")
    parser.add_argument("--workers", type=int, default=None, help="hypercorn worker processes (default 2; --no-redis: 1)")
    parser.add_argument("--no-redis", action="store_true",
                        help="in-process session store (one per worker); default one worker, clients connect directly")
    parser.add_argument("--lb", choices=("nginx", "direct"), default=None,
                        help="nginx round-robin in front of the workers, or clients alternate between workers' ports "
                             "(default: nginx with Redis, direct without)")
    parser.add_argument("--clients", type=int, default=4, help="load-generating processes (4)")
    parser.add_argument("--ramp", type=float, default=100.0, help="sessions opened per second, in all (100)")
    parser.add_argument("--quick", action="store_true", help="200 sessions for 10 s unless given")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write the results as JSON")
    args = parser.parse_args(argv)
    if args.sessions is None:
        args.sessions = "200" if args.quick else "1000"
    try:
        args.levels = [int(v) for v in str(args.sessions).split(",") if v.strip()]
    except ValueError:
        parser.error("--sessions takes integers, comma-separated")
    if not args.levels or min(args.levels) < 1:
        parser.error("--sessions must be positive")
    if args.duration is None:
        args.duration = 10.0 if args.quick else 30.0
    if not 1 <= args.streams <= MAX_STREAMS:
        parser.error(f"--streams must be between 1 and {MAX_STREAMS}")
    if args.rate <= 0 or args.duration <= 0 or args.ramp <= 0 or args.clients < 1:
        parser.error("--rate, --duration, --ramp and --clients must be positive")
    if args.workers is None:
        args.workers = 1 if args.no_redis else 2
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    if args.lb is None:
        args.lb = "direct" if args.no_redis else "nginx"
    if not args.no_redis and not redis_supported():
        parser.error("this flash_ws has no Redis session store yet (Flash(redis_url=...)): use --no-redis")
    return args


async def run(args: argparse.Namespace) -> dict[str, Any]:
    started_at = datetime.datetime.now(datetime.UTC).astimezone()
    clock = time.monotonic()
    levels = []
    for sessions in args.levels:
        config = Config(sessions=sessions, streams=args.streams, rate=args.rate, duration=args.duration,
                        workers=args.workers, redis=not args.no_redis, lb=args.lb, clients=args.clients, ramp=args.ramp)
        _say(f"[{len(levels) + 1}/{len(args.levels)}] {sessions:,} sessions × {args.streams} streams × {args.rate:g}/s, "
             f"{config.describe()} …")
        level = await run_level(config)
        levels.append(level)
        run_ = level.get("run") or {}
        _say(f"  {level['elapsed_s']:.0f}s: p99 {(run_.get('latency_ms') or {}).get('p99', '–')} ms, "
             f"lost {run_.get('lost', '–')}, holds: {level['verdict']['holds']}")
    return {"levels": levels, "meta": {
        "started_at": started_at.isoformat(timespec="seconds"),
        "elapsed_s": round(time.monotonic() - clock, 1),
        "command": "python -m benchmarks.scale " + shlex.join(sys.argv[1:] if args.argv is None else args.argv),
        "target": "1,000 sessions x 4 streams x 2 updates/s over 2 workers with Redis behind round-robin nginx",
        "p99_limit_ms": P99_LIMIT_MS,
        "conclusion": conclusion(levels, 1000),
        "versions": {**versions(), "nginx": _version(["nginx", "-v"]), "redis": _version(["redis-server", "--version"])},
        "machine": machine(),
    }}


def _version(command: list[str]) -> str | None:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=5)
    except OSError:
        return None
    return (done.stdout + done.stderr).strip().splitlines()[0] if (done.stdout + done.stderr).strip() else None


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.argv = argv
    results = asyncio.run(run(args))
    print(markdown_tables(results["levels"]))
    print()
    print(results["meta"]["conclusion"])
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1) + "\n")
        print(f"JSON: {args.json}")
    return 0 if all(level["verdict"]["correct"] for level in results["levels"]) else 1


if __name__ == "__main__":
    sys.exit(main())
