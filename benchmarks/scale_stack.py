"""The processes of one ``scale`` level: redis-server, the workers, nginx and the load processes,
started in that order and stopped together. ``CONTENDER_NAMES`` names what the workers serve and what
the load processes speak: flash_ws (``scale_app``, ``scale_load``) or Dash 4.5's own streaming
(``dash_stream_scale_app`` in the Dash 4.5 interpreter, ``dash_stream_load``). flash_ws's workers run
on one of ``BACKENDS``: Quart under hypercorn, or FastAPI under uvicorn (``worker_command``)."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.processes import ROOT, program
from benchmarks.redis_cluster import RedisCluster
from benchmarks.redis_nginx import Nginx, RedisServer
from benchmarks.scale_app import BACKENDS, STATUS_PATH
from benchmarks.servers import ServerProcess, dash45_python, hypercorn_command, uvicorn_command


@dataclass(frozen=True)
class ScaleContender:
    """What a level's workers serve (``app``, run by ``python``) and the load processes' module."""

    name: str
    app: str
    load: str
    python: str = sys.executable

    def redis_env(self, url: str, pool: int | None = None) -> dict[str, str]:
        """The environment that points every worker at the shared store on ``url``; for Dash, a
        redis-py connection pool of ``pool`` connections per worker (None: redis-py's default, 100,
        past which a command fails with ``Too many connections``)."""
        if self.name == "dash-stream":  # every worker must verify the pages' tokens the others signed
            query = f"?max_connections={pool}" if pool else ""
            return {"DASH_SHARED_STORAGE": url + query, "DASH_SECRET_KEY": secrets.token_hex(16)}
        return {"FLASH_WS_REDIS_URL": url}


FLASH_WS = ScaleContender("flash_ws", "benchmarks.scale_app:server", "benchmarks.scale_load")
CONTENDER_NAMES = ("flash_ws", "dash-stream")


def scale_contender(name: str) -> tuple[ScaleContender | None, str]:
    """The contender called ``name``, or None and why it cannot run here (Dash 4.5 missing)."""
    if name == "flash_ws":
        return FLASH_WS, "flash_ws"
    python, found = dash45_python()
    if python is None:
        return None, found
    return ScaleContender(name, "benchmarks.dash_stream_scale_app:server", "benchmarks.dash_stream_load", python), found


def worker_command(contender: ScaleContender, loop: str, backend: str = "quart") -> list[str]:
    """One worker's server: hypercorn (``--worker-class loop``) serving the contender's app, or for
    flash_ws on ``backend="fastapi"`` uvicorn (``--loop loop``, httptools, the websockets protocol)
    serving ``scale_app:asgi``."""
    if backend == "fastapi":
        return uvicorn_command("benchmarks.scale_app:asgi", "--loop", loop, "--http", "httptools", "--ws", "websockets",
                               "--no-access-log", "--backlog", "4096")
    return hypercorn_command(contender.app, "--backlog", "4096", "--worker-class", loop, python=contender.python)


class Worker(ServerProcess):
    """One server process (``worker_command``) serving the contender's app on its own port, run from
    ``cwd`` (another checkout's: it imports that one's flash_ws and app). It gets no store URL or
    backend but those in ``env``; ``pid`` is the process that serves, from its status."""

    def __init__(self, index: int, env: dict[str, str], workdir: Path, loop: str = "asyncio",
                 contender: ScaleContender = FLASH_WS, backend: str = "quart", cwd: Path = ROOT) -> None:
        env = {**env, "FLASH_WS_BENCH_BACKEND": backend} if backend != "quart" else env
        super().__init__(f"worker{index}", worker_command(contender, loop, backend), env,
                         unset=("FLASH_WS_REDIS_URL", "DASH_SHARED_STORAGE", "FLASH_WS_BENCH_BACKEND"),
                         log=workdir / f"worker{index}.log", ready_path=STATUS_PATH, cwd=cwd)
        self.index = index
        self.pid: int | None = None

    def wait_ready(self, timeout: float = 90.0) -> None:
        super().wait_ready(timeout)
        self.pid = self.holdings()["pid"]

    def holdings(self) -> dict[str, Any]:
        """The worker's own account: pid, RSS, sessions in its store, runs, store class."""
        return self.get(STATUS_PATH)

    @property
    def pids(self) -> list[int]:
        return [self.pid] if self.pid else []


