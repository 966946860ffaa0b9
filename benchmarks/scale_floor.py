"""The scale scenario's floor: what bare ``websockets`` servers cost for the same paced sends.

``python -m benchmarks.scale_floor`` runs ``benchmarks.scale``'s scenario (1,000 sessions x 4 streams
x 2 updates/s on 2 workers, by default) against ``raw-websockets`` servers
(benchmarks/contenders/raw_ws.py, one process per worker): the same producer and timers, one WebSocket
message per update, and nothing else: no protocol, no sequencing, no acknowledgements, no resume, no
session store. Its workers' CPU per delivered update is what a bare asyncio WebSocket server pays for
this traffic on this machine: the yardstick for ``benchmarks.scale``'s own column.

The clients reach the workers through the same proxy as ``benchmarks.scale``'s (with Redis, its
default): a round-robin nginx (``benchmarks.redis_nginx.Nginx``, the same configuration and as many
nginx processes), so every contender is measured behind the same proxy. nginx's CPU is reported on its
own; the workers' CPU per update counts the workers only, as ``benchmarks.scale``'s column does.
``--lb direct`` lets the clients alternate between the workers' ports instead, with no proxy (the
floor as it was first measured).

Clients open every connection first (``--ramp`` per second), then start every stream on
``benchmarks.schedule``'s timing, as ``benchmarks.scale``'s load does (each load process's starts
spread evenly over one update interval, page after page), and count each update's latency (arrival
less the producer's ``ts``, same clock) and sequence. The workers' CPU is read from /proc over the
streaming phase only. ``--loop uvloop`` runs the servers and the load processes on uvloop, as
``benchmarks.scale --loop uvloop`` does its workers and load processes.

``--server quart`` runs the same on flash_ws's own server stack instead: ``raw-quart`` servers
(benchmarks/contenders/raw_quart.py: a bare Quart app speaking the same protocol, one hypercorn
process per worker, ``--worker-class`` the loop), so what flash_ws costs and what Quart on hypercorn
costs can be told apart.

    python -m benchmarks.scale_floor                 # the floor on asyncio, behind nginx
    python -m benchmarks.scale_floor --lb direct     # the same with no proxy: clients alternate between the ports
    python -m benchmarks.scale_floor --loop uvloop   # the same on uvloop
    python -m benchmarks.scale_floor --server quart  # the floor of bare Quart on hypercorn
    python -m benchmarks.scale_floor --phases apart  # a page's streams a quarter period apart (as scale --phases apart)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from websockets.asyncio.client import connect

from benchmarks.contenders import raw_quart
from benchmarks.contenders.streams import STATUS_PATH, StreamParams
from benchmarks.metering import cpu_seconds, machine_busy, waiting_seconds
from benchmarks.processes import LOOPBACK, children, program
from benchmarks.redis_nginx import Nginx
from benchmarks.scale_level import Config
from benchmarks.scale_stack import shares
from benchmarks.schedule import PHASES, sleep_until, start_offset
from benchmarks.servers import ServerProcess
from benchmarks.stats import EMPTY, account, summary
from flash_ws.server.gc_tuning import tune_gc

CORES = os.cpu_count() or 1
SERVERS = {"websockets": "raw-websockets", "quart": "raw-quart (bare Quart on hypercorn)"}  # --server: its name
NGINX_PROCESSES = Config.nginx_processes  # as many nginx processes as benchmarks.scale runs


def server_command(server: str, loop: str) -> list[str]:
    """One worker's command line (``{port}`` to fill in): raw_ws.py, or raw_quart.py under hypercorn."""
    if server == "quart":
        return raw_quart.command(loop)
    return [sys.executable, "-m", "benchmarks.contenders.raw_ws", "--port", "{port}", "--loop", loop]


def serving_pid(server: ServerProcess) -> int:
    """The process that serves: hypercorn's worker (its child started by ``multiprocessing.spawn``, not
    the resource tracker beside it), else the process started."""
    assert server.proc is not None
    for pid in children(server.proc.pid):
        try:
            if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                return pid
        except OSError:
            pass
    return server.serving_pid


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scale_floor", description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=1000, help="connections, one per simulated page (1000)")
    parser.add_argument("--streams", type=int, default=4, help="streams per connection (4)")
    parser.add_argument("--rate", type=float, default=2.0, help="updates per second of each stream (2)")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds each stream runs (30)")
    parser.add_argument("--workers", type=int, default=2, help="server processes (2)")
    parser.add_argument("--clients", type=int, default=4, help="load-generating processes (4)")
    parser.add_argument("--ramp", type=float, default=100.0, help="connections opened per second, in all (100)")
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio",
                        help="event loop of the servers and the load processes (asyncio)")
    parser.add_argument("--server", choices=tuple(SERVERS), default="websockets",
                        help="bare websockets servers, or a bare Quart app on hypercorn (websockets)")
    parser.add_argument("--lb", choices=("nginx", "direct"), default="nginx",
                        help="a round-robin nginx in front of the workers (as benchmarks.scale's with Redis), or "
                             "clients alternate between the workers' ports (nginx)")
    parser.add_argument("--phases", choices=PHASES, default="together",
                        help="a page's streams start one after another, or a fraction of the period apart "
                             "(benchmarks.schedule; as benchmarks.scale --phases) (together)")
    parser.add_argument("--json", help="write the result as JSON to this path")
    args = parser.parse_args(argv)
    if min(args.sessions, args.streams, args.workers, args.clients) < 1 or min(args.rate, args.duration, args.ramp) <= 0:
        parser.error("every number must be positive")
    return args


