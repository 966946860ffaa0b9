"""``python -m benchmarks.page_trace``: where the page's main thread spends a burst, from a Chromium trace.

    python -m benchmarks.page_trace                       # 20,000 updates to each page, ~75 s
    python -m benchmarks.page_trace --updates 2000 --contender flash_ws-ws-browser --json trace.json --trace-dir traces/

For each browser contender (by default the flash_ws WebSocket page and the raw-websockets floors,
one update per message and batched) this starts its benchmark server, warms it up, opens the row's
page through a clean ``FlakyProxy``, traces one burst of ``--updates`` updates with Chromium's
tracing (``Browser.start_tracing``) and sorts the page's main-thread time into buckets
(``benchmarks.trace_buckets``). The driver, servers and recording are the benchmark's own; tracing
records every task and message of the page, so its updates/s are figures under tracing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from benchmarks.contenders import CONTENDERS, Contender
from benchmarks.contenders.base import Recorder, StreamSpec
from benchmarks.contenders.streams import StreamParams
from benchmarks.flaky_proxy import FlakyProxy
from benchmarks.servers import ServerProcess
from benchmarks.suite import RowContext, close_driver, open_driver, warm_up
from benchmarks.trace_buckets import BUCKETS, END_STAMP, PARSE_MARK, START_STAMP, PageTime, page_time
from benchmarks.workloads import Sizing

DEFAULT_CONTENDERS = ("flash_ws-ws-browser", "raw-websockets-browser-batched", "raw-websockets-browser")
DEFAULT_UPDATES = 20_000
CATEGORIES = ["toplevel", "devtools.timeline", "disabled-by-default-v8.cpu_profiler"]
# JSON.parse is a builtin: the sampling profiler charges it to its JS caller. Called through a
# named function, its time shows as that function's.
MARK_PARSE = f"() => {{ const parse = JSON.parse; JSON.parse = function {PARSE_MARK}(text, reviver) {{ return parse(text, reviver); }}; }}"
BURST_LIMIT_S = 120.0  # the burst's producer deadline: the update count, not the clock, ends it


async def trace_burst(name: str, updates: int, trace_dir: Path | None) -> dict[str, Any]:
    """Start ``name``'s server, trace one burst of ``updates`` to its page; the row of figures."""
    contender = CONTENDERS[name]
    server = contender.server()
    server.start()
    try:
        await asyncio.to_thread(server.wait_ready)
        await warm_up(contender, server)
        proxy = FlakyProxy(server.port)
        await proxy.start()
        try:
            return await _traced(contender, server, proxy.url, updates, trace_dir)
        finally:
            await proxy.stop()
    finally:
        server.stop()


async def _traced(contender: Contender, server: ServerProcess, url: str, updates: int,
                  trace_dir: Path | None) -> dict[str, Any]:
    ctx = RowContext(contender, server, "clean", Sizing.choose(False), seed=1)
    driver: Any = contender.driver()  # a BrowserDriver
    error = await open_driver(driver, url)
    if error is not None:
        return {"contender": contender.name, "error": error}
    try:
        browser, page = driver.browser, driver.page
        await page.evaluate(MARK_PARSE)
        spec = StreamSpec("burst", StreamParams(uuid.uuid4().hex[:16], "burst", BURST_LIMIT_S, limit=updates))
        recorder = Recorder()
        await browser.start_tracing(page=page, categories=CATEGORIES)
        try:
            await page.evaluate(f"() => console.timeStamp({START_STAMP!r})")
            started = time.time()
            await asyncio.wait_for(driver.run([spec], recorder), BURST_LIMIT_S + 30)
            await page.evaluate(f"() => console.timeStamp({END_STAMP!r})")
        finally:
            raw = await browser.stop_tracing()
    finally:
        await close_driver(driver, ctx)
    if trace_dir is not None:
        trace_dir.mkdir(parents=True, exist_ok=True)
        (trace_dir / f"{contender.name}.json").write_bytes(raw)
    spent = page_time(json.loads(raw))
    if not spent.stamped:  # its figures would be a whole thread's, maybe not even the page's
        return {"contender": contender.name, "error": f"the trace has no {START_STAMP!r} and {END_STAMP!r} "
                "on one thread: the page's main thread and the burst's bounds are unknown"}
    produced = (await asyncio.to_thread(server.status, spec.key))["produced"]
    delivered = len({seq for seq, _, _ in recorder.records[spec.key]})
    elapsed = recorder.last_arrival - started
    return _row(contender.name, driver.transport, spent, produced, delivered,
                delivered / elapsed if elapsed > 0 else None, ctx.notes)


