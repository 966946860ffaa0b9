"""MkDocs hook: the Benchmarks page's plotly charts, made at build time from committed JSON.

A line ``<!-- chart: NAME -->`` in a page becomes the chart NAME (see ``CHARTS``), drawn from the
files in ``docs/data/`` (the JSON ``python -m benchmarks.flaky_net --json`` writes, or a table
transcribed into the same fields). plotly.js comes from the installed ``plotly`` package and is
written once into the site, so neither the build nor the page needs the network.

An unknown chart name or a missing data file fails the build.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parent.parent / "data"
PLOTLY_JS = "assets/javascripts/plotly.min.js"
MARKER = re.compile(r"^<!-- chart: ([a-z_]+) -->$", re.MULTILINE)
FLASH_WS = ("flash_ws-ws", "flash_ws-sse")
PALETTE = {"flash_ws-ws": "#636efa", "flash_ws-sse": "#00cc96", "flash-sse-model": "#ef553b",
           "dash-ws": "#ab63fa", "raw-websockets": "#7f7f7f"}


def _load(name: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads((DATA / name).read_text())
    return result


def _layout(fig: Any, title: str, **axes: Any) -> Any:
    fig.update_layout(title=title, template="plotly_white", height=380, margin={"l": 60, "r": 20, "t": 50, "b": 40},
                      legend={"orientation": "h", "y": -0.18}, **axes)
    return fig


def _by_profile(key: Callable[[dict[str, Any]], Any], title: str, yaxis: dict[str, Any]) -> Any:
    import plotly.graph_objects as go

    rows = _load("flaky_net_2026-12-02.json")["rows"]
    profiles = list(dict.fromkeys(row["profile"] for row in rows))
    fig = go.Figure()
    for contender in dict.fromkeys(row["contender"] for row in rows):
        mine = {row["profile"]: row for row in rows if row["contender"] == contender}
        fig.add_trace(go.Bar(x=profiles, y=[key(mine[p]) if p in mine else None for p in profiles], name=contender,
                             marker_color=PALETTE.get(contender)))
    return _layout(fig, title, barmode="group", yaxis=yaxis, xaxis={"title": "profile"})


def lost() -> Any:
    return _by_profile(lambda row: row["lost"], "Updates lost (flash_ws: none in any profile)",
                       {"title": "updates never received"})


def latency() -> Any:
    return _by_profile(lambda row: row["latency_ms"]["p50"], "p50 latency of a 100 updates/s stream",
                       {"title": "ms (log)", "type": "log"})


def throughput() -> Any:
    return _by_profile(lambda row: row["updates_per_s"], "Burst: updates delivered per second, one stream",
                       {"title": "updates/s (log)", "type": "log"})


def dash_api() -> Any:
    import plotly.graph_objects as go

    rows = _load("flaky_net_2026-12-02.json")["dash_api_rows"]
    profiles = list(dict.fromkeys(row["profile"] for row in rows))
    fig = go.Figure()
    for page in dict.fromkeys(row["page"] for row in rows):
        mine = {row["profile"]: row for row in rows if row["page"] == page}
        share = [100 * mine[p]["delivered"] / mine[p]["produced"] if p in mine and mine[p]["produced"] else 0 for p in profiles]
        fig.add_trace(go.Bar(x=profiles, y=share, name="flash_ws (Flash)" if page == "Flash" else page))
    return _layout(fig, "The same Dash-API page: share of the updates produced that arrived", barmode="group",
                   yaxis={"title": "% delivered", "range": [0, 105]}, xaxis={"title": "profile"})


def backends() -> Any:
    import plotly.graph_objects as go

    summary = _load("flaky_net_backends.json")["repeats"]["summary"]
    names = list(summary)
    cpu = [summary[name]["cpu_us_per_update"] for name in names]
    fig = go.Figure(go.Bar(
        x=names, y=[c["median"] for c in cpu], marker_color="#636efa",
        error_y={"type": "data", "symmetric": False, "array": [c["max"] - c["median"] for c in cpu],
                 "arrayminus": [c["median"] - c["min"] for c in cpu]}))
    return _layout(fig, "Server CPU per update at 1,000 updates/s (median and range of 5 rounds)",
                   yaxis={"title": "µs per update"}, xaxis={"title": "contender"})


CHARTS: dict[str, Callable[[], Any]] = {
    "lost": lost, "latency": latency, "throughput": throughput, "dash_api": dash_api, "backends": backends,
}


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    if not MARKER.search(markdown):
        return markdown
    script = posixpath.relpath(PLOTLY_JS, posixpath.dirname(page.file.dest_uri))

    def chart(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in CHARTS:
            raise KeyError(f"docs/hooks/charts.py: no chart named {name!r} (known: {', '.join(CHARTS)})")
        html = CHARTS[name]().to_html(full_html=False, include_plotlyjs=False, div_id=f"chart-{name}",
                                      config={"displaylogo": False, "responsive": True})
        return f'<div class="flash-ws-chart">{html}</div>'

    return f'<script src="{script}"></script>\n\n' + MARKER.sub(chart, markdown)


def on_post_build(config: Any) -> None:
    from plotly.offline import get_plotlyjs

    target = Path(config["site_dir"]) / PLOTLY_JS
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(get_plotlyjs())