async def _page(url: str, prefix: str, starts: list[float], args: dict[str, Any], go: asyncio.Event,
                out: dict[str, Any]) -> None:
    """One connection: wait for ``go``, start its paced streams at ``starts`` (seconds after the go,
    one per stream) while noting every update, until each stream ends."""
    streams, rate, duration = args["streams"], args["rate"], args["duration"]
    loop = asyncio.get_running_loop()
    seqs: dict[str, list[int]] = {f"out-stream{i}": [] for i in range(streams)}

    async def start_streams() -> None:  # beside the reading: a stream's updates are read while the next waits to start
        for i in range(streams):
            await sleep_until(loop, out["began"] + starts[i])
            params = StreamParams(f"{prefix}-{i}", "paced", duration, rate, limit=round(duration * rate))  # as scale_app's
            await ws.send(json.dumps({"start": f"stream{i}", "params": params.to_json()}))

    async with connect(url, compression=None, max_size=None) as ws:
        out["connected"] += 1
        await go.wait()
        starting = loop.create_task(start_streams())
        ended = 0
        async for message in ws:
            now = time.time()
            update = json.loads(message)
            if isinstance(update, dict):  # {"fin": key}
                ended += 1
                if ended == streams:
                    break
                continue
            out["messages"] += 1
            for component, props in update:
                seqs[component].append(props["children"]["seq"])
                out["latency_ms"].append((now - props["children"]["ts"]) * 1000)
        await starting
        for received in seqs.values():
            out["report"] = out["report"] + account(received, round(duration * rate))
            out["delivered"] += len(received)


async def _load(urls: list[str], sessions: int, first: int, args: dict[str, Any], go: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"connected": 0, "latency_ms": [], "report": EMPTY, "delivered": 0, "messages": 0}
    started = asyncio.Event()
    tasks = []
    streams, spread = args["streams"], 1 / args["rate"]
    for k in range(sessions):
        url = urls[(first + k) % len(urls)]
        starts = [start_offset(k, i, sessions, streams, spread, args["phases"]) for i in range(streams)]
        tasks.append(asyncio.create_task(_page(url, f"c{first + k}", starts, args, started, out)))
        await asyncio.sleep(args["interval"])
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, go.wait)
    tune_gc()  # as benchmarks.scale's load processes do (and flash_ws its workers)
    out["began"] = loop.time()
    started.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    out["errors"] = sorted({f"{type(r).__name__}: {r}" for r in results if isinstance(r, BaseException)})
    return out


def _client(urls: list[str], sessions: int, first: int, args: dict[str, Any], go: Any, results: Any) -> None:
    """One load process (multiprocessing target): its share of the connections, on ``args["loop"]``."""
    if args["loop"] == "uvloop":
        import uvloop

        out = uvloop.run(_load(urls, sessions, first, args, go))
    else:
        out = asyncio.run(_load(urls, sessions, first, args, go))
    out["report"] = out["report"].__dict__
    results.put(out)


def _cpu(groups: dict[str, list[int]]) -> dict[str, float]:
    """CPU seconds of each group of processes so far (a process gone counts 0)."""
    return {name: sum(cpu_seconds(pid) or 0.0 for pid in pids) for name, pids in groups.items()}


def _waiting(groups: dict[str, list[int]]) -> dict[str, float]:
    """Seconds each group's processes waited for a core so far (``metering.waiting_seconds``)."""
    return {name: sum(waiting_seconds(pid) or 0.0 for pid in pids) for name, pids in groups.items()}


