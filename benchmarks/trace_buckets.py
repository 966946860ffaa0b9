"""One page's main-thread time in a Chromium trace (the JSON of ``Browser.start_tracing``), in buckets.

The page's main thread is the thread that ran the page's ``console.timeStamp(START_STAMP)``: a
page's trace can hold other renderers of its browser too, such as Chromium's own WebUI (the omnibox
popup, preloaded at launch in a renderer of its own, seen still loading its modules when the trace
starts on a loaded machine, busier than a bare page). Only in a trace without the stamp is it the
``CrRendererMain`` thread busiest in top-level tasks (events of the ``toplevel`` category not inside
another one). Its busy time is the total of the tasks that start between the page's
``console.timeStamp(START_STAMP)`` and ``console.timeStamp(END_STAMP)`` (the whole trace without
them, ``PageTime.stamped`` false): starting the profiler, in the task that starts the trace, costs
the page hundreds of milliseconds the burst has nothing to do with. Each task's time goes to exactly
one bucket, so the buckets add up to it:

- **GC** and **layout/paint**: the outermost ``MinorGC``/``MajorGC`` and style, layout and paint
  events inside the task;
- **JavaScript**: the rest of the task covered by the V8 sampling profiler's samples, each weighted
  by the time to the next sample (cut at the task's end and at the next GC or layout event). A sample
  is charged to its innermost frame that belongs to a script (builtins to their caller): JSON.parse
  (called through ``PARSE_MARK``), flash_ws.js (by function), Dash/React, Plotly, or bench JS (the
  bare page's own script, the driver's recording hook and Playwright's polling);
- what remains is the browser's native work: **dispatch** in the tasks that received a WebSocket
  message (``WebSocketReceive``), **other** elsewhere.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

BUCKETS = ("dispatch", "JSON.parse", "flash_ws.js", "Dash/React", "Plotly", "bench JS", "GC", "layout/paint", "other")
PARSE_MARK = "__flashWsTraceJsonParse"
START_STAMP, END_STAMP = "page_trace: start", "page_trace: end"
GC_EVENTS = frozenset({"MinorGC", "MajorGC"})
LAYOUT_EVENTS = frozenset({"UpdateLayoutTree", "RecalculateStyles", "Layout", "PrePaint", "Paint", "Layerize",
                           "Commit", "UpdateLayer", "CompositeLayers", "HitTest"})
NOT_JS = frozenset({"(idle)", "(program)", "(root)", "(garbage collector)"})


@dataclass
class PageTime:
    busy_ms: float = 0.0
    buckets_ms: dict[str, float] = field(default_factory=lambda: dict.fromkeys(BUCKETS, 0.0))
    functions_ms: dict[str, dict[str, float]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(float)))
    messages: int = 0  # WebSocket messages the page received
    samples: int = 0  # the profiler's samples on the main thread
    stamped: bool = False  # both stamps on the main thread: the figures are the burst's, not the whole trace's

    def top_functions(self, bucket: str, count: int) -> list[tuple[str, float]]:
        """The ``count`` functions of ``bucket`` with the most time, most first."""
        return sorted(self.functions_ms[bucket].items(), key=lambda item: -item[1])[:count]


def _span(event: dict[str, Any]) -> tuple[float, float]:
    return event["ts"], event["ts"] + event.get("dur", 0)


def _outermost(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Complete events not nested in another of ``events``, by start."""
    kept: list[dict[str, Any]] = []
    for event in sorted(events, key=lambda e: (e["ts"], -e.get("dur", 0))):
        if not kept or event["ts"] >= _span(kept[-1])[1]:
            kept.append(event)
    return kept


def _stamp(event: dict[str, Any]) -> str | None:
    """The message of a ``console.timeStamp`` event; None for any other event."""
    if event.get("name") != "TimeStamp":
        return None
    data = (event.get("args") or {}).get("data") or {}
    return data.get("message") if isinstance(data, dict) else None


def _main_thread(events: list[dict[str, Any]]) -> tuple[int, int] | None:
    """The thread that stamped ``START_STAMP`` (the page's: its script ran there); without the stamp,
    the busiest ``CrRendererMain`` (see the module docstring: another renderer can be busier)."""
    stamped = next(((e["pid"], e["tid"]) for e in events if _stamp(e) == START_STAMP), None)
    if stamped is not None:
        return stamped
    names = {(e["pid"], e["tid"]): e["args"]["name"] for e in events if e.get("ph") == "M" and e["name"] == "thread_name"}
    busy: dict[tuple[int, int], float] = defaultdict(float)
    for e in events:
        if e.get("ph") == "X" and "toplevel" in e.get("cat", "") and names.get((e["pid"], e["tid"])) == "CrRendererMain":
            busy[(e["pid"], e["tid"])] += e.get("dur", 0)
    return max(busy, key=busy.__getitem__) if busy else None


