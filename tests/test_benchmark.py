"""benchmarks.flaky_net: its arithmetic on hand-made inputs, and a quick run of the real thing.

The unit tests feed ``stats``, ``report`` and ``workloads`` numbers made up here. The smoke test runs
``python -m benchmarks.flaky_net --quick`` on a small subset and asserts on the structure of the JSON
and on what flash_ws must never do (lose or duplicate an update), never on timings. The runs are
the command as a measured run starts it: its servers, fault proxies and (with ``--browser``)
Chromium pages are real processes and sockets.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import pytest

from benchmarks.contenders.streams import StreamBook, StreamParams
from benchmarks.flaky_net import parse_args
from benchmarks.flaky_proxy import FlakyProxy
from benchmarks.report import markdown_table, markdown_verdicts, verdicts
from benchmarks.stats import Recovery, SequenceReport, account, percentile, recovery, summary
from benchmarks.workloads import Sizing, phases
from tests.conftest import ROOT, SCALE

# --- percentiles -----------------------------------------------------------------------------------


def test_percentile_interpolates_between_closest_ranks():
    values = [4, 1, 3, 2]  # any order
    assert percentile(values, 0) == 1
    assert percentile(values, 100) == 4
    assert percentile(values, 50) == 2.5
    assert percentile(values, 25) == pytest.approx(1.75)
    assert percentile(range(1, 101), 95) == pytest.approx(95.05)
    assert percentile(range(1, 101), 99) == pytest.approx(99.01)


def test_percentile_of_one_value_and_of_none():
    assert percentile([7.5], 99) == 7.5
    assert percentile([], 50) is None
    with pytest.raises(ValueError, match="between 0 and 100"):
        percentile([1], 101)


def test_summary_rounds_and_is_none_without_samples():
    assert summary([1.0, 2.0, 3.0, 4.0, 5.0]) == {"p50": 3.0, "p95": 4.8, "p99": 4.96}
    assert summary([]) is None


# --- loss, duplication, reordering -----------------------------------------------------------------


def test_a_clean_stream_counts_nothing():
    assert account([0, 1, 2, 3], produced=4) == SequenceReport(4, 4, 0, 0, 0)


def test_gaps_and_a_missing_tail_are_lost():
    assert account([0, 2, 3], produced=6) == SequenceReport(3, 3, 3, 0, 0)  # 1, 4 and 5


def test_duplicates_are_counted_once_each_and_not_as_reordering():
    report = account([0, 1, 1, 2, 1, 3], produced=4)
    assert (report.received, report.distinct, report.duplicated, report.reordered, report.lost) == (6, 4, 2, 0, 0)


def test_a_late_arrival_is_reordered_not_lost():
    report = account([0, 2, 3, 1, 4], produced=5)
    assert (report.reordered, report.lost, report.duplicated) == (1, 0, 0)
    assert account([3, 2, 1, 0], produced=4).reordered == 3


def test_without_a_producer_count_only_gaps_below_the_highest_are_lost():
    assert account([0, 1, 4]).lost == 2
    assert account([]).lost == 0


def test_an_unsettled_stream_has_its_tail_pending_but_its_gaps_lost():
    report = account([0, 1, 3], produced=10, settled=False)
    assert (report.lost, report.pending) == (1, 6)
    assert account([0, 1, 3], produced=10).pending == 0  # settled: the tail is lost
    assert account([], produced=3, settled=False).pending == 3


def test_numbers_outside_the_produced_range_never_count_as_lost():
    assert account([0, 1, 7], produced=2) == SequenceReport(3, 3, 0, 0, 0)


def test_reports_add_up():
    total = account([0, 0, 2], produced=3) + account([1, 0], produced=2, settled=False)
    assert total == SequenceReport(received=5, distinct=4, lost=1, duplicated=1, reordered=1, pending=0)


# --- reconnection ------------------------------------------------------------------------------------


def test_recovery_is_the_delay_to_the_next_arrival_after_each_fault():
    arrivals = [0.0, 0.5, 1.0, 2.3, 2.4, 5.0]
    result = recovery([1.0, 2.0, 4.9], arrivals, until=10)
    assert result.samples_ms == pytest.approx((1300.0, 300.0, 100.0))  # 1.0 -> 2.3: strictly after
    assert result.unrecovered == 0


def test_a_fault_with_no_arrival_before_the_end_is_unrecovered():
    result = recovery([1.0, 3.0], [0.5, 1.5, 9.0], until=5.0)
    assert (result.samples_ms, result.unrecovered) == ((500.0,), 1)
    assert result.summary() == {"n": 2, "unrecovered": 1, "p50": 500.0, "p95": 500.0}
    assert Recovery((), 0).summary() is None


# --- what a row runs ---------------------------------------------------------------------------------


def test_sizing_puts_the_outage_in_the_middle_of_a_longer_paced_phase():
    full = Sizing.choose(quick=False)
    assert (full.duration_s, full.outage_s) == (2.0, 5.0) and 0.5 <= full.burst_s <= 1.0
    assert full.paced_s("clean") == 2.0 and full.paced_s("lossy") >= 5.0  # resets come 1-4 s into a connection
    assert full.outage_offset_s() * 2 + full.outage_s == full.paced_s("outage") and full.outage_offset_s() >= 1.0
    quick = Sizing.choose(quick=True, duration_s=2)
    assert quick.quick and quick.duration_s == 2 and quick.outage_s < full.outage_s
    assert quick.paced_s("outage") > quick.outage_s
    smoke = Sizing.choose(quick=True)  # shorter phases than the full run's, the lossy one still long enough for resets
    assert smoke.duration_s < full.duration_s and smoke.burst_s < full.burst_s and smoke.paced_s("lossy") >= 2.5


def test_phases_give_every_stream_a_fresh_key_and_eight_concurrent_streams():
    first, second = phases("clean", Sizing.choose(quick=True)), phases("clean", Sizing.choose(quick=True))
    assert [phase.name for phase in first] == ["paced", "burst", "streams"]
    assert [spec.name for spec in first[2].streams] == [f"stream{i}" for i in range(8)]
    keys = {spec.key for phase in first + second for spec in phase.streams}
    assert len(keys) == 20


def test_a_phase_keeps_its_page_only_when_every_stream_ended_cleanly():
    from benchmarks.contenders import Recorder
    from benchmarks.suite import PhaseOutcome

    phase = phases("clean", Sizing.choose(quick=True))[2]

    def outcome(ended: dict[str, str], cut: bool = False, error: str | None = None) -> PhaseOutcome:
        recorder = Recorder()
        recorder.ended.update(ended)
        return PhaseOutcome(phase, 0.0, 1.0, recorder, {}, cut, error)

    done = {spec.key: "done" for spec in phase.streams}
    assert outcome(done).keeps_page
    assert not outcome(done, cut=True).keeps_page and not outcome(done, error="RuntimeError: x").keeps_page
    assert not outcome({**done, phase.streams[0].key: "reset by Dash"}).keeps_page
    assert not outcome({key: how for key, how in list(done.items())[1:]}).keeps_page  # one never ended


async def test_a_stream_restarted_with_its_key_numbers_on_and_stops_the_old_run():
    book = StreamBook()
    params = StreamParams("k", "burst", duration=60, limit=10)
    first = book.updates(params)
    assert [(await anext(first))[0] for _ in range(3)] == [0, 1, 2]
    assert book.status("k")["running"] is True
    second = book.updates(params)
    seqs = [seq async for seq, _ in second]
    assert seqs == list(range(3, 10))  # numbering goes on; the limit counts the whole key
    assert [seq async for seq, _ in first] == []  # the old run stops at its next step
    assert book.status("k") == {"key": "k", "known": True, "produced": 10, "running": False}
    assert book.status("other")["known"] is False


async def test_the_proxy_counts_the_connections_that_can_still_deliver():
    """Real loopback sockets: the proxy is a TCP proxy, with an echo server behind it."""
    async def echo(reader, writer):
        while data := await reader.read(1024):
            writer.write(data)
        writer.close()

    upstream = await asyncio.start_server(echo, "127.0.0.1", 0)
    proxy = FlakyProxy(upstream.sockets[0].getsockname()[1])
    await proxy.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        writer.write(b"ping")
        assert await asyncio.wait_for(reader.readexactly(4), 5) == b"ping"
        assert proxy.live_connections == 1
        proxy.blackhole()  # open connections go silent for good: nothing more can arrive on them
        assert proxy.live_connections == 0
        writer.close()
    finally:
        await proxy.stop()
        upstream.close()


# --- command line, verdict and table -----------------------------------------------------------------


def test_contenders_and_profiles_are_repeatable_or_comma_separated():
    args = parse_args(["--contender", "raw-websockets,flash_ws-ws", "--contender", "dash-ws", "--profile", "lossy"])
    assert args.contenders == ["flash_ws-ws", "dash-ws", "raw-websockets"]
    assert args.profiles == ["lossy"]
    assert parse_args([]).profiles == ["clean", "wan", "lossy", "outage", "ws-blocked"]
    with pytest.raises(SystemExit):
        parse_args(["--contender", "nope"])


def test_quick_runs_fewer_repeat_rounds_unless_told():
    assert (parse_args([]).repeats, parse_args(["--quick"]).repeats) == (5, 3)
    assert parse_args(["--quick", "--repeats", "5"]).repeats == 5 and parse_args(["--repeats", "0"]).repeats == 0


def _row(contender: str, profile: str, **values) -> dict:
    row = {"contender": contender, "profile": profile, "transport": "websocket", "latency_ms": {"p50": 1.0, "p95": 2.0, "p99": 3.0},
           "updates_per_s": 1000.0, "streams_updates_per_s": 2000.0, "delivered": 100, "lost": 0, "pending": 0,
           "duplicated": 0, "reordered": 0, "reconnect_ms": None, "connections": 1, "bytes_down": 10_000, "bytes_up": 100,
           "server_cpu_s": 0.5, "server_peak_rss_mb": 80.0, "error": None}
    row.update(values)
    return row


def test_verdicts_judge_each_target_with_its_figures():
    rows = [
        _row("flash_ws-ws", "clean", latency_ms={"p50": 0.6, "p95": 1, "p99": 1}, updates_per_s=9000.0),
        _row("raw-websockets", "clean", latency_ms={"p50": 0.5, "p95": 1, "p99": 1}, updates_per_s=10000.0),
        _row("flash-sse-model", "clean", updates_per_s=10.0),
        _row("flash_ws-ws", "lossy", reconnect_ms={"p50": 100.0, "p95": 1200.0, "n": 5, "unrecovered": 0}),
        _row("flash_ws-sse", "lossy", lost=3, reconnect_ms={"p50": 100.0, "p95": 200.0, "n": 5, "unrecovered": 0}),
    ]
    met = {v["target"]: v["met"] for v in verdicts(rows)}
    assert met == {
        "flash_ws loses, duplicates and reorders nothing in any profile": False,
        "clean: flash_ws-ws p50 latency within 1.5x of raw-websockets": True,
        "clean: flash_ws-ws throughput at least 0.8x raw-websockets": True,
        "clean: flash_ws-ws throughput at least 10x the Flash model": True,
        "lossy: flash_ws-ws reconnection p95 under 1 s": False,
        "lossy: flash_ws-sse reconnection p95 under 1 s": True,
    }
    figures = {v["target"]: v["figures"] for v in verdicts(rows)}
    assert "flash_ws-sse/lossy: lost 3" in figures["flash_ws loses, duplicates and reorders nothing in any profile"]
    assert "1.20x" in figures["clean: flash_ws-ws p50 latency within 1.5x of raw-websockets"]


def test_verdicts_not_evaluated_without_the_rows_they_need():
    assert {v["met"] for v in verdicts([])} == {None}


def test_a_quick_runs_verdict_says_it_is_a_smoke_run():
    def results(quick: bool) -> dict:
        sizing = Sizing.choose(quick).to_json()
        return {"meta": {"sizing": sizing, "verdict": verdicts([])}, "repeats": {"rounds": 3 if quick else 5}}

    quick, full = markdown_verdicts(results(True)).splitlines(), markdown_verdicts(results(False)).splitlines()
    assert "smoke run" in quick[0] and "3 repeat rounds" in quick[0] and quick[1:] == full
    assert not any("smoke" in line for line in full)


def test_the_table_has_a_line_per_row_and_shows_why_a_row_failed():
    table = markdown_table([_row("flash_ws-ws", "clean"), _row("dash-ws", "ws-blocked", latency_ms=None, lost=None,
                                                               error="Dash's callback socket cannot open")])
    lines = table.splitlines()
    assert len(lines) == 4 and lines[0].startswith("| contender | profile |")
    assert "cannot open" in lines[3] and "| – |" in lines[3]


# --- a quick run of the command ------------------------------------------------------------------------


@pytest.mark.timeout(int(150 * SCALE))
def test_quick_run_writes_every_row_and_flash_ws_loses_nothing(tmp_path):
    json_path, html_path = tmp_path / "results.json", tmp_path / "report.html"
    command = [sys.executable, "-m", "benchmarks.flaky_net", "--quick", "--profile", "clean,lossy",
               "--contender", "flash_ws-ws,flash-sse-model", "--duration", "2", "--repeats", "2", "--json", str(json_path),
               "--html", str(html_path)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=140 * SCALE)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(json_path.read_text())
    rows, meta = results["rows"], results["meta"]
    assert [(row["contender"], row["profile"]) for row in rows] == [
        ("flash_ws-ws", "clean"), ("flash-sse-model", "clean"), ("flash_ws-ws", "lossy"), ("flash-sse-model", "lossy")]
    for row in rows:
        assert {"contender", "profile", "latency_ms", "updates_per_s", "lost", "duplicated", "reordered",
                "reconnect_ms", "connections", "error", "bytes_up", "bytes_down", "server_cpu_s",
                "server_peak_rss_mb"} <= row.keys()
        assert row["error"] is None, row
        assert set(row["latency_ms"]) == {"p50", "p95", "p99"}
        assert row["connections"] >= 1 and row["bytes_down"] > 0
        assert [phase["phase"] for phase in row["phases"]] == ["paced", "burst", "streams"]
    for row in rows:
        if row["contender"] == "flash_ws-ws":
            assert (row["lost"], row["duplicated"], row["reordered"]) == (0, 0, 0), row["phases"]
            assert row["delivered"] > 0
    lossy = next(row for row in rows if row["contender"] == "flash_ws-ws" and row["profile"] == "lossy")
    assert lossy["reconnect_ms"] is None or {"p50", "p95"} <= lossy["reconnect_ms"].keys()
    assert set(meta["versions"]) >= {"python", "dash", "flash_ws", "hypercorn", "websockets", "plotly"}
    assert meta["machine"]["cpus"] >= 1 and meta["seed"] == 1 and "--quick" in meta["command"]
    assert {v["target"] for v in meta["verdict"]} and all(v["met"] in (True, False, None) for v in meta["verdict"])
    page = html_path.read_text()
    assert page.count("plotly.js v") == 1  # embedded once: the report works offline
    assert page.count("Plotly.newPlot") == 4 and "<script src=" not in page
    assert "| flash_ws-ws | clean |" in done.stdout
    repeats = results["repeats"]
    assert repeats["rounds"] == 2 and set(repeats["summary"]) == {"flash_ws-ws", "flash-sse-model"}
    for figures in repeats["summary"].values():  # the model may deliver nothing in a short burst
        burst = figures["updates_per_s"]
        assert burst is None or burst["min"] <= burst["median"] <= burst["max"]
    assert repeats["summary"]["flash_ws-ws"]["updates_per_s"]["n"] == 2
    assert repeats["summary"]["flash_ws-ws"]["cpu_us_per_update"]["median"] > 0
    assert "interleaved rounds: median (min–max)" in done.stdout


def test_browser_rows_run_the_real_js_client_and_lose_nothing(tmp_path):
    json_path = tmp_path / "results.json"
    command = [sys.executable, "-m", "benchmarks.flaky_net", "--quick", "--browser", "--profile", "lossy",
               "--contender", "flash_ws-ws-browser,flash_ws-sse-browser", "--duration", "2", "--repeats", "0",
               "--json", str(json_path)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=180 * SCALE)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = json.loads(json_path.read_text())["rows"]
    assert [row["contender"] for row in rows] == ["flash_ws-ws-browser", "flash_ws-sse-browser"]
    for row in rows:
        assert row["error"] is None, row
        assert row["transport"].startswith("browser " + ("websocket" if row["contender"] == "flash_ws-ws-browser" else "sse"))
        assert (row["lost"], row["duplicated"], row["reordered"]) == (0, 0, 0), row["phases"]
        assert row["delivered"] > 0


def test_browser_rows_run_only_on_demand():
    from benchmarks.flaky_net import parse_args

    assert not any("-browser" in name for name in parse_args([]).contenders)  # the batched floors too
    assert {"flash_ws-ws-browser", "flash_ws-sse-browser", "raw-websockets-browser-batched"} <= set(
        parse_args(["--browser"]).contenders)


def test_quick_runs_the_chromium_pages_and_the_rivals_in_clean_only_unless_named():
    from benchmarks.contenders import CONTENDERS
    from benchmarks.flaky_net import _runs_in

    page, python, rival = CONTENDERS["flash_ws-ws-browser"], CONTENDERS["flash_ws-ws"], CONTENDERS["dash-ws"]
    assert page.in_chromium and CONTENDERS["dash-stream"].in_chromium and not python.in_chromium
    assert [p for p in ("clean", "wan", "outage") if _runs_in(page, p, quick=True)] == ["clean"]
    assert [p for p in ("clean", "wan", "outage") if _runs_in(page, p, quick=False)] == ["clean", "wan", "outage"]
    assert all(_runs_in(python, p, quick=True) for p in ("clean", "wan", "lossy", "outage", "ws-blocked"))
    assert [p for p in ("clean", "wan", "lossy", "outage") if _runs_in(rival, p, quick=True)] == ["clean"]
    assert all(_runs_in(rival, p, quick=False) for p in ("clean", "wan", "lossy", "outage"))
    assert not _runs_in(CONTENDERS["dash-stream"], "wan", quick=False)  # its own profiles still hold


def test_browser_floors_record_every_update_of_a_bare_page(tmp_path):
    json_path = tmp_path / "results.json"
    command = [sys.executable, "-m", "benchmarks.flaky_net", "--quick", "--browser", "--profile", "clean", "--repeats", "0",
               "--contender", "raw-websockets-browser-batched,raw-sse-browser", "--duration", "1", "--json", str(json_path)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=180 * SCALE)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = json.loads(json_path.read_text())["rows"]
    assert [(row["contender"], row["transport"]) for row in rows] == [
        ("raw-websockets-browser-batched", "browser websocket (bare)"), ("raw-sse-browser", "browser sse (bare)")]
    for row in rows:
        paced = row["phases"][0]
        assert paced["phase"] == "paced" and paced["delivered"] == paced["produced"] > 0, row["phases"]
        assert row["latency_ms"]["p50"] > 0 and (row["duplicated"], row["reordered"]) == (0, 0)


def test_floors_run_in_clean_only_unless_named():
    from benchmarks.contenders import CONTENDERS

    floors = [name for name in CONTENDERS if name.startswith("raw-") and name.endswith(("-browser", "-batched"))]
    assert floors == ["raw-websockets-browser", "raw-websockets-browser-batched", "raw-sse-browser", "raw-sse-browser-batched"]
    assert all(CONTENDERS[name].profiles == ("clean",) for name in floors)
    dash_api = ["dash-stream", "dash-stream-ws", "flash_ws-dash-api"]  # wan adds only its 40 ms to clean
    assert all(CONTENDERS[name].profiles == ("clean", "lossy", "outage", "ws-blocked") for name in dash_api)


def test_spread_is_median_min_max_of_what_was_measured():
    from benchmarks.repeats import spread

    assert spread([3.0, None, 1.0, 10.0]) == {"median": 3.0, "min": 1.0, "max": 10.0, "n": 3}
    assert spread([None]) is None
