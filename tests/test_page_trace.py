"""benchmarks.page_trace: the buckets of a hand-made trace, and a short traced burst in Chromium."""

from __future__ import annotations

import json
import subprocess
import sys
from itertools import pairwise

import pytest

from benchmarks.trace_buckets import BUCKETS, END_STAMP, PARSE_MARK, START_STAMP, page_time
from tests.conftest import ROOT, SCALE

PID, MAIN, OTHER = 7, 70, 71
WEBUI = 8  # another renderer process, its main thread's tid the same as its pid as in Chromium's traces
FLASH_JS = "http://127.0.0.1:1/_dash-component-suites/flash_ws/assets/flash_ws.js"


def _event(name: str, ts: float, dur: float | None = None, cat: str = "devtools.timeline", tid: int = MAIN,
           **data: object) -> dict[str, object]:
    event: dict[str, object] = {"name": name, "cat": cat, "ph": "X" if dur is not None else "I", "pid": PID, "tid": tid,
                                "ts": ts, "args": {"data": data}}
    if dur is not None:
        event["dur"] = dur
    return event


def _frame(node_id: int, name: str, url: str = "", script: int = 0, parent: int | None = None) -> dict[str, object]:
    node: dict[str, object] = {"id": node_id, "callFrame": {"functionName": name, "url": url, "scriptId": script}}
    if parent is not None:
        node["parent"] = parent
    return node


def _trace() -> list[dict[str, object]]:
    """Main thread (µs): a task before the start stamp (left out); 1000-1600 a task that receives a
    message, with a MinorGC at 1300-1400; 2000-2300 a task with a layout at 2100-2200; the end stamp."""
    nodes = [_frame(1, "(root)"), _frame(2, "(program)", parent=1), _frame(3, "receive", FLASH_JS, 9, 1),
             _frame(4, PARSE_MARK, "", 5, 3), _frame(5, "parse", parent=4), _frame(6, "push", parent=3),
             _frame(7, "(idle)", parent=1), _frame(8, "(garbage collector)", parent=1)]
    # samples at 1000 receive, 1100 push (a builtin: receive's), 1200 JSON.parse, 1300 gc, 1400 receive,
    # 1500 program, 2000 receive (cut at the layout at 2100), 2150 receive (inside the layout: skipped),
    # 2250 idle, 3000 program
    at = [1000, 1100, 1200, 1300, 1400, 1500, 2000, 2150, 2250, 3000]
    ids = [3, 6, 5, 8, 3, 2, 3, 3, 7, 2]
    deltas = [at[0] - 900] + [b - a for a, b in pairwise(at)]
    return [
        {"name": "thread_name", "ph": "M", "pid": PID, "tid": MAIN, "args": {"name": "CrRendererMain"}},
        {"name": "thread_name", "ph": "M", "pid": PID, "tid": OTHER, "args": {"name": "CrRendererMain"}},
        _event("ThreadControllerImpl::RunTask", 100, 500, "toplevel"),
        _event("TimeStamp", 950, message=START_STAMP),
        _event("ThreadControllerImpl::RunTask", 1000, 600, "toplevel"),
        _event("WebSocketReceive", 1001, dataLength=81),
        _event("FunctionCall", 1002, 590, functionName="receive", url=FLASH_JS),
        _event("MinorGC", 1300, 100, "devtools.timeline,v8"),
        _event("ThreadControllerImpl::RunTask", 2000, 300, "toplevel"),
        _event("Layout", 2100, 100),
        _event("ThreadControllerImpl::RunTask", 5000, 50, "toplevel", tid=OTHER),  # a quieter renderer thread
        _event("TimeStamp", 2900, message=END_STAMP),
        {"name": "Profile", "ph": "P", "pid": PID, "tid": MAIN, "id": "0x1", "ts": 900, "args": {"data": {"startTime": 900}}},
        {"name": "ProfileChunk", "ph": "P", "pid": PID, "tid": 99, "id": "0x1", "ts": 3000,
         "args": {"data": {"cpuProfile": {"nodes": nodes, "samples": ids}, "timeDeltas": deltas}}},
    ]


def _webui() -> list[dict[str, object]]:
    """Another renderer's main thread, as Chromium's omnibox popup (a WebUI page it preloads at launch
    in a renderer of its own) shows up in a trace when it is still loading its modules: 10 ms of
    tasks across the burst, a profile of its own, no stamp, no WebSocket."""
    nodes = [_frame(1, "(root)"), _frame(2, "load", "chrome://omnibox-popup.top-chrome/app.js", 3, 1)]
    return [
        {"name": "thread_name", "ph": "M", "pid": WEBUI, "tid": WEBUI, "args": {"name": "CrRendererMain"}},
        {"name": "process_labels", "ph": "M", "pid": WEBUI, "tid": 0, "args": {"labels": "WebUI Top Renderer"}},
        *(_event("ThreadControllerImpl::RunTask", at, 2000, "toplevel", tid=WEBUI) | {"pid": WEBUI}
          for at in (500, 2600, 4700, 6800, 8900)),
        {"name": "Profile", "ph": "P", "pid": WEBUI, "tid": WEBUI, "id": "0x2", "ts": 400, "args": {"data": {"startTime": 400}}},
        {"name": "ProfileChunk", "ph": "P", "pid": WEBUI, "tid": 98, "id": "0x2", "ts": 3000,
         "args": {"data": {"cpuProfile": {"nodes": nodes, "samples": [2, 2, 2]}, "timeDeltas": [100, 1000, 1000]}}},
    ]


