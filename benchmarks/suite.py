"""Runs the rows: each contender behind its own FlakyProxy, one profile at a time, phase by phase.

A row is one contender in one profile: the phases of ``workloads.phases`` in order, on one driver
(one page) while they end cleanly. The proxy, started for the row with the profile and the seed,
counts connections and bytes and injects the faults. What each stream's producer made is read from
the server over a side channel that bypasses the proxy, so every update made and never delivered
counts as lost, whoever dropped it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from benchmarks.contenders import CONTENDERS, Contender, ContenderUnavailable, Driver, Recorder
from benchmarks.flaky_proxy import FlakyProxy
from benchmarks.flaky_proxy import profile as profile_faults
from benchmarks.servers import ServerProcess
from benchmarks.stats import EMPTY, Recovery, SequenceReport, account, recovery, summary
from benchmarks.workloads import Phase, Sizing, phases

Progress = Callable[[str], None]
OPEN_TIMEOUT_S = 30.0


@dataclass
class PhaseOutcome:
    phase: Phase
    started: float  # time.time()
    finished: float
    recorder: Recorder
    produced: dict[str, int]
    cut: bool  # the benchmark stopped waiting before every stream had ended
    error: str | None = None
    resumes: bool = False  # the contender resumes dropped streams itself
    live_at_cut: bool = False  # the client still had a connection that could deliver when the wait was cut

    @property
    def keeps_page(self) -> bool:
        """The next phase may run on this phase's page: it was not cut, did not fail, and every stream
        ended as it should (nothing left on its way, no page a reset left behind)."""
        return not self.cut and self.error is None and all(
            self.recorder.ended.get(spec.key) == "done" for spec in self.phase.streams)

    @property
    def active_until(self) -> float:
        """Until when a fault disrupts this phase: while its producers run, or while updates still arrive."""
        return max(self.started + self.phase.duration_s, self.recorder.last_arrival)

    def sequences(self) -> SequenceReport:
        """Loss, duplication, reordering over the phase's streams. A stream that had not ended when the
        benchmark stopped waiting has its undelivered tail counted as pending, not lost, if it could
        still arrive: the contender resumes, or a connection that can deliver was still open."""
        total = EMPTY
        for spec in self.phase.streams:
            settled = spec.key in self.recorder.ended or not (self.resumes or self.live_at_cut)
            seqs = (seq for seq, _, _ in self.recorder.records.get(spec.key, []))
            total += account(seqs, self.produced.get(spec.key), settled)
        return total

    def updates_per_s(self) -> float | None:
        """Distinct updates delivered per second, from the start of the phase to the last arrival."""
        delivered = self.sequences().distinct
        elapsed = self.recorder.last_arrival - self.started
        if not delivered or elapsed <= 0:
            return None
        return round(delivered / elapsed, 1)

    def latencies_ms(self) -> list[float]:
        return [(arrival - ts) * 1000 for records in self.recorder.records.values() for _, ts, arrival in records]

    def to_json(self) -> dict[str, Any]:
        report = self.sequences()
        return {"phase": self.phase.name, "duration_s": self.phase.duration_s, "streams": len(self.phase.streams),
                "produced": sum(self.produced.values()), "delivered": report.distinct, "lost": report.lost,
                "pending": report.pending,
                "duplicated": report.duplicated, "reordered": report.reordered,
                "updates_per_s": self.updates_per_s(), "latency_ms": summary(self.latencies_ms()),
                "elapsed_s": round(self.finished - self.started, 2), "restarts": self.recorder.restarts,
                "unfinished": sorted({spec.name for spec in self.phase.streams
                                      if self.recorder.ended.get(spec.key) != "done"}),
                "cut": self.cut, "error": self.error}


@dataclass
class RowContext:
    contender: Contender
    server: ServerProcess
    profile: str
    sizing: Sizing
    seed: int
    progress: Progress = lambda text: None
    notes: list[str] = field(default_factory=list)
    traffic: Callable[[], int] = lambda: 0  # bytes delivered to the client so far (the proxy's count)
    live: Callable[[], int] = lambda: 1  # the client's connections that can still deliver (the proxy's count)


async def _statuses(server: ServerProcess, keys: list[str]) -> dict[str, dict[str, Any]]:
    return await asyncio.to_thread(lambda: {key: server.status(key) for key in keys})


async def run_phase(driver: Driver, phase: Phase, ctx: RowContext) -> PhaseOutcome:
    """Run one phase; stop waiting at the deadline, or, for a contender without resume, once its
    producers are done, nothing has reached the client for ``idle_cut_s`` and none of its
    connections can deliver any more (all closed, or on a dead path it has not noticed)."""
    recorder = Recorder()
    sizing = ctx.sizing
    started = time.time()
    task = asyncio.get_running_loop().create_task(driver.run(list(phase.streams), recorder))
    keys = [spec.key for spec in phase.streams]
    producers_end = started + phase.duration_s
    deadline = producers_end + sizing.grace_s
    error = None
    traffic, traffic_at = ctx.traffic(), started
    while not task.done():
        await asyncio.wait({task}, timeout=0.2)
        now = time.time()
        if task.done() or now > deadline:
            break
        if ctx.traffic() != traffic:
            traffic, traffic_at = ctx.traffic(), now
        if not ctx.contender.resumes and now > producers_end:
            quiet_since = max(recorder.last_arrival, producers_end, traffic_at)
            if now - quiet_since > sizing.idle_cut_s and not ctx.live():
                statuses = await _statuses(ctx.server, keys)
                if not any(status["running"] for status in statuses.values()):
                    break
    cut = not task.done()
    live_at_cut = cut and ctx.live() > 0
    if cut:
        task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    except Exception as exc:  # the driver failed: the row says so, the run goes on
        error = f"{type(exc).__name__}: {exc}"
    finished = time.time()
    produced = {key: status["produced"] for key, status in (await _statuses(ctx.server, keys)).items()}
    return PhaseOutcome(phase, started, finished, recorder, produced, cut, error, ctx.contender.resumes, live_at_cut)


def _faults_for(profile_name: str):
    """The profile's faults; the outage's dead path is started by the benchmark (``blackhole``)
    in the middle of the paced phase, not at a fixed moment after the proxy starts."""
    faults = profile_faults(profile_name)
    return dataclasses.replace(faults, outage=None) if faults.outage is not None else faults


async def open_driver(driver: Driver, url: str) -> str | None:
    """Open ``driver`` on ``url`` within ``OPEN_TIMEOUT_S``; the reason it cannot run, or None."""
    try:
        await asyncio.wait_for(driver.open(url), OPEN_TIMEOUT_S)
    except ContenderUnavailable as exc:
        return str(exc)
    except TimeoutError:
        return f"could not connect within {OPEN_TIMEOUT_S:.0f}s"
    return None


async def close_driver(driver: Driver, ctx: RowContext) -> None:
    """Close ``driver`` within 10 s; a failure is a note of the row, never an exception."""
    try:
        await asyncio.wait_for(driver.close(), 10)
    except (TimeoutError, Exception) as exc:
        ctx.notes.append(f"driver close failed: {exc!r}")


async def run_row(ctx: RowContext) -> dict[str, Any]:
    """One contender in one profile; never raises: a failure is the row's ``error``.

    The phases share a page while each ends cleanly (``keeps_page``); a phase cut at its deadline,
    failed or reset leaves the next one a new page, without its backlog. In the profiles whose
    faults cut connections every phase gets a new page: what a page lived through (a client's
    backoff) does not carry over into the next phase's reconnections; so does every phase of a
    driver that says so (``Driver.page_per_run``).
    """
    started = time.time()
    loop = asyncio.get_running_loop()
    faults = profile_faults(ctx.profile)
    proxy = FlakyProxy(ctx.server.port, _faults_for(ctx.profile), ctx.seed)
    await proxy.start()
    ctx.traffic = lambda: proxy.counters.bytes_down
    ctx.live = lambda: proxy.live_connections
    to_wall = time.time() - loop.time()  # proxy times are loop times
    meter = ctx.server.meter()
    meter.reset()
    drivers: list[Driver] = []
    outcomes: list[PhaseOutcome] = []
    healed: list[tuple[float, str]] = []  # (wall time a fault ended, what)
    error: str | None = None
    driver: Driver | None = None
    page_per_phase = faults.reset_after_s is not None or faults.outage is not None
    try:
        for phase in phases(ctx.profile, ctx.sizing):
            if driver is None:
                driver = ctx.contender.driver()
                drivers.append(driver)
                error = await open_driver(driver, proxy.url)
                if error is not None:
                    await close_driver(driver, ctx)
                    driver = None
                    if outcomes:  # it ran before: this phase could not connect (a fault), the next may
                        ctx.notes.append(f"{phase.name}: {error}")
                        error = None
                        continue
                    break
            ctx.progress(f" {phase.name}")
            timer = None
            try:
                if ctx.profile == "outage" and phase.name == "paced":
                    offset = ctx.sizing.outage_offset_s()
                    timer = loop.call_later(offset, proxy.blackhole, ctx.sizing.outage_s)
                    healed.append((time.time() + offset + ctx.sizing.outage_s, "outage"))
                outcome = await run_phase(driver, phase, ctx)
            finally:
                if timer is not None:
                    timer.cancel()
            outcomes.append(outcome)
            if page_per_phase or driver.page_per_run or not outcome.keeps_page:
                await close_driver(driver, ctx)
                driver = None
            ctx.progress("✓" if not outcome.cut and outcome.error is None else "✗")
    except Exception as exc:  # a bug or a crash: recorded, never fatal to the run
        error = f"{type(exc).__name__}: {exc}"
    finally:
        if driver is not None:
            await close_driver(driver, ctx)
        await proxy.stop()
    usage = meter.read()
    healed += [(stats.reset_at + to_wall, "reset") for stats in proxy.history if stats.reset_at is not None]
    return _row(ctx, drivers, proxy, outcomes, healed, usage, error, time.time() - started)


def _recovery(outcomes: list[PhaseOutcome], healed: list[tuple[float, str]]) -> Recovery:
    """Reconnection samples: each fault that ended while a phase was active, to that phase's next arrival."""
    samples: list[float] = []
    unrecovered = 0
    for outcome in outcomes:
        moments = [moment for moment, _ in healed if outcome.started <= moment <= outcome.active_until]
        if moments:
            result = recovery(moments, outcome.recorder.arrivals(), outcome.finished)
            samples += result.samples_ms
            unrecovered += result.unrecovered
    return Recovery(tuple(samples), unrecovered)


