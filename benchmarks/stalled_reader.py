"""``python -m benchmarks.stalled_reader``: the server's memory while a page stops reading its stream.

For each contender (default: flash_ws's event callbacks, the Dash-API page on ``Flash``, and the same
page on Dash 4.5's own streaming, NDJSON downlink and websocket), alone on this machine: start its
server, warm it up, open one page through a ``FreezingProxy``, start one endless burst (the producer
yields as fast as the transport takes its updates), let it run ``--warm`` seconds, then freeze the
proxy: the page keeps its connections open and reads nothing for ``--seconds``. Every half second the
serving process's RSS (``VmRSS``) and the producer's count (over the side channel, bypassing the
proxy) are sampled. A freeze is cut short when RSS has grown past ``--cap`` MB.

    python -m benchmarks.stalled_reader --json benchmarks/results/stalled.json
    python -m benchmarks.stalled_reader --contender flash_ws-ws,dash-stream-ws --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.contenders import CONTENDERS, Contender, ContenderUnavailable, Recorder, StreamSpec
from benchmarks.contenders.streams import StreamParams
from benchmarks.flaky_net import versions
from benchmarks.freezing_proxy import FreezingProxy
from benchmarks.metering import status_kib
from benchmarks.servers import NoServer, ServerProcess
from benchmarks.suite import OPEN_TIMEOUT_S, warm_up

DEFAULT_CONTENDERS = ("flash_ws-ws", "flash_ws-dash-api", "dash-stream", "dash-stream-ws")
SAMPLE_S = 0.5
READY_TIMEOUT_S = 180.0  # a server starting on a busy machine
TAIL_S = 5.0  # "still growing" compares the end of the freeze with this long before it


@dataclass
class Sample:
    at_s: float  # since the freeze began
    rss_mb: float
    produced: int
    running: bool  # the producer has not ended (it may be waiting for the page)


@dataclass
class StallRow:
    contender: str
    error: str | None = None
    rss_before_mb: float | None = None
    produced_before: int = 0
    delivered_before: int = 0  # bytes the page received before the freeze (the proxy's count)
    samples: list[Sample] = field(default_factory=list)
    cut_at_cap: bool = False
    connections_during: int = 0  # connections the page opened while it read nothing (reconnection attempts)

    def growth_mb(self) -> float | None:
        """RSS at the end of the freeze minus RSS before it."""
        if not self.samples or self.rss_before_mb is None:
            return None
        return round(self.samples[-1].rss_mb - self.rss_before_mb, 1)

    def peak_growth_mb(self) -> float | None:
        if not self.samples or self.rss_before_mb is None:
            return None
        return round(max(s.rss_mb for s in self.samples) - self.rss_before_mb, 1)

    def tail(self) -> tuple[Sample, Sample] | None:
        """The sample ``TAIL_S`` before the last one, and the last one."""
        if len(self.samples) < 2:
            return None
        last = self.samples[-1]
        earlier = min(self.samples, key=lambda s: abs(last.at_s - TAIL_S - s.at_s))
        return (earlier, last) if earlier is not last else None

    def tail_growth_mb_per_s(self) -> float | None:
        tail = self.tail()
        if tail is None:
            return None
        earlier, last = tail
        return round((last.rss_mb - earlier.rss_mb) / (last.at_s - earlier.at_s), 2)

    def tail_updates_per_s(self) -> float | None:
        """The producer's rate at the end of the freeze: 0 when it waits for the page."""
        tail = self.tail()
        if tail is None:
            return None
        earlier, last = tail
        return round((last.produced - earlier.produced) / (last.at_s - earlier.at_s))

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "growth_mb": self.growth_mb(), "peak_growth_mb": self.peak_growth_mb(),
                "tail_growth_mb_per_s": self.tail_growth_mb_per_s(), "tail_updates_per_s": self.tail_updates_per_s()}


def rss_mb(pid: int) -> float | None:
    kib = status_kib(pid, "VmRSS")
    return None if kib is None else round(kib / 1024, 1)


async def _status(server: ServerProcess, key: str) -> dict[str, Any]:
    return await asyncio.to_thread(server.status, key)


async def _until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await condition():
        if time.monotonic() > deadline:
            raise ContenderUnavailable(f"{what} within {timeout:.0f}s")
        await asyncio.sleep(0.1)


