"""One load-generating process of the ``scale`` scenario: many sessions on one asyncio loop.

``python -m benchmarks.scale_load --urls URL[,URL...]`` is started by ``benchmarks.scale`` (several at
once, so no single Python process is the bottleneck) and driven over stdin / stdout, one JSON object
per line:

- ``{"cmd": "warmup", "urls": [...]}``: one short stream per URL, then ``{"event": "warm"}``;
- ``{"cmd": "connect", "sessions": n, "rate": r}``: opens ``n`` sessions, ``r`` per second, the
  ``k``-th on ``urls[k % len(urls)]`` (so with two workers' URLs each process alternates between
  them), then ``{"event": "connected", ...}``;
- ``{"cmd": "run", "streams": s, "count": c, "rate": r, "spread": t}``: starts ``s`` runs on every
  session, their starts spread evenly over ``t`` seconds (``benchmarks.schedule``, ``"phases"``
  ``together`` or ``apart``),
  answers ``{"event": "started"}``, then, once every run has ended (or after ``timeout``),
  ``{"event": "done", ...}`` with every latency sample and the sequence accounting;
- ``{"cmd": "close"}``: says bye on every session and answers ``{"event": "closed"}``.

Each session is the Python reference client, ``FlashWsClient`` over the WebSocket (with resume), as
it is: only ``_dispatch`` is overridden to note each update where the client applies it, instead of
queueing it on the run's handle. A ticker measures how late this process's own event loop runs, so
the report can tell client-side delay from the server's. Before the run, the process's garbage
collector is tuned as flash_ws tunes its workers' (``tune_gc``), as ``scale_floor``'s load does.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from typing import Any

from benchmarks.scale_app import callback_id
from benchmarks.schedule import sleep_until, starts_in_order
from benchmarks.stats import EMPTY, account, percentile
from flash_ws.client import FlashWsClient
from flash_ws.protocol import Apply, RunEnded
from flash_ws.server.gc_tuning import tune_gc

CONNECT_ATTEMPTS = 3


class Book:
    """What this process saw: latencies, producer lateness, arrival times, ends."""

    def __init__(self) -> None:
        self.latency_ms: list[float] = []
        self.lag_ms: list[float] = []
        self.arrivals: list[float] = []
        self.ends: Counter[str] = Counter()
        self.expected_runs = 0
        self.all_ended = asyncio.Event()

    def ended(self, reason: str) -> None:
        self.ends[reason] += 1
        if sum(self.ends.values()) >= self.expected_runs:
            self.all_ended.set()


class ScaleClient(FlashWsClient):
    """The reference client; notes each applied update (sequence number, latency) as it is applied."""

    def __init__(self, base_url: str, book: Book) -> None:
        super().__init__(base_url, transport="websocket")
        self.book = book
        self.seqs: defaultdict[int, list[int]] = defaultdict(list)  # run -> sequence numbers in arrival order

    def _dispatch(self, effect: Any) -> None:
        if isinstance(effect, Apply):
            now = time.time()
            seqs = self.seqs[effect.run]
            book = self.book
            for _component, props in effect.props:
                update = props["children"]
                seqs.append(update["seq"])
                book.latency_ms.append((now - update["ts"]) * 1000)
                book.lag_ms.append((update["ts"] - update["due"]) * 1000)
                book.arrivals.append(now)
            return
        if isinstance(effect, RunEnded):
            self.book.ended(effect.reason)
        super()._dispatch(effect)


class LoopLag:
    """How late this loop wakes a 50 ms ticker: the load generator's own saturation."""

    def __init__(self, period: float = 0.05) -> None:
        self.period = period
        self.samples_ms: list[float] = []
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.samples_ms.clear()
        self._task = asyncio.get_running_loop().create_task(self._tick())

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(self.period)
            self.samples_ms.append(max(0.0, (loop.time() - before - self.period) * 1000))

    def stop(self) -> dict[str, float | None]:
        if self._task is not None:
            self._task.cancel()
        return {"p50": _round(percentile(self.samples_ms, 50)), "p99": _round(percentile(self.samples_ms, 99)),
                "max": _round(max(self.samples_ms, default=None))}


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