class LoadClient:
    """One ``benchmarks.scale_load`` process, driven over its stdin / stdout."""

    def __init__(self, index: int, proc: asyncio.subprocess.Process) -> None:
        self.index = index
        self.proc = proc

    @classmethod
    async def start(cls, index: int, urls: list[str], workdir: Path, loop: str = "asyncio",
                    module: str = FLASH_WS.load) -> LoadClient:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", module, "--urls", ",".join(urls), "--loop", loop, cwd=ROOT,
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

    async def kill(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()
        await self.proc.wait()


def shares(total: int, parts: int) -> list[int]:
    """``total`` split into ``parts`` whole shares, the larger ones first."""
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


@dataclass
class Stack:
    """Everything one level runs, its files in ``workdir``."""

    workdir: Path
    redis: RedisServer | RedisCluster | None = None
    workers: list[Worker] = field(default_factory=list)
    nginx: Nginx | None = None
    loads: list[LoadClient] = field(default_factory=list)

    async def start(self, *, redis: bool, workers: int, lb: str, nginx_processes: int, clients: int,
                    loop: str = "asyncio", contender: ScaleContender = FLASH_WS, redis_pool: int | None = None,
                    redis_cluster: bool = False, backend: str = "quart", cwds: dict[int, Path] | None = None) -> None:
        """redis-server (with ``redis``; a Redis Cluster of 3 of them with ``redis_cluster``, the
        workers given its first node's URL: they find out it is a cluster), the workers, nginx (with ``lb == "nginx"``; else the load
        processes alternate between the workers' ports) and ``clients`` load processes, all on
        ``loop`` ("asyncio" or "uvloop"), serving and speaking ``contender`` (``redis_pool``: see
        ``ScaleContender.redis_env``), flash_ws's workers on ``backend`` (one of ``BACKENDS``); the
        workers indexed in ``cwds`` run from the directory given there, the others from the project root."""
        if backend not in BACKENDS or (backend != "quart" and contender is not FLASH_WS):
            raise ValueError(f"backend {backend!r} is not one of {BACKENDS}, or not flash_ws's")
        env = {"PYTHONUNBUFFERED": "1"}
        if redis:
            binary = program("redis-server", "the Redis mode needs redis-server (Debian: apt-get install "
                                             "redis-server), or --no-redis")
            if redis_cluster:
                self.redis = await asyncio.to_thread(RedisCluster, binary, self.workdir, 3, 20_000)
            else:
                self.redis = await asyncio.to_thread(RedisServer, binary, self.workdir, 20_000)
            env.update(contender.redis_env(self.redis.url, redis_pool))
        self.workers = [Worker(i, env, self.workdir, loop, contender, backend, (cwds or {}).get(i, ROOT))
                        for i in range(workers)]
        for worker in self.workers:
            worker.start()
        for worker in self.workers:
            await asyncio.to_thread(worker.wait_ready)
        if lb == "nginx":
            binary = program("nginx", "--lb nginx needs nginx (Debian: apt-get install nginx), or --lb direct",
                             also=("/usr/sbin/nginx",))
            self.nginx = await asyncio.to_thread(Nginx, binary, [w.port for w in self.workers], self.workdir,
                                                 STATUS_PATH, nginx_processes)
            urls = [self.nginx.url]
        else:
            urls = [w.url for w in self.workers]
        self.loads = list(await asyncio.gather(*(LoadClient.start(i, urls, self.workdir, loop, contender.load)
                                                 for i in range(clients))))

    def cpu_groups(self) -> dict[str, list[int]]:
        """The processes whose CPU the level reports, by name: each worker, redis, nginx, the load
        processes together, and this process."""
        groups = {f"worker{w.index}": w.pids for w in self.workers}
        if self.redis:
            groups["redis"] = self.redis.pids
        if self.nginx:
            groups["nginx"] = self.nginx.pids
        groups["clients"] = [pid for load in self.loads for pid in load.pids]
        groups["orchestrator"] = [os.getpid()]
        return groups

    async def command(self, command: dict[str, Any] | list[dict[str, Any]], event: str, timeout: float,
                      loads: list[LoadClient] | None = None) -> list[dict[str, Any]]:
        """Send ``command`` to every load process (or each its own, from a list), then wait for each one's ``event``."""
        loads = self.loads if loads is None else loads
        commands = command if isinstance(command, list) else [command] * len(loads)
        for load, each in zip(loads, commands, strict=True):
            await load.send(each)
        return list(await asyncio.gather(*(load.expect(event, timeout) for load in loads)))

    async def stop(self) -> None:
        for load in self.loads:
            await load.kill()
        for part in (self.nginx, *self.workers, self.redis):
            if part is not None:
                await asyncio.to_thread(part.stop)