async def stall(contender: Contender, server: ServerProcess, seconds: float, warm_s: float, cap_mb: float) -> StallRow:
    """One page through a frozen proxy (see the module docstring); never raises: failures are the row's."""
    row = StallRow(contender.name)
    proxy = FreezingProxy(server.port)
    await proxy.start()
    driver = contender.driver()
    key = f"stall-{contender.name}"
    spec = StreamSpec("burst", StreamParams(key, "burst", duration=warm_s + seconds + 600, limit=10**12))
    streaming: asyncio.Task[None] | None = None
    try:
        await asyncio.wait_for(driver.open(proxy.url), OPEN_TIMEOUT_S)
        streaming = asyncio.ensure_future(driver.run([spec], Recorder()))
        await _until(lambda: _started(server, key), OPEN_TIMEOUT_S, "the stream did not start")
        await asyncio.sleep(warm_s)
        pid = server.serving_pid
        row.rss_before_mb, row.produced_before = rss_mb(pid), (await _status(server, key))["produced"]
        row.delivered_before, opened_before = proxy.bytes_down, proxy.connections
        proxy.freeze()
        frozen_at = time.monotonic()
        while time.monotonic() - frozen_at < seconds:
            await asyncio.sleep(SAMPLE_S)
            rss = rss_mb(pid)
            if rss is None:
                row.error = "the server process is gone"
                break
            last = row.samples[-1] if row.samples else Sample(0, rss, row.produced_before, True)
            produced, running = last.produced, last.running
            with contextlib.suppress(OSError):  # a busy server late on the side channel: the last count stands
                status = await _status(server, key)
                produced, running = status["produced"], status["running"]
            row.samples.append(Sample(round(time.monotonic() - frozen_at, 2), rss, produced, running))
            row.connections_during = proxy.connections - opened_before
            if row.rss_before_mb is not None and rss - row.rss_before_mb > cap_mb:
                row.cut_at_cap = True
                break
    except (ContenderUnavailable, TimeoutError, OSError) as exc:
        row.error = str(exc) or type(exc).__name__
    finally:
        if streaming is not None:
            streaming.cancel()
            with contextlib.suppress(BaseException):
                await streaming
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(driver.close(), 10)
        await proxy.stop()
    return row


async def _started(server: ServerProcess, key: str) -> bool:
    return (await _status(server, key))["produced"] > 0


async def run(names: list[str], seconds: float, warm_s: float, cap_mb: float) -> list[StallRow]:
    rows = []
    for name in names:
        contender = CONTENDERS[name]
        server = contender.server()
        sys.stderr.write(f"{name:<18}")
        sys.stderr.flush()
        if isinstance(server, NoServer):
            rows.append(StallRow(name, error=server.reason))
        else:
            try:
                server.start()
                await asyncio.to_thread(server.wait_ready, READY_TIMEOUT_S)
                await warm_up(contender, server)
                rows.append(await stall(contender, server, seconds, warm_s, cap_mb))
            except RuntimeError as exc:  # the server did not start
                rows.append(StallRow(name, error=str(exc)))
            finally:
                server.stop()
        row = rows[-1]
        sys.stderr.write(f" {'error: ' + row.error if row.error else f'RSS {row.growth_mb():+} MB'}\n")
    return rows


def _fmt(value: float | None, spec: str = ",.0f") -> str:
    return "–" if value is None else format(value, spec)


def markdown_table(rows: list[StallRow], seconds: float) -> str:
    lines = ["| contender | RSS before MB | RSS growth at the end MB (peak) | still growing at the end MB/s "
             f"| updates produced in the {seconds:g} s | producer at the end | connections opened meanwhile |",
             "|---|--:|--:|--:|--:|--:|--:|"]
    for row in rows:
        if row.error and not row.samples:
            lines.append(f"| {row.contender} | cannot run: {row.error[:160]} | | | | | |")
            continue
        growth = f"{_fmt(row.growth_mb(), '+,.1f')} ({_fmt(row.peak_growth_mb(), '+,.1f')})"
        if row.cut_at_cap:
            growth += f", cut after {row.samples[-1].at_s:g} s"
        last = row.samples[-1]
        produced = last.produced - row.produced_before
        producer = f"{_fmt(row.tail_updates_per_s())} upd/s" if last.running else "ended"
        lines.append(f"| {row.contender} | {_fmt(row.rss_before_mb, ',.1f')} | {growth} "
                     f"| {_fmt(row.tail_growth_mb_per_s(), ',.2f')} | {produced:,} | {producer} "
                     f"| {row.connections_during} |")
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.stalled_reader", description=__doc__.splitlines()[0])
    parser.add_argument("--contender", action="append", metavar="NAME",
                        help=f"repeatable or comma-separated (default: {','.join(DEFAULT_CONTENDERS)})")
    parser.add_argument("--seconds", type=float, default=30.0, help="how long the page reads nothing (default 30)")
    parser.add_argument("--warm", type=float, default=2.0, help="seconds the stream runs before the freeze")
    parser.add_argument("--cap", type=float, default=1000.0, metavar="MB",
                        help="end a freeze early once RSS has grown this much (default 1000)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write the rows and samples as JSON")
    args = parser.parse_args(argv)
    asked = [n.strip() for value in args.contender or [",".join(DEFAULT_CONTENDERS)] for n in value.split(",") if n.strip()]
    unknown = [name for name in asked if name not in CONTENDERS]
    if unknown:
        parser.error(f"unknown contender {', '.join(unknown)}; expected some of {', '.join(CONTENDERS)}")
    if args.seconds <= 0 or args.warm < 0 or args.cap <= 0:
        parser.error("--seconds and --cap must be positive, --warm 0 or more")
    args.names = asked
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = datetime.datetime.now(datetime.UTC).astimezone().isoformat(timespec="seconds")
    rows = asyncio.run(run(args.names, args.seconds, args.warm, args.cap))
    print(markdown_table(rows, args.seconds))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"rows": [row.to_json() for row in rows], "meta": {
            "started_at": started, "seconds": args.seconds, "warm_s": args.warm, "cap_mb": args.cap,
            "versions": versions()}}, indent=1))
        print(f"JSON: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
