"""Repeated clean measurements for a verdict that holds still: rounds of short phases, contenders
interleaved (A B C, A B C, ...) so that drift of a shared machine hits all of them alike.

Each round runs, for every contender, behind its clean proxy: a paced stream at the row's rate (p50
latency), a burst (updates/s), and a paced stream at ``CPU_RATE`` updates/s during which the serving
process's CPU time is read (server CPU seconds per update delivered). Each contender keeps its page
from phase to phase and round to round while the phases end cleanly (``Seat``). The summary of each
figure is its median with min and max; the verdicts compare medians.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import replace
from statistics import median
from typing import Any

from benchmarks.contenders import Contender, Driver
from benchmarks.contenders.base import StreamSpec
from benchmarks.contenders.streams import StreamParams
from benchmarks.flaky_proxy import FlakyProxy
from benchmarks.flaky_proxy import profile as profile_faults
from benchmarks.servers import ServerProcess
from benchmarks.stats import percentile
from benchmarks.suite import RowContext, close_driver, open_driver, run_phase
from benchmarks.workloads import Phase, Sizing

CPU_RATE = 1000.0  # updates/s of the phase that measures server CPU per update
FIGURES = ("p50_ms", "updates_per_s", "cpu_us_per_update")


def _phases(sizing: Sizing) -> list[Phase]:
    def spec(name: str, kind: str, seconds: float, rate: float) -> StreamSpec:
        return StreamSpec(name, StreamParams(uuid.uuid4().hex[:16], kind, seconds, rate, sizing.burst_limit))

    paced_s = sizing.repeat_paced_s
    return [Phase("paced", paced_s, (spec("paced", "paced", paced_s, sizing.rate),)),
            Phase("burst", sizing.burst_s, (spec("burst", "burst", sizing.burst_s, sizing.rate),)),
            Phase("cpu", sizing.repeat_cpu_s, (spec("paced", "paced", sizing.repeat_cpu_s, CPU_RATE),))]


class Seat:
    """One contender's place in the rounds: a clean proxy and a page kept from round to round (clean
    has no random faults: the seed changes nothing), a new page after a phase that did not end
    cleanly (``PhaseOutcome.keeps_page``)."""

    def __init__(self, contender: Contender, server: ServerProcess, sizing: Sizing, seed: int) -> None:
        self.server, self.sizing = server, sizing
        self.proxy = FlakyProxy(server.port, profile_faults("clean"), seed)
        self.ctx = RowContext(contender, server, "clean", replace(sizing, grace_s=min(sizing.grace_s, 4.0)), seed)
        self.ctx.traffic = lambda: self.proxy.counters.bytes_down
        self.ctx.live = lambda: self.proxy.live_connections
        self.driver: Driver | None = None

    async def measure(self) -> dict[str, float | None]:
        """One round: the p50 (ms), burst (updates/s) and CPU per update (µs) of the contender."""
        figures: dict[str, float | None] = dict.fromkeys(FIGURES)
        for phase in _phases(self.sizing):
            if self.driver is None:
                driver = self.ctx.contender.driver()
                if await open_driver(driver, self.proxy.url) is not None:
                    await close_driver(driver, self.ctx)
                    continue
                self.driver = driver
            meter = self.server.meter()
            meter.reset()
            outcome = await run_phase(self.driver, phase, self.ctx)
            cpu = meter.read().cpu_s
            if self.driver.page_per_run or not outcome.keeps_page:  # a new page for the next phase
                await self.close_page()
            if phase.name == "paced":
                figures["p50_ms"] = percentile(outcome.latencies_ms(), 50)
            elif phase.name == "burst":
                figures["updates_per_s"] = outcome.updates_per_s()
            elif cpu is not None and outcome.sequences().distinct:
                figures["cpu_us_per_update"] = cpu / outcome.sequences().distinct * 1e6
        return figures

    async def close_page(self) -> None:
        if self.driver is not None:
            await close_driver(self.driver, self.ctx)
            self.driver = None

    async def close(self) -> None:
        await self.close_page()
        await self.proxy.stop()


def spread(values: list[float | None]) -> dict[str, float] | None:
    """Median, min and max of the values measured (None when none was)."""
    measured = [value for value in values if value is not None]
    if not measured:
        return None
    return {"median": round(median(measured), 3), "min": round(min(measured), 3), "max": round(max(measured), 3),
            "n": len(measured)}


async def run_repeats(contenders: list[Contender], servers: dict[str, ServerProcess], sizing: Sizing, seed: int,
                      rounds: int, progress: Any) -> dict[str, Any]:
    """``rounds`` rounds over ``contenders`` in the same order each time; the samples and their spread."""
    samples: dict[str, dict[str, list[float | None]]] = {c.name: {f: [] for f in FIGURES} for c in contenders}
    started = time.monotonic()
    seats = [Seat(contender, servers[contender.name], sizing, seed) for contender in contenders]
    try:
        for seat in seats:
            await seat.proxy.start()
        for number in range(rounds):
            progress.say(f"repeat {number + 1}/{rounds}: " + ", ".join(c.name for c in contenders))
            for seat in seats:
                for name, value in (await seat.measure()).items():
                    samples[seat.ctx.contender.name][name].append(value)
    finally:
        for seat in seats:
            await seat.close()
    return {"rounds": rounds, "elapsed_s": round(time.monotonic() - started, 1), "cpu_rate": CPU_RATE,
            "samples": samples,
            "summary": {name: {f: spread(values) for f, values in figures.items()} for name, figures in samples.items()}}


def markdown_repeats(repeats: dict[str, Any]) -> str:
    """The spread table: median (min-max) of each figure per contender."""
    def cell(value: dict[str, float] | None) -> str:
        if value is None:
            return "–"
        shown = [f"{v:,.0f}" if v >= 100 else f"{v:.3g}" for v in (value["median"], value["min"], value["max"])]
        return f"{shown[0]} ({shown[1]}–{shown[2]})"

    lines = [f"Clean, {repeats['rounds']} interleaved rounds: median (min–max)", "",
             f"| contender | p50 ms at the paced rate | burst updates/s | server CPU µs per update at {repeats['cpu_rate']:g}/s |",
             "|---|--:|--:|--:|"]
    for name, figures in repeats["summary"].items():
        lines.append(f"| {name} | {cell(figures['p50_ms'])} | {cell(figures['updates_per_s'])} | "
                     f"{cell(figures['cpu_us_per_update'])} |")
    return "\n".join(lines)
