"""``python -m benchmarks.scale``: many concurrent pages, each running several paced streams.

The target: 1,000 sessions x 4 streams x 2 updates/s (8,000 updates/s) over two hypercorn workers
sharing sessions through Redis, behind a round-robin nginx, all on this machine. For each level of
``--sessions`` everything starts afresh: redis-server, the workers (one hypercorn process each,
``benchmarks.scale_app``; with ``--backend fastapi`` one uvicorn process each, the app on flash_ws's
FastAPI backend), nginx (upstream of both workers, round-robin, no stickiness) and
``--clients`` load-generating processes (``benchmarks.scale_load``: each holds its share of the
sessions on one asyncio loop, with the Python reference client). Then:

1. **warm-up**: one short stream straight to each worker; each worker's RSS is the baseline;
2. **ramp**: the sessions open gradually (``--ramp`` per second in all) and stay idle for
   ``IDLE_S``: RSS per idle session = RSS growth of a worker / the WebSocket connections it holds
   (counted in ``/proc/net/tcp``), and what idle sessions cost in CPU (heartbeats);
3. **run**: every session starts ``--streams`` runs, their starts spread over one update period
   (``benchmarks.schedule``, ``--phases``); each run yields ``rate x duration`` updates, paced from its start,
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
    python -m benchmarks.scale --loop uvloop            # the same on uvloop (hypercorn -k uvloop)
    python -m benchmarks.scale --backend fastapi        # the app on FastAPI, each worker one uvicorn process
    python -m benchmarks.scale --no-redis               # one worker, in-process store
    python -m benchmarks.scale --redis cluster          # a 3-master Redis Cluster instead of one redis-server
    python -m benchmarks.scale --quick                  # 200 sessions, 10 s
    python -m benchmarks.scale --contender dash-stream  # the same load on Dash 4.5's own streaming callbacks
    python -m benchmarks.scale --paired /tmp/before     # worker1 on another checkout (git worktree add); --swap: worker0
    python -m benchmarks.scale --phases apart           # a page's streams a quarter period apart: one message per update

``--paired DIR`` runs one of the two workers from another checkout of this repository (its process's
cwd is DIR, so it imports DIR's flash_ws and ``scale_app``): both serve half the pages of the same
load at the same time, so their CPU compares the two codes without the drift between runs; the
report adds a line per level with each worker's CPU and this checkout's change against DIR.

``--contender dash-stream`` serves the same page with Dash 4.5's streaming callbacks
(``dash_stream_scale_app``, in the Dash 4.5 interpreter ``servers.dash45_python`` finds; with Redis its
``RedisSharedStorage``) and drives it with ``dash_stream_load``, a Python client of its multiplexed
NDJSON downlink; without Dash 4.5 its row says why and the command still succeeds.

This module is the command line and the loop over levels; the rest lives apart: ``scale_stack``
(the processes of a level), ``scale_level`` (one level's phases), ``scale_report`` (figures,
verdicts, tables), ``metering`` (CPU and memory from /proc), ``scale_app`` and ``scale_load`` (the
server and the load processes).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import inspect
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.flaky_net import machine, package_versions, versions
from benchmarks.processes import ROOT, program_version
from benchmarks.scale_app import BACKENDS, MAX_STREAMS
from benchmarks.scale_level import Config, run_level, say
from benchmarks.scale_report import P99_LIMIT_MS, conclusion, markdown_tables, paired_cpu_ratio, paired_line
from benchmarks.scale_stack import CONTENDER_NAMES
from benchmarks.schedule import PHASES


def redis_supported() -> bool:
    """Whether flash_ws has the Redis session store (``Flash(redis_url=...)``)."""
    from flash_ws import Flash

    return "redis_url" in inspect.signature(Flash.__init__).parameters


def serving_versions(args: argparse.Namespace) -> dict[str, str]:
    """The versions of what serves the workers beyond ``flaky_net.versions``: FastAPI's and uvicorn's
    with ``--backend fastapi``, uvloop's with ``--loop uvloop``."""
    return package_versions((("fastapi", "uvicorn", "httptools") if args.backend == "fastapi" else ())
                            + (("uvloop",) if args.loop == "uvloop" else ()))