def start_nginx(servers: list[ServerProcess], workdir: Path) -> Nginx:
    """nginx in front of ``servers``, as ``benchmarks.scale_stack.Stack`` starts it for ``benchmarks.scale``."""
    binary = program("nginx", "--lb nginx needs nginx (Debian: apt-get install nginx), or --lb direct",
                     also=("/usr/sbin/nginx",))
    return Nginx(binary, [server.port for server in servers], workdir, f"{STATUS_PATH}?key=ready", NGINX_PROCESSES)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Start the servers, nginx (``--lb nginx``) and the load, stream, and measure; the figures as a dict."""
    servers = [ServerProcess(f"floor_{args.server}", server_command(args.server, args.loop)) for _ in range(args.workers)]
    ctx = multiprocessing.get_context("spawn")
    go, results = ctx.Event(), ctx.Queue()
    clients: list[Any] = []
    nginx: Nginx | None = None
    workdir = tempfile.TemporaryDirectory(prefix="scale_floor_")
    try:
        for server in servers:
            server.start()
        for server in servers:
            server.wait_ready()
        groups = {f"worker{i}": [serving_pid(server)] for i, server in enumerate(servers)}
        if args.lb == "nginx":
            nginx = start_nginx(servers, Path(workdir.name))
            groups["nginx"] = nginx.pids
            urls = [f"ws://{LOOPBACK}:{nginx.port}/"]
        else:
            urls = [f"ws://{LOOPBACK}:{server.port}/" for server in servers]
        load = {"streams": args.streams, "rate": args.rate, "duration": args.duration, "interval": args.clients / args.ramp,
                "loop": args.loop, "phases": args.phases}
        first = 0
        for share in shares(args.sessions, args.clients):
            clients.append(ctx.Process(target=_client, args=(urls, share, first, load, go, results)))
            first += share
        for client in clients:
            client.start()
        time.sleep(args.sessions / args.ramp + 2)  # every connection open (the clients' own pace)
        cpu_before, wait_before, busy_before, clock = _cpu(groups), _waiting(groups), machine_busy(), time.monotonic()
        go.set()
        outs = [results.get(timeout=args.duration + 120) for _ in clients]
        elapsed = time.monotonic() - clock
        cpu_s = {name: round(after - cpu_before[name], 3) for name, after in _cpu(groups).items()}
        waited_pct = {name: round(100 * (after - wait_before[name]) / elapsed, 1) for name, after in _waiting(groups).items()}
        busy_after = machine_busy()
    finally:
        go.set()
        for client in clients:
            client.join(30)
        if nginx is not None:
            nginx.stop()
        for server in servers:
            server.stop()
        workdir.cleanup()
    latencies = [v for out in outs for v in out["latency_ms"]]
    delivered = sum(out["delivered"] for out in outs)
    cpu = round(sum(v for name, v in cpu_s.items() if name.startswith("worker")), 3)
    report = {k: sum(out["report"][k] for out in outs) for k in ("received", "lost", "duplicated", "reordered")}
    return {
        "config": {k: getattr(args, k) for k in ("sessions", "streams", "rate", "duration", "workers", "clients", "loop", "server",
                                                    "lb", "phases")},
        "connected": sum(out["connected"] for out in outs), "expected": args.sessions * args.streams * round(args.duration * args.rate),
        "delivered": delivered, **report,
        "messages_per_update": round(sum(out["messages"] for out in outs) / delivered, 3) if delivered else None,
        "errors": sorted({e for out in outs for e in out["errors"]}),
        "latency_ms": summary(latencies), "workers_cpu_s": cpu,
        "workers_us_per_update": round(cpu / delivered * 1e6, 1) if delivered else None,
        "cpu_s": cpu_s,  # by group: each worker and, behind nginx, nginx (its master and workers)
        "waiting_percent": waited_pct,  # by group: % of the run its processes waited for a core
        "nginx_us_per_update": round(cpu_s["nginx"] / delivered * 1e6, 1) if "nginx" in cpu_s and delivered else None,
        "machine_busy_pct": round(100 * CORES * (busy_after[0] - busy_before[0]) / max(1, busy_after[1] - busy_before[1]), 1),
        "elapsed_s": round(elapsed, 1),
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    result = run(args)
    latency = result["latency_ms"] or {}
    lb = f"round-robin nginx ({NGINX_PROCESSES} process{'es' if NGINX_PROCESSES > 1 else ''})" if args.lb == "nginx" \
        else "direct (clients alternate between the workers' ports)"
    nginx = f"; nginx's CPU {result['nginx_us_per_update']} µs / update" if args.lb == "nginx" else ""
    print(f"{SERVERS[args.server]} floor, {args.sessions:,} connections x {args.streams} streams x {args.rate:g}/s on "
          f"{args.workers} workers, {args.loop}, {lb}: {result['delivered']:,} of {result['expected']:,} delivered, "
          f"lost {result['lost']}, duplicated {result['duplicated']}, reordered {result['reordered']}; "
          f"p50 {latency.get('p50')} ms, p99 {latency.get('p99')} ms; "
          f"workers' CPU {result['workers_us_per_update']} µs / update{nginx}; workers waiting for a core "
          f"{' + '.join(str(v) for k, v in result['waiting_percent'].items() if k.startswith('worker'))} % of the time; "
          f"{result['messages_per_update']} messages / update; "
          f"machine busy {result['machine_busy_pct']} % (of {100 * CORES})")
    for error in result["errors"]:
        print("error:", error)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    return 0 if result["connected"] == args.sessions and not result["errors"] else 1


if __name__ == "__main__":
    sys.exit(main())
