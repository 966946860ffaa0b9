"""The results: the verdict on the targets, a markdown table, the JSON file and the HTML report.

The HTML report works offline: plotly.js is embedded once, with the first chart.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

FLASH_WS = ("flash_ws-ws", "flash_ws-sse")
LATENCY_RATIO = 1.5  # flash_ws-ws p50 at most this many times raw-websockets' (clean)
THROUGHPUT_RATIO = 0.8  # flash_ws-ws updates/s at least this fraction of raw-websockets' (clean)
MODEL_RATIO = 10.0  # flash_ws-ws updates/s at least this many times the Flash model's (clean)
RECONNECT_P95_MS = 1000.0  # lossy

Row = dict[str, Any]


def _find(rows: list[Row], contender: str, profile: str) -> Row | None:
    return next((row for row in rows if row["contender"] == contender and row["profile"] == profile), None)


def _verdict(target: str, met: bool | None, figures: str) -> dict[str, Any]:
    return {"target": target, "met": met, "figures": figures}


def _ratio_target(rows: list[Row], target: str, metric: str, other: str, want: float, at_least: bool) -> dict[str, Any]:
    mine, theirs = _find(rows, "flash_ws-ws", "clean"), _find(rows, other, "clean")
    if mine is None or theirs is None:
        return _verdict(target, None, f"not evaluated: needs flash_ws-ws and {other} in the clean profile")

    def value(row: Row) -> float | None:
        return row["latency_ms"]["p50"] if metric == "p50" and row["latency_ms"] else row.get(metric)

    a, b = value(mine), value(theirs)
    unit = "ms" if metric == "p50" else "updates/s"
    if a is None or b is None or b == 0:
        return _verdict(target, False, f"flash_ws-ws {a} {unit}, {other} {b} {unit}: no ratio "
                                       f"({mine['error'] or theirs['error'] or 'missing figures'})")
    ratio = a / b
    met = ratio >= want if at_least else ratio <= want
    return _verdict(target, met, f"flash_ws-ws {a:g} {unit} vs {other} {b:g} {unit}: {ratio:.2f}x "
                                 f"({'need' if not met else 'target'} {'>=' if at_least else '<='} {want:g}x)")


def verdicts(rows: list[Row]) -> list[dict[str, Any]]:
    """Each target of the issue: met (True/False), or None when the run did not include what it needs."""
    out = []
    mine = [row for row in rows if row["contender"] in FLASH_WS]
    if mine:
        bad = [f"{row['contender']}/{row['profile']}: " + (f"failed ({row['error']})" if row["error"] else
               f"lost {row['lost']}, duplicated {row['duplicated']}, reordered {row['reordered']}")
               for row in mine if row["error"] or row["lost"] or row["duplicated"] or row["reordered"]]
        delivered = sum(row["delivered"] or 0 for row in mine)
        pending = [f"{row['contender']}/{row['profile']}: {row['pending']}" for row in mine if row["pending"]]
        figures = "; ".join(bad) if bad else f"{len(mine)} rows, {delivered} updates, 0 lost, 0 duplicated, 0 reordered"
        if pending:
            figures += " (still being delivered when the benchmark stopped waiting: " + ", ".join(pending) + ")"
        out.append(_verdict("flash_ws loses, duplicates and reorders nothing in any profile", not bad, figures))
    else:
        out.append(_verdict("flash_ws loses, duplicates and reorders nothing in any profile", None, "not evaluated: no flash_ws row"))
    out.append(_ratio_target(rows, f"clean: flash_ws-ws p50 latency within {LATENCY_RATIO:g}x of raw-websockets",
                             "p50", "raw-websockets", LATENCY_RATIO, at_least=False))
    out.append(_ratio_target(rows, f"clean: flash_ws-ws throughput at least {THROUGHPUT_RATIO:g}x raw-websockets",
                             "updates_per_s", "raw-websockets", THROUGHPUT_RATIO, at_least=True))
    out.append(_ratio_target(rows, f"clean: flash_ws-ws throughput at least {MODEL_RATIO:g}x the Flash model",
                             "updates_per_s", "flash-sse-model", MODEL_RATIO, at_least=True))
    for contender in FLASH_WS:
        target = f"lossy: {contender} reconnection p95 under {RECONNECT_P95_MS / 1000:g} s"
        row = _find(rows, contender, "lossy")
        if row is None:
            out.append(_verdict(target, None, f"not evaluated: no {contender} row in lossy"))
            continue
        reconnect = row["reconnect_ms"]
        if row["error"] or reconnect is None:
            out.append(_verdict(target, False if row["error"] else None,
                                row["error"] or "no reset hit a running stream"))
            continue
        p95 = reconnect["p95"]
        met = p95 is not None and p95 < RECONNECT_P95_MS and not reconnect["unrecovered"]
        out.append(_verdict(target, met, f"p50 {reconnect['p50']} ms, p95 {p95} ms over {reconnect['n']} resets"
                                         + (f", {reconnect['unrecovered']} never recovered" if reconnect["unrecovered"] else "")))
    return out


# (target, figure, contender, other contender, ratio wanted, at least) on the medians of the repeats
REPEAT_TARGETS = [
    ("flash_ws-ws clean burst (Python client) at least 1.0x raw-websockets", "updates_per_s", "flash_ws-ws",
     "raw-websockets", 1.0, True),
    ("flash_ws-ws clean p50 at the paced rate within 1.3x raw-websockets", "p50_ms", "flash_ws-ws", "raw-websockets",
     1.3, False),
    ("flash_ws-ws server CPU per update at 1,000/s within 1.5x raw-websockets", "cpu_us_per_update", "flash_ws-ws",
     "raw-websockets", 1.5, False),
    ("flash_ws-ws-browser clean burst at least flash_ws-sse-browser's", "updates_per_s", "flash_ws-ws-browser",
     "flash_ws-sse-browser", 1.0, True),
    ("flash_ws-ws-browser clean burst at least 0.6x raw-websockets-browser-batched", "updates_per_s",
     "flash_ws-ws-browser", "raw-websockets-browser-batched", 0.6, True),
    ("flash_ws-ws-browser clean p50 within 1.5x raw-websockets-browser", "p50_ms", "flash_ws-ws-browser",
     "raw-websockets-browser", 1.5, False),
]
COMPARED = frozenset(name for target in REPEAT_TARGETS for name in target[2:4])  # the contenders the rounds need
SSE_OUTAGE_MS = 2500.0  # flash_ws-sse-browser: the outage's end to the next update


def repeat_verdicts(repeats: dict[str, Any], rows: list[Row]) -> list[dict[str, Any]]:
    """The issue's speed targets on the medians of the repeated rounds (and the SSE page's outage)."""
    out = []
    summary = repeats.get("summary", {}) if repeats else {}
    for target, figure, mine, other, want, at_least in REPEAT_TARGETS:
        a = (summary.get(mine, {}).get(figure) or {}).get("median")
        b = (summary.get(other, {}).get(figure) or {}).get("median")
        if a is None or b is None or b == 0:
            out.append(_verdict(target, None, f"not evaluated: needs {mine} and {other} in the repeats"))
            continue
        ratio = a / b
        met = ratio >= want if at_least else ratio <= want
        out.append(_verdict(target, met, f"medians {mine} {a:g} vs {other} {b:g}: {ratio:.2f}x "
                                         f"({'need' if not met else 'target'} {'>=' if at_least else '<='} {want:g}x)"))
    row = _find(rows, "flash_ws-sse-browser", "outage")
    target = f"flash_ws-sse-browser outage: fault end to next update within {SSE_OUTAGE_MS:g} ms"
    reconnect = row["reconnect_ms"] if row else None
    if reconnect is None or reconnect.get("p50") is None:
        out.append(_verdict(target, None, "not evaluated: no flash_ws-sse-browser outage row with a recovery"))
    else:
        out.append(_verdict(target, reconnect["p50"] <= SSE_OUTAGE_MS, f"{reconnect['p50']:g} ms"))
    return out


# --- the table ----------------------------------------------------------------------------------------

COLUMNS = [
    ("contender", "contender"), ("profile", "profile"), ("transport", "transport"),
    ("p50", "p50 ms"), ("p95", "p95 ms"), ("p99", "p99 ms"), ("updates_per_s", "updates/s"),
    ("streams_updates_per_s", "8 streams/s"), ("lost", "lost"), ("pending", "pending"), ("duplicated", "dup"), ("reordered", "reord"),
    ("reconnect", "reconnect p50/p95 ms"), ("connections", "conns"), ("mb", "MB down/up"),
    ("server_cpu_s", "CPU s"), ("server_peak_rss_mb", "RSS MB"), ("error", "error"),
]


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.2f}".rstrip("0").rstrip(".")
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def cells(row: Row) -> dict[str, str]:
    latency = row["latency_ms"] or {}
    reconnect = row["reconnect_ms"]
    if reconnect is None:
        reconnect_text = "–"
    else:
        reconnect_text = f"{_fmt(reconnect['p50'])} / {_fmt(reconnect['p95'])}"
        if reconnect["unrecovered"]:
            reconnect_text += f" ({reconnect['unrecovered']}/{reconnect['n']} never)"
    error = row["error"]
    return {
        "contender": row["contender"], "profile": row["profile"], "transport": row["transport"] or "–",
        "p50": _fmt(latency.get("p50")), "p95": _fmt(latency.get("p95")), "p99": _fmt(latency.get("p99")),
        "updates_per_s": _fmt(row["updates_per_s"]), "streams_updates_per_s": _fmt(row["streams_updates_per_s"]),
        "lost": _fmt(row["lost"]), "pending": _fmt(row["pending"]),
        "duplicated": _fmt(row["duplicated"]), "reordered": _fmt(row["reordered"]),
        "reconnect": reconnect_text, "connections": _fmt(row["connections"]),
        "mb": f"{row['bytes_down'] / 1e6:.2f} / {row['bytes_up'] / 1e6:.2f}",
        "server_cpu_s": _fmt(row["server_cpu_s"]), "server_peak_rss_mb": _fmt(row["server_peak_rss_mb"]),
        "error": (error[:90] + "…" if error and len(error) > 90 else error) or "",
    }


def markdown_table(rows: list[Row]) -> str:
    lines = ["| " + " | ".join(title for _, title in COLUMNS) + " |",
             "|" + "|".join("---" if key in ("contender", "profile", "transport", "error") else "--:"
                            for key, _ in COLUMNS) + "|"]
    for row in rows:
        values = cells(row)
        lines.append("| " + " | ".join(values[key].replace("|", "\\|") for key, _ in COLUMNS) + " |")
    return "\n".join(lines)


def quick_note(results: dict[str, Any]) -> str | None:
    """What the verdict of a ``--quick`` run is worth (None for a full run)."""
    sizing = results["meta"]["sizing"]
    if not sizing.get("quick"):
        return None
    rounds = (results.get("repeats") or {}).get("rounds", 0)
    return (f"--quick: a smoke run ({sizing['duration_s']:g} s paced phases, {sizing['burst_s']:g} s bursts, "
            f"{rounds} repeat rounds, fewer rows), not the verdict of record: run without --quick for that")


def markdown_verdicts(results: dict[str, Any]) -> str:
    marks = {True: "met", False: "**not met**", None: "not evaluated"}
    note = quick_note(results)
    return "\n".join(([f"**{note}**"] if note else [])
                     + [f"- {marks[v['met']]}: {v['target']}: {v['figures']}" for v in results["meta"]["verdict"]])


# --- files --------------------------------------------------------------------------------------------


def write_json(results: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=1) + "\n")


def _figures(rows: list[Row]) -> list[tuple[str, Any]]:
    import plotly.graph_objects as go

    contenders = list(dict.fromkeys(row["contender"] for row in rows))
    profiles = list(dict.fromkeys(row["profile"] for row in rows))
    palette = ["#636efa", "#ef553b", "#00cc96", "#ab63fa", "#ffa15a", "#19d3f3"]
    color = {contender: palette[index % len(palette)] for index, contender in enumerate(contenders)}
    figures = []

    latency = go.Figure()
    for contender in contenders:
        xs, ys = [], []
        for row in rows:
            if row["contender"] == contender:
                samples = row["samples"]["latency_ms"]
                xs += [row["profile"]] * len(samples)
                ys += [max(sample, 0.01) for sample in samples]
        latency.add_trace(go.Box(x=xs, y=ys, name=contender, boxpoints=False, marker_color=color[contender]))
    latency.update_layout(boxmode="group", title="Latency of the paced stream (server timestamp to arrival)",
                          yaxis={"type": "log", "title": "ms (log)"}, xaxis={"title": "profile"})
    figures.append(("Latency distributions", latency))

    throughput = go.Figure()
    for contender in contenders:
        for key, label, pattern in (("updates_per_s", "one stream", ""), ("streams_updates_per_s", "8 streams", "/")):
            ys = [next((row[key] for row in rows if row["contender"] == contender and row["profile"] == p), None)
                  for p in profiles]
            throughput.add_trace(go.Bar(x=profiles, y=ys, name=f"{contender}, {label}", marker_color=color[contender],
                                        marker_pattern_shape=pattern, offsetgroup=f"{contender}{label}"))
    throughput.update_layout(barmode="group", title="Throughput: updates delivered per second (burst)",
                             yaxis={"type": "log", "title": "updates/s (log)"}, xaxis={"title": "profile"})
    figures.append(("Throughput", throughput))

    reconnect = go.Figure()
    fault_profiles = [p for p in ("lossy", "outage") if p in profiles]
    for p in fault_profiles:
        for q in ("p50", "p95"):
            ys, texts = [], []
            for contender in contenders:
                row = next((r for r in rows if r["contender"] == contender and r["profile"] == p), None)
                summary = row["reconnect_ms"] if row else None
                ys.append(summary[q] if summary else None)
                texts.append("" if not summary or not summary["unrecovered"]
                             else f"{summary['unrecovered']}/{summary['n']} never")
            reconnect.add_trace(go.Bar(x=contenders, y=ys, name=f"{p} {q}", text=texts))
    reconnect.update_layout(barmode="group", title="Reconnection: fault healed to the first update after it",
                            yaxis={"type": "log", "title": "ms (log)"})
    figures.append(("Reconnection", reconnect))

    lost = go.Figure()
    for contender in contenders:
        ys = [next((row["lost"] for row in rows if row["contender"] == contender and row["profile"] == p), None)
              for p in profiles]
        lost.add_trace(go.Bar(x=profiles, y=ys, name=contender, marker_color=color[contender]))
    lost.update_layout(barmode="group", title="Updates lost (produced, never delivered)", yaxis={"title": "updates"})
    figures.append(("Lost updates", lost))
    return figures


def write_html(results: dict[str, Any], path: Path) -> None:
    import plotly.io as pio

    rows, meta = results["rows"], results["meta"]
    charts = []
    for index, (title, figure) in enumerate(_figures(rows)):
        figure.update_layout(height=480, template="plotly_white")
        charts.append(f"<h2>{html.escape(title)}</h2>" + pio.to_html(
            figure, include_plotlyjs=index == 0, full_html=False))  # plotly.js embedded once, with the first
    marks = {True: ("met", "met"), False: ("not met", "missed"), None: ("not evaluated", "none")}
    verdict = "".join(f"<li class='{marks[v['met']][1]}'><b>{marks[v['met']][0]}</b>: {html.escape(v['target'])}"
                      f"<br><small>{html.escape(v['figures'])}</small></li>" for v in meta["verdict"])
    note = quick_note(results)
    quick = f"<p><b>{html.escape(note)}</b></p>" if note else ""
    head = "".join(f"<th>{html.escape(title)}</th>" for _, title in COLUMNS)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(cells(row)[key])}</td>" for key, _ in COLUMNS) + "</tr>"
                   for row in rows)
    versions = ", ".join(f"{name} {version}" for name, version in meta["versions"].items())
    machine = meta["machine"]
    page = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>flash_ws flaky_net benchmark</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; font-size: 13px; }} td, th {{ border: 1px solid #ccc; padding: 3px 6px; text-align: right; }}
td:first-child, td:nth-child(2), td:nth-child(3), td:last-child {{ text-align: left; }}
li.met b {{ color: #17803d; }} li.missed b {{ color: #b3261e; }} li.none b {{ color: #777; }}
</style></head><body>
<h1>flash_ws on a flaky network</h1>
<p>{html.escape(meta['started_at'])} · {html.escape(meta['command'])} · seed {meta['seed']} ·
{machine['cpus']} CPUs ({html.escape(machine['cpu_model'])}), {machine['memory_gb']} GB · {html.escape(versions)}</p>
<h2>Targets</h2>{quick}<ul>{verdict}</ul>
<h2>Results</h2><table><tr>{head}</tr>{body}</table>
<p><small>Latency: the paced stream ({meta['sizing']['rate']:g} updates/s), server timestamp to arrival. updates/s: one burst
stream, delivered updates over the time from its start to the last arrival; 8 streams: the same for eight concurrent
bursts on one session. lost: updates the server produced that never arrived. reconnect: from a fault's end (a reset, the
end of the outage) to the first update after it. Bytes and connections: counted by the proxy. CPU and RSS: the serving
process, for the row.</small></p>
{''.join(charts)}
</body></html>
"""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page)