def checkout_sha(path: Path) -> str | None:
    """The short sha of ``path``'s HEAD, with "+dirty" when it has uncommitted changes; None when it is
    not a git checkout (or git does not answer)."""
    def git(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["git", "-C", str(path), *args], capture_output=True, text=True, timeout=20)

    try:
        head = git("rev-parse", "--short", "HEAD")
        dirty = head.returncode == 0 and bool(git("status", "--porcelain").stdout.strip())
    except (OSError, subprocess.TimeoutExpired):
        return None
    return head.stdout.strip() + ("+dirty" if dirty else "") if head.returncode == 0 else None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scale", description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", default=None, metavar="N[,N...]",
                        help="concurrent sessions; several levels comma-separated (default 1000; quick 200)")
    parser.add_argument("--streams", type=int, default=4, help=f"streams per session, 1..{MAX_STREAMS} (4)")
    parser.add_argument("--rate", type=float, default=2.0, help="updates per second of each stream (2)")
    parser.add_argument("--duration", type=float, default=None, help="seconds each stream runs (default 30; quick 10)")
    parser.add_argument("--workers", type=int, default=None, help="worker processes (default 2; --no-redis: 1)")
    parser.add_argument("--no-redis", action="store_true",
                        help="in-process session store (one per worker); default one worker, clients connect directly")
    parser.add_argument("--redis", choices=("server", "cluster"), default="server",
                        help="the shared store: one redis-server, or a Redis Cluster of 3 masters made with "
                             "redis-cli --cluster create, the workers given one node's URL (server)")
    parser.add_argument("--lb", choices=("nginx", "direct"), default=None,
                        help="nginx round-robin in front of the workers, or clients alternate between workers' ports "
                             "(default: nginx with Redis, direct without)")
    parser.add_argument("--clients", type=int, default=4, help="load-generating processes (4)")
    parser.add_argument("--ramp", type=float, default=100.0, help="sessions opened per second, in all (100)")
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio",
                        help="event loop of the workers (hypercorn --worker-class; uvicorn --loop) and the load "
                             "processes (asyncio)")
    parser.add_argument("--backend", choices=BACKENDS, default="quart",
                        help="flash_ws's server backend: quart (each worker one hypercorn process) or fastapi "
                             "(each worker one uvicorn process, httptools, websockets) (quart)")
    parser.add_argument("--contender", choices=CONTENDER_NAMES, default="flash_ws",
                        help="flash_ws, or dash-stream: Dash 4.5's own streaming callbacks (flash_ws)")
    parser.add_argument("--dash-redis-pool", type=int, default=None, metavar="N",
                        help="dash-stream: redis-py connections per worker (default: redis-py's 100, past which "
                             "Dash's publishes fail with 'Too many connections')")
    parser.add_argument("--paired", type=Path, metavar="DIR",
                        help="another checkout of this repository: worker1 runs from it (its flash_ws and scale_app), "
                             "worker0 from this one, on the same load at the same time; 2 workers, flash_ws only")
    parser.add_argument("--swap", action="store_true", help="with --paired: DIR's code on worker0, this one's on worker1")
    parser.add_argument("--phases", choices=PHASES, default="together",
                        help="a page's streams start one after another (together: their updates may share a message) "
                             "or a fraction of the period apart (apart: every update its own message) (together)")
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
    if args.redis == "cluster" and args.no_redis:
        parser.error("--redis cluster and --no-redis exclude each other")
    if args.backend != "quart" and args.contender != "flash_ws":
        parser.error(f"--backend {args.backend} runs flash_ws only (Dash 4.5's streaming is served on Quart here)")
    if args.redis == "cluster" and args.contender != "flash_ws":
        parser.error("--redis cluster runs flash_ws only (Dash's RedisSharedStorage speaks to one Redis)")
    if args.swap and args.paired is None:
        parser.error("--swap needs --paired DIR")
    if args.paired is not None:
        args.paired = args.paired.resolve()
        missing = [f for f in ("flash_ws/__init__.py", "benchmarks/scale_app.py") if not (args.paired / f).is_file()]
        if missing:
            parser.error(f"--paired {args.paired} is not a checkout of this repository: no {' or '.join(missing)}")
        if args.workers != 2:
            parser.error(f"--paired compares two workers: it needs 2, not {args.workers}")
        if args.contender != "flash_ws":
            parser.error("--paired runs flash_ws only, not --contender " + args.contender)
    if args.contender == "flash_ws" and not args.no_redis and not redis_supported():
        parser.error("this flash_ws has no Redis session store yet (Flash(redis_url=...)): use --no-redis")
    return args


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """Every level of ``args.levels`` in turn, each on a fresh stack; the levels and what they ran on."""
    started_at = datetime.datetime.now(datetime.UTC).astimezone()
    clock = time.monotonic()
    levels: list[dict[str, Any]] = []
    for sessions in args.levels:
        config = Config(sessions=sessions, streams=args.streams, rate=args.rate, duration=args.duration,
                        workers=args.workers, redis=not args.no_redis,
                        redis_cluster=args.redis == "cluster" and not args.no_redis, lb=args.lb, clients=args.clients, ramp=args.ramp,
                        loop=args.loop, contender=args.contender, dash_redis_pool=args.dash_redis_pool,
                        backend=args.backend, paired=None if args.paired is None else str(args.paired), swap=args.swap,
                        phases=args.phases)
        say(f"[{len(levels) + 1}/{len(args.levels)}] {sessions:,} sessions × {args.streams} streams × {args.rate:g}/s, "
            f"{config.describe()} …")
        level = await run_level(config)
        levels.append(level)
        run_ = level.get("run") or {}
        say(f"  {level['elapsed_s']:.0f}s: p99 {(run_.get('latency_ms') or {}).get('p99', '–')} ms, "
            f"lost {run_.get('lost', '–')}, holds: {level['verdict']['holds']}")
    paired = {} if args.paired is None else {"paired": {
        "dir": str(args.paired), "swap": args.swap, "shas": {"this": checkout_sha(ROOT), "dir": checkout_sha(args.paired)},
        "cpu_ratio": [paired_cpu_ratio(level) for level in levels]}}
    return {"levels": levels, "meta": {
        "started_at": started_at.isoformat(timespec="seconds"),
        "elapsed_s": round(time.monotonic() - clock, 1),
        "command": "python -m benchmarks.scale " + shlex.join(sys.argv[1:] if args.argv is None else args.argv),
        "target": "1,000 sessions x 4 streams x 2 updates/s over 2 workers with Redis behind round-robin nginx",
        "p99_limit_ms": P99_LIMIT_MS,
        "conclusion": conclusion(levels, 1000),
        "backend": args.backend, "loop": args.loop,
        "versions": {**versions(), **serving_versions(args), "nginx": program_version(["nginx", "-v"]),
                     "redis": program_version(["redis-server", "--version"])},
        "machine": machine(),
        **paired,
    }}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.argv = argv
    results = asyncio.run(run(args))
    print(markdown_tables(results["levels"]))
    print()
    if "paired" in results["meta"]:
        for level in results["levels"]:
            print(paired_line(level, results["meta"]["paired"]["shas"]))
        print()
    print(results["meta"]["conclusion"])
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1) + "\n")
        print(f"JSON: {args.json}")
    return 0 if all(level["verdict"]["correct"] or level.get("skipped") for level in results["levels"]) else 1


if __name__ == "__main__":
    sys.exit(main())