def _samples(events: list[dict[str, Any]], pid: int, tid: int) -> tuple[list[float], list[tuple[str | None, str]]]:
    """The main thread's samples: their times (µs, the trace's clock) and what each is charged to
    (bucket and function; bucket None: not JavaScript)."""
    profile = next((e for e in events if e["name"] == "Profile" and e["pid"] == pid and e["tid"] == tid), None)
    if profile is None:
        return [], []
    nodes: dict[int, dict[str, Any]] = {}
    stamps: list[tuple[float, int]] = []
    now = profile["args"]["data"]["startTime"]
    for chunk in (e for e in events if e["name"] == "ProfileChunk" and e["pid"] == pid and e.get("id") == profile.get("id")):
        data = chunk["args"]["data"]
        for node in data.get("cpuProfile", {}).get("nodes", []):
            nodes[node["id"]] = node
        for node_id, delta in zip(data.get("cpuProfile", {}).get("samples", []), data.get("timeDeltas", []), strict=True):
            now += delta
            stamps.append((now, node_id))
    stamps.sort()
    return [at for at, _ in stamps], [_charge(node_id, nodes) for _, node_id in stamps]


def _charge(node_id: int, nodes: dict[int, dict[str, Any]]) -> tuple[str | None, str]:
    """The bucket and function a sample is charged to: its innermost frame with a script."""
    node = nodes.get(node_id)
    if node is None or node["callFrame"]["functionName"] in NOT_JS:
        return None, ""
    while node is not None:
        frame = node["callFrame"]
        if frame["functionName"] == PARSE_MARK:
            return "JSON.parse", PARSE_MARK
        if str(frame.get("scriptId", "0")) != "0":
            break
        node = nodes.get(node.get("parent", -1))
    if node is None:
        return "bench JS", "(native)"
    url, name = frame.get("url", ""), frame["functionName"] or "(anonymous)"
    if "flash_ws" in url:
        return "flash_ws.js", name
    if "plotly" in url:
        return "Plotly", name
    if "dash" in url or "react" in url:
        return "Dash/React", name
    return "bench JS", name


def page_time(trace: dict[str, Any] | list[dict[str, Any]]) -> PageTime:
    """Sort the busiest page's main-thread time of ``trace`` into ``BUCKETS`` (see the module docstring)."""
    events = trace["traceEvents"] if isinstance(trace, dict) else trace
    result = PageTime()
    main = _main_thread(events)
    if main is None:
        return result
    mine = [e for e in events if (e.get("pid"), e.get("tid")) == main and "ts" in e]
    stamps = {_stamp(e): e["ts"] for e in mine if e["name"] == "TimeStamp"}
    first, last = stamps.get(START_STAMP, float("-inf")), stamps.get(END_STAMP, float("inf"))
    result.stamped = START_STAMP in stamps and END_STAMP in stamps
    tasks = [e for e in _outermost([e for e in mine if e.get("ph") == "X" and "toplevel" in e.get("cat", "")])
             if first <= e["ts"] <= last]
    received = sorted(e["ts"] for e in mine if e["name"] == "WebSocketReceive" and first <= e["ts"] <= last)
    result.messages = len(received)
    inner = _outermost([e for e in mine if e.get("ph") == "X" and e["name"] in GC_EVENTS | LAYOUT_EVENTS])
    times, charged = _samples(events, *main)
    result.samples = len(times)
    starts = [e["ts"] for e in inner]
    for task in tasks:
        begin, end = _span(task)
        native = end - begin
        for event in inner[bisect.bisect_left(starts, begin):bisect.bisect_left(starts, end)]:
            spent = min(_span(event)[1], end) - event["ts"]
            result.buckets_ms["GC" if event["name"] in GC_EVENTS else "layout/paint"] += spent / 1000
            native -= spent
        for i in range(bisect.bisect_left(times, begin), bisect.bisect_left(times, end)):
            bucket, function = charged[i]
            if bucket is None or _inside(inner, starts, times[i]):
                continue
            nxt = bisect.bisect_right(starts, times[i])
            stop = min(times[i + 1] if i + 1 < len(times) else end, end, starts[nxt] if nxt < len(starts) else end)
            result.buckets_ms[bucket] += (stop - times[i]) / 1000
            result.functions_ms[bucket][function] += (stop - times[i]) / 1000
            native -= stop - times[i]
        got_message = bisect.bisect_left(received, begin) < bisect.bisect_right(received, end)
        result.buckets_ms["dispatch" if got_message else "other"] += native / 1000
        result.busy_ms += (end - begin) / 1000
    return result


def _inside(inner: list[dict[str, Any]], starts: list[float], at: float) -> bool:
    i = bisect.bisect_right(starts, at) - 1
    return i >= 0 and at < _span(inner[i])[1]