class LoadProcess:
    def __init__(self, urls: list[str]) -> None:
        self.urls = urls
        self.book = Book()
        self.clients: list[ScaleClient] = []
        self.lag = LoopLag()

    async def warmup(self, urls: list[str]) -> dict[str, Any]:
        for url in urls:
            book = Book()
            book.expected_runs = 1
            client = ScaleClient(url, book)
            await asyncio.wait_for(client.open(), 30)
            await client.start(callback_id(0), [1, {"count": 5, "rate": 100}])
            await asyncio.wait_for(book.all_ended.wait(), 30)
            await client.close()
        return {"event": "warm"}

    async def _open(self, url: str) -> tuple[ScaleClient | None, float, str | None]:
        error = None
        for _attempt in range(CONNECT_ATTEMPTS):
            client = ScaleClient(url, self.book)
            began = time.monotonic()
            try:
                await client.open()
                return client, time.monotonic() - began, None
            except Exception as exc:  # noqa: BLE001 - reported, the benchmark goes on
                error = f"{type(exc).__name__}: {exc}"[:200]
                try:
                    await client.close(bye=False)
                except Exception:  # noqa: BLE001
                    pass
                await asyncio.sleep(0.5)
        return None, 0.0, error

    async def connect(self, sessions: int, rate: float) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        began = loop.time()
        tasks = []
        for k in range(sessions):
            await sleep_until(loop, began + k / rate)
            tasks.append(loop.create_task(self._open(self.urls[k % len(self.urls)])))
        results = await asyncio.gather(*tasks)
        self.clients = [client for client, _t, _e in results if client is not None]
        times = [t * 1000 for client, t, _e in results if client is not None]
        errors = Counter(error for client, _t, error in results if client is None)
        return {"event": "connected", "sessions": len(self.clients), "failed": sessions - len(self.clients),
                "errors": dict(errors.most_common(5)), "connect_ms": times,
                "elapsed_s": round(loop.time() - began, 3)}

    async def run(self, streams: int, count: int, rate: float, spread: float, timeout: float,
                  emit: Any, phases: str = "together") -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        book = self.book
        book.expected_runs = streams * len(self.clients)
        if book.expected_runs == 0:
            book.all_ended.set()
        self.lag.start()
        began = loop.time()
        messages_before = sum(client.messages_received for client in self.clients)
        for offset, page, stream in starts_in_order(len(self.clients), streams, spread, phases):
            await sleep_until(loop, began + offset)
            await self.clients[page].start(callback_id(stream), [1, {"count": count, "rate": rate}])
        emit({"event": "started", "at": time.time()})
        try:
            await asyncio.wait_for(book.all_ended.wait(), timeout)
            timed_out = False
        except TimeoutError:
            timed_out = True
        lag = self.lag.stop()
        report = EMPTY
        for client in self.clients:
            for seqs in client.seqs.values():
                report += account(seqs, produced=count)
            # a run that never delivered anything has no entry in seqs: all of its updates are lost
            missing = streams - len(client.seqs)
            if missing > 0:
                report += account([], produced=count * missing)
        return {
            "event": "done", "timed_out": timed_out, "runs": book.expected_runs, "ends": dict(book.ends),
            "received": report.received, "distinct": report.distinct, "lost": report.lost,
            "duplicated": report.duplicated, "reordered": report.reordered,
            "messages": sum(client.messages_received for client in self.clients) - messages_before,
            "reconnections": sum(max(0, c.connections - 1) for c in self.clients),
            "sessions_lost": sum(len(c.lost) for c in self.clients),
            "failures": [repr(c.failure)[:200] for c in self.clients if c.failure is not None][:5],
            "server_errors": [f"{e.code}: {e.message}"[:200] for c in self.clients for e in c.errors][:5],
            "latency_ms": [round(v, 3) for v in book.latency_ms],
            "lag_ms": [round(v, 3) for v in book.lag_ms],
            "arrivals": [round(v, 4) for v in book.arrivals],
            "loop_lag_ms": lag,
        }

    async def close(self) -> dict[str, Any]:
        await asyncio.gather(*(client.close() for client in self.clients), return_exceptions=True)
        return {"event": "closed"}


async def main_async(urls: list[str], make_process: Callable[[list[str]], Any] = LoadProcess) -> None:
    """Serve the orchestrator's commands (JSON lines on stdin, answers on stdout) with the load
    process ``make_process`` makes (this one's, or benchmarks.dash_stream_load's)."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 24)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    out = sys.stdout

    def emit(message: dict[str, Any]) -> None:
        out.write(json.dumps(message, separators=(",", ":")) + "\n")
        out.flush()

    process = make_process(urls)
    emit({"event": "ready", "pid": os.getpid()})
    while line := await reader.readline():
        command = json.loads(line)
        name = command["cmd"]
        try:
            if name == "warmup":
                emit(await process.warmup(command["urls"]))
            elif name == "connect":
                emit(await process.connect(command["sessions"], command["rate"]))
            elif name == "run":
                tune_gc()  # as the floor's load does: a full collection of this process is not the server's latency
                emit(await process.run(command["streams"], command["count"], command["rate"], command["spread"],
                                       command["timeout"], emit, command.get("phases", "together")))
            elif name == "close":
                emit(await process.close())
                return
        except Exception as exc:  # noqa: BLE001 - the orchestrator reports it
            emit({"event": "error", "cmd": name, "error": f"{type(exc).__name__}: {exc}"[:500]})


def main(prog: str = "python -m benchmarks.scale_load", make_process: Callable[[list[str]], Any] = LoadProcess) -> None:
    parser = argparse.ArgumentParser(prog=prog)
    parser.add_argument("--urls", required=True, help="comma-separated base URLs; page k uses urls[k % len]")
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio", help="the event loop (asyncio)")
    args = parser.parse_args()
    if args.loop == "uvloop":
        import uvloop

        uvloop.run(main_async(args.urls.split(","), make_process))
    else:
        asyncio.run(main_async(args.urls.split(","), make_process))


if __name__ == "__main__":
    main()