def _row(ctx: RowContext, drivers: list[Driver], proxy: FlakyProxy, outcomes: list[PhaseOutcome],
         healed: list[tuple[float, str]], usage: Any, error: str | None, elapsed: float) -> dict[str, Any]:
    by_name = {outcome.phase.name: outcome for outcome in outcomes}
    ran = error is None and len(outcomes) == 3
    errors = [f"{o.phase.name}: {o.error}" for o in outcomes if o.error]
    if errors and error is None:
        error = "; ".join(errors)
    totals = EMPTY
    for outcome in outcomes:
        totals += outcome.sequences()
    paced = by_name.get("paced")
    latencies = paced.latencies_ms() if paced else []
    reconnect = _recovery(outcomes, healed)
    counters = proxy.counters
    notes = list(dict.fromkeys(ctx.notes + [note for driver in drivers for note in driver.notes]))
    transports = list(dict.fromkeys(driver.transport for driver in drivers if driver.transport))
    if usage.peak_since_start:
        notes.append("peak RSS since the server started (the kernel refused to reset it)")
    unfinished = [f"{o.phase.name}: {', '.join(o.to_json()['unfinished'])}" for o in outcomes if o.to_json()["unfinished"]]
    if unfinished:
        notes.append("streams that never ended: " + "; ".join(unfinished))
    if totals.pending:
        notes.append(f"{totals.pending} updates were still on their way when the benchmark stopped waiting "
                     "(counted as pending, not lost)")
    return {
        "contender": ctx.contender.name,
        "profile": ctx.profile,
        "transport": ", ".join(transports) or None,
        "latency_ms": summary(latencies),
        "paced_updates_per_s": round(paced.sequences().distinct / paced.phase.duration_s, 1) if paced else None,
        "updates_per_s": by_name["burst"].updates_per_s() if "burst" in by_name else None,
        "streams_updates_per_s": by_name["streams"].updates_per_s() if "streams" in by_name else None,
        "produced": sum(sum(o.produced.values()) for o in outcomes) if outcomes else None,
        "delivered": totals.distinct if outcomes else None,
        "lost": totals.lost if outcomes else None,
        "pending": totals.pending if outcomes else None,
        "duplicated": totals.duplicated if outcomes else None,
        "reordered": totals.reordered if outcomes else None,
        "reconnect_ms": reconnect.summary(),
        "restarts": sum(o.recorder.restarts for o in outcomes),
        "connections": counters.connections_opened,
        "bytes_up": counters.bytes_up,
        "bytes_down": counters.bytes_down,
        "resets": counters.resets,
        "websocket_refusals": counters.websocket_refusals,
        "server_cpu_s": usage.cpu_s,
        "server_peak_rss_mb": usage.peak_rss_mb,
        "elapsed_s": round(elapsed, 1),
        "complete": ran,
        "error": error,
        "notes": notes,
        "phases": [outcome.to_json() for outcome in outcomes],
        "samples": {"latency_ms": [round(value, 3) for value in latencies],
                    "reconnect_ms": [round(value, 1) for value in reconnect.samples_ms]},
    }


async def warm_up(contender: Contender, server: ServerProcess) -> None:
    """A short paced stream and burst straight to the server, unrecorded: imports, first-request
    setup and caches are paid before the first row."""
    from benchmarks.contenders.base import StreamSpec
    from benchmarks.contenders.streams import StreamParams

    driver = contender.driver()
    try:
        await asyncio.wait_for(driver.open(server.url), OPEN_TIMEOUT_S)
        specs = [StreamSpec("paced", StreamParams("warm-paced", "paced", 0.3)),
                 StreamSpec("burst", StreamParams("warm-burst", "burst", 0.3, limit=2000))]
        await asyncio.wait_for(driver.run(specs, Recorder()), 10)
    except (TimeoutError, Exception):
        pass  # the rows will tell
    finally:
        try:
            await asyncio.wait_for(driver.close(), 5)
        except (TimeoutError, Exception):
            pass


def contenders_named(names: list[str]) -> list[Contender]:
    return [CONTENDERS[name] for name in names]