def _row(name: str, transport: str, spent: PageTime, produced: int, delivered: int, rate: float | None,
         notes: list[str]) -> dict[str, Any]:
    return {"contender": name, "transport": transport, "produced": produced, "delivered": delivered,
            "messages": spent.messages, "updates_per_s": round(rate, 1) if rate else None,
            "busy_ms": round(spent.busy_ms, 2), "buckets_ms": {k: round(v, 2) for k, v in spent.buckets_ms.items()},
            "us_per_update": round(spent.busy_ms * 1000 / delivered, 2) if delivered else None,
            "flash_ws_functions_ms": {k: round(v, 2) for k, v in spent.top_functions("flash_ws.js", 8)},
            "samples": spent.samples, "error": None, "notes": notes}


def markdown(rows: list[dict[str, Any]]) -> str:
    """One row per contender: busy time, its buckets, messages, updates/s, µs per update."""
    head = ["contender", "updates", "messages", "updates/s (traced)", "busy ms", "µs / update", *BUCKETS]
    lines = ["| " + " | ".join(head) + " |", "|---|" + "--:|" * (len(head) - 1)]
    for row in rows:
        if row.get("error"):
            lines.append(f"| {row['contender']} | " + " | ".join(["–"] * (len(head) - 2)) + f" | {row['error']} |")
            continue
        cells = [row["contender"], f"{row['delivered']:,} / {row['produced']:,}", f"{row['messages']:,}",
                 f"{row['updates_per_s']:,.0f}" if row["updates_per_s"] else "–", f"{row['busy_ms']:,.1f}",
                 f"{row['us_per_update']:,.1f}", *(f"{row['buckets_ms'][name]:,.1f}" for name in BUCKETS)]
        lines.append("| " + " | ".join(cells) + " |")
    functions = [(row["contender"], row["flash_ws_functions_ms"]) for row in rows if row.get("flash_ws_functions_ms")]
    for name, top in functions:
        lines.append(f"\n{name}: flash_ws.js by function (self ms): "
                     + ", ".join(f"{fn} {ms:,.1f}" for fn, ms in top.items()))
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.page_trace", description=__doc__.splitlines()[0])
    browsers = [name for name in CONTENDERS if name.startswith(("flash_ws-ws-browser", "raw-websockets-browser"))]
    parser.add_argument("--updates", type=int, default=DEFAULT_UPDATES, help="updates in the burst (default 20,000)")
    parser.add_argument("--contender", action="append", metavar="NAME",
                        help=f"repeatable or comma-separated: {', '.join(browsers)} (default: all of them)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write the figures as JSON")
    parser.add_argument("--trace-dir", type=Path, metavar="DIR", help="keep each page's raw trace (large) in DIR")
    args = parser.parse_args(argv)
    asked = [n.strip() for value in args.contender or [] for n in value.split(",") if n.strip()] or list(DEFAULT_CONTENDERS)
    unknown = [n for n in asked if n not in browsers]
    if unknown:
        parser.error(f"unknown contender {', '.join(map(repr, unknown))}; expected some of {', '.join(browsers)}")
    if args.updates < 1:
        parser.error(f"--updates must be at least 1, got {args.updates}")
    args.contenders = asked
    return args


async def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    rows = []
    for name in args.contenders:
        print(f"{name}: tracing a burst of {args.updates:,} updates", file=sys.stderr)
        rows.append(await trace_burst(name, args.updates, args.trace_dir))
    return rows


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    rows = asyncio.run(run(args))
    print(markdown(rows))
    if args.json is not None:
        args.json.write_text(json.dumps({"updates": args.updates, "categories": CATEGORIES, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
