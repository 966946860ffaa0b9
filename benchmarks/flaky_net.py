"""``python -m benchmarks.flaky_net``: flash_ws and its rivals on a flaky network, all on this machine.

Every contender's server runs under hypercorn (raw-websockets: a bare ``websockets`` process) on a
free loopback port; each row puts a ``FlakyProxy`` with one profile and the seed in front of it and
runs the phases of ``workloads``. The default suite takes about eight minutes on 2 cores, eleven
with ``--browser``. ``--quick`` is a smoke run (under three minutes with ``--browser``): shorter
phases, every contender in clean but outside it only the flash_ws Python clients, three repeat
rounds, the Chromium pages not warmed up; its verdict is not the full run's.

    python -m benchmarks.flaky_net --json benchmarks/results/latest.json --html benchmarks/results/latest.html
    python -m benchmarks.flaky_net --quick --profile clean,lossy --contender flash_ws-ws --duration 2
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import platform
import shlex
import sys
import time
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from typing import Any

from benchmarks.contenders import CONTENDERS, Contender
from benchmarks.contenders.browser_driver import shared_chromium
from benchmarks.faults import PROFILES
from benchmarks.repeats import markdown_repeats, run_repeats
from benchmarks.report import COMPARED, markdown_table, markdown_verdicts, repeat_verdicts, verdicts, write_html, write_json
from benchmarks.suite import RowContext, run_row, warm_up
from benchmarks.workloads import Sizing

PACKAGES = ("dash", "flash_ws", "hypercorn", "websockets", "plotly", "quart")
REPEATS = 5  # the repeat rounds of the full run
QUICK_REPEATS = 3  # and of --quick


def _names(values: list[str] | None, known: dict[str, Any], what: str, parser: argparse.ArgumentParser) -> list[str]:
    """``--x a --x b,c`` as [a, b, c], in the order of ``known``; all of ``known`` when not given."""
    if not values:
        return list(known)
    asked = [name.strip() for value in values for name in value.split(",") if name.strip()]
    unknown = [name for name in asked if name not in known]
    if unknown:
        parser.error(f"unknown {what} {', '.join(map(repr, unknown))}; expected some of {', '.join(known)}")
    return [name for name in known if name in asked]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.flaky_net", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run, not the verdict of record (<3 min with --browser): shorter phases, "
                             "every contender in clean but outside it only flash_ws-ws and flash_ws-sse, "
                             f"{QUICK_REPEATS} repeat rounds")
    parser.add_argument("--profile", action="append", metavar="NAME",
                        help=f"profiles to run (repeatable or comma-separated): {', '.join(PROFILES)}")
    parser.add_argument("--contender", action="append", metavar="NAME",
                        help=f"contenders to run (repeatable or comma-separated): {', '.join(CONTENDERS)}")
    parser.add_argument("--duration", type=float, metavar="S",
                        help="seconds of the paced stream (default 2, quick 0.5; lossy and outage run longer)")
    parser.add_argument("--rate", type=float, default=100.0, metavar="N", help="updates per second of the paced stream")
    parser.add_argument("--seed", type=int, default=1, help="the proxies' seed (jitter and reset moments)")
    parser.add_argument("--browser", action="store_true",
                        help="also run the flash_ws contenders with the real JS client in headless Chromium")
    parser.add_argument("--repeats", type=int, metavar="N",
                        help=f"interleaved clean rounds for the verdict's medians (default {REPEATS}, "
                             f"--quick {QUICK_REPEATS}; 0: none)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write the results as JSON")
    parser.add_argument("--html", type=Path, metavar="PATH", help="write the HTML report (plotly, works offline)")
    args = parser.parse_args(argv)
    args.profiles = _names(args.profile, PROFILES, "profile", parser)
    args.contenders = _names(args.contender, CONTENDERS, "contender", parser)
    if args.contender is None and not args.browser:  # the Chromium rows run on demand
        args.contenders = [name for name in args.contenders if "-browser" not in name]
    if args.repeats is None:
        args.repeats = QUICK_REPEATS if args.quick else REPEATS
    if args.repeats < 0:
        parser.error(f"--repeats must be 0 or more, got {args.repeats}")
    if args.duration is not None and args.duration <= 0:
        parser.error("--duration must be positive")
    return args


def machine() -> dict[str, Any]:
    model = platform.processor() or "unknown"
    try:
        model = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                     if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    memory_gb = None
    try:
        kib = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal:"))
        memory_gb = round(kib / 1024**2, 1)
    except (OSError, StopIteration, ValueError):
        pass
    return {"cpus": os.cpu_count(), "cpu_model": model, "memory_gb": memory_gb, "kernel": platform.release()}


def versions() -> dict[str, str]:
    return {"python": platform.python_version(), **package_versions(PACKAGES)}


def package_versions(packages: Iterable[str]) -> dict[str, str]:
    """The installed version of each of ``packages`` ("not installed" when missing)."""
    found = {}
    for package in packages:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = "not installed"
    return found


class Progress:
    """One line per row on stderr: its phases as they pass, then the headline figures."""

    def __init__(self, total: int, stream=sys.stderr) -> None:
        self.total, self.done, self.stream = total, 0, stream

    def begin(self, contender: str, profile: str) -> None:
        self.done += 1
        self.stream.write(f"[{self.done:2d}/{self.total}] {contender:<16} {profile:<11}")
        self.stream.flush()

    def step(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()

    def end(self, row: dict[str, Any]) -> None:
        if row["error"] and not row["phases"]:
            self.stream.write(f"  cannot run: {row['error'][:100]}\n")
        else:
            latency = row["latency_ms"] or {}
            self.stream.write(f"  {row['elapsed_s']:.0f}s: p50 {latency.get('p50', '–')} ms, "
                              f"{row['updates_per_s'] or 0:,.0f} upd/s, lost {row['lost']}"
                              + (f", error: {row['error'][:80]}" if row["error"] else "") + "\n")
        self.stream.flush()

    def say(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()


def _runs_in(contender: Contender, profile: str, quick: bool) -> bool:
    """Whether a contender not named with ``--contender`` runs in ``profile``: where it is meant to,
    and under ``--quick`` outside clean only the flash_ws Python clients (what the verdict's "loses
    nothing in any profile" is about): the Chromium pages and the rivals run in clean alone."""
    if quick and profile != "clean" and (contender.in_chromium or not contender.resumes):
        return False
    return contender.profiles is None or profile in contender.profiles


async def run(args: argparse.Namespace) -> dict[str, Any]:
    sizing = Sizing.choose(args.quick, args.duration, args.rate)
    contenders = [CONTENDERS[name] for name in args.contenders]
    rows_to_run = [(profile, contender) for profile in args.profiles for contender in contenders
                   if args.contender is not None or _runs_in(contender, profile, args.quick)]
    progress = Progress(len(rows_to_run))
    started_at = datetime.datetime.now(datetime.UTC).astimezone()
    clock = time.monotonic()
    servers = {contender.name: contender.server() for contender in contenders}
    rows: list[dict[str, Any]] = []
    try:
        async with shared_chromium():  # one Chromium for every browser page of the run
            progress.say(f"starting {len(servers)} servers …")
            for server in servers.values():
                server.start()
            for server in servers.values():
                await asyncio.to_thread(server.wait_ready)
            await asyncio.gather(*(warm_up(contender, servers[contender.name]) for contender in contenders
                                   if not (args.quick and contender.in_chromium)))  # quick: no page loads (~15 s on 2 cores)
            for profile, contender in rows_to_run:
                progress.begin(contender.name, profile)
                row = await run_row(RowContext(contender, servers[contender.name], profile, sizing, args.seed,
                                               progress.step))
                progress.end(row)
                rows.append(row)
            repeated = [c for c in contenders  # by default those the speed targets compare; else those named
                        if "clean" in args.profiles and (c.profiles is None or "clean" in c.profiles)
                        and (args.contender is not None or c.name in COMPARED)]
            repeats = await run_repeats(repeated, servers, sizing, args.seed, args.repeats, progress) if args.repeats else {}
    finally:
        await asyncio.gather(*(asyncio.to_thread(server.stop) for server in servers.values()))
    results = {"rows": rows, "meta": {
        "started_at": started_at.isoformat(timespec="seconds"),
        "elapsed_s": round(time.monotonic() - clock, 1),
        "command": "python -m benchmarks.flaky_net " + shlex.join(sys.argv[1:] if args.argv is None else args.argv),
        "seed": args.seed,
        "profiles": args.profiles,
        "contenders": {contender.name: contender.summary for contender in contenders},
        "sizing": sizing.to_json(),
        "versions": versions(),
        "machine": machine(),
    }}
    results["repeats"] = repeats
    results["meta"]["verdict"] = verdicts(rows) + repeat_verdicts(repeats, rows)
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.argv = argv
    results = asyncio.run(run(args))
    print(markdown_table(results["rows"]))
    print()
    if results["repeats"]:
        print(markdown_repeats(results["repeats"]))
        print()
    print(markdown_verdicts(results))
    print(f"\n{len(results['rows'])} rows in {results['meta']['elapsed_s']:.0f} s"
          + (" (--quick: a smoke run, not the verdict of record)" if args.quick else ""))
    if args.json:
        write_json(results, args.json)
        print(f"JSON: {args.json}")
    if args.html:
        write_html(results, args.html)
        print(f"HTML: {args.html}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