def test_every_microsecond_of_the_burst_lands_in_one_bucket():
    result = page_time({"traceEvents": _trace()})
    assert result.stamped
    assert result.busy_ms == pytest.approx(0.9)  # 600 + 300 µs; the task before the start stamp left out
    assert result.messages == 1 and result.samples == 10
    expected = {"flash_ws.js": 0.1 + 0.1 + 0.1 + 0.1, "JSON.parse": 0.1, "GC": 0.1, "layout/paint": 0.1,
                "dispatch": 0.6 - 0.3 - 0.1 - 0.1, "other": 0.3 - 0.1 - 0.1}
    assert result.buckets_ms == pytest.approx({name: expected.get(name, 0.0) for name in BUCKETS})
    assert dict(result.functions_ms["flash_ws.js"]) == pytest.approx({"receive": 0.4})
    assert result.top_functions("flash_ws.js", 1) == [("receive", pytest.approx(0.4))]


def test_the_page_is_the_thread_that_stamped_the_burst_not_the_busiest_renderer():
    """A busier renderer in the trace (CI: Chromium's omnibox popup still loading under load, busier
    than the bare page) takes nothing from the page's figures: chosen as the busiest, it gave the bare
    page's row its whole trace's busy time and samples and no message."""
    alone, beside = page_time({"traceEvents": _trace()}), page_time({"traceEvents": _trace() + _webui()})
    assert beside.stamped and (beside.messages, beside.samples) == (1, 10)
    assert beside == alone


def test_without_the_stamps_the_figures_are_a_whole_threads_and_say_so():
    """No stamp names the page: the busiest renderer's whole trace, flagged (page_trace refuses such a
    trace rather than report it)."""
    unstamped = [e for e in _trace() + _webui() if e["name"] != "TimeStamp"]
    result = page_time({"traceEvents": unstamped})
    assert not result.stamped
    assert (result.busy_ms, result.messages, result.samples) == (pytest.approx(10.0), 0, 3)
    only_start = [e for e in _trace() if e["args"] != {"data": {"message": END_STAMP}}]
    assert not page_time(only_start).stamped


def test_a_trace_without_a_renderer_is_empty():
    result = page_time([{"name": "thread_name", "ph": "M", "pid": 1, "tid": 1, "args": {"name": "CrBrowserMain"}}])
    assert (result.busy_ms, result.messages, sum(result.buckets_ms.values())) == (0.0, 0, 0.0)
    assert not result.stamped


@pytest.mark.browser
def test_a_traced_burst_accounts_for_the_page_time_of_every_update(tmp_path):
    """The command, with its own servers and Chromium: only Chromium's tracing of a real page gives
    the main-thread time and CPU samples the buckets sort."""
    json_path, traces = tmp_path / "trace.json", tmp_path / "traces"
    command = [sys.executable, "-m", "benchmarks.page_trace", "--updates", "2000", "--contender",
               "flash_ws-ws-browser,raw-websockets-browser-batched", "--json", str(json_path), "--trace-dir", str(traces)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=180 * SCALE)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = {row["contender"]: row for row in json.loads(json_path.read_text())["rows"]}
    assert list(rows) == ["flash_ws-ws-browser", "raw-websockets-browser-batched"]
    for name, row in rows.items():
        assert row["error"] is None, row
        assert row["delivered"] == row["produced"] == 2000, row
        counted = {key: row[key] for key in ("messages", "busy_ms", "samples")}
        assert all(value > 0 for value in counted.values()), f"{name}: {counted}"  # which one was 0, unclipped
        assert sum(row["buckets_ms"].values()) == pytest.approx(row["busy_ms"], abs=0.01 * len(BUCKETS)), row
        assert min(row["buckets_ms"].values()) >= 0, row
        assert (traces / f"{name}.json").stat().st_size > 0
    flash, floor = rows["flash_ws-ws-browser"], rows["raw-websockets-browser-batched"]
    assert flash["buckets_ms"]["flash_ws.js"] > 0 and flash["flash_ws_functions_ms"]
    assert floor["buckets_ms"]["flash_ws.js"] == 0 and floor["buckets_ms"]["JSON.parse"] > 0
    assert "| flash_ws-ws-browser | 2,000 / 2,000 |" in done.stdout
