"""The web side: Start submits a Celery task; its progress and rows stream in as the worker reports them.

    hypercorn examples.celery_progress.app:server --bind 127.0.0.1:8050     (or: python -m examples.celery_progress.app)
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

from flash_ws import Flash, Input, Patch, State, StreamProps, dash_table, dcc, event_callback, html, stream_props
from flash_ws.celery import follow

from .tasks import process_chunks

CHUNK_DELAY = float(os.environ.get("CELERY_PROGRESS_DELAY", "0.3"))  # seconds of "work" per chunk

app = Flash(__name__, title="flash_ws + Celery")
server = app.server

app.layout = html.Div(
    [
        html.H3("A Celery task, streamed"),
        html.Div(
            [
                html.Label("Chunks ", htmlFor="chunks"),
                dcc.Input(id="chunks", type="number", min=1, max=10_000, value=20, style={"width": "80px"}),
                dcc.Checklist(id="fail", options=[{"label": " fail halfway", "value": "fail"}], value=[],
                              inline=True),
                html.Button("Start", id="start", n_clicks=0),
                html.Button("Stop", id="stop", n_clicks=0, disabled=True),
            ],
            style={"display": "flex", "gap": "12px", "alignItems": "center"},
        ),
        html.Div(
            [html.Progress(id="bar", value=0, max=1, style={"width": "240px"}), html.Span(id="status"),
             html.Code(id="task-id", style={"color": "#868e96"})],
            style={"display": "flex", "gap": "12px", "alignItems": "center", "margin": "12px 0"},
        ),
        dash_table.DataTable(id="rows", columns=[{"name": c, "id": c} for c in ("chunk", "row", "value")], data=[],
                             page_size=15),
    ],
    style={"fontFamily": "system-ui, sans-serif", "maxWidth": "720px", "margin": "24px auto"},
)


@event_callback(
    Input("start", "n_clicks"),
    State("chunks", "value"),
    State("fail", "value"),
    cancel=[(Input("stop", "n_clicks"), 0)],
    reset_props=[("start", {"disabled": False}), ("stop", {"disabled": True})],
    on_error=lambda e: stream_props("status", {"children": f"Failed: {e}"}),
)
async def run_task(n_clicks: int, chunks: int | str | None, fail: list[str] | None) -> AsyncIterator[StreamProps]:
    """Submit the task, then show each item it reports: progress in the bar, rows in the table."""
    total = max(1, int(chunks or 1))
    yield stream_props([
        ("start", {"disabled": True}),
        ("stop", {"disabled": False}),
        ("rows", {"data": []}),
        ("bar", {"value": 0, "max": total}),
        ("status", {"children": "Submitting…"}),
        ("task-id", {"children": ""}),
    ])
    fail_at = total // 2 if fail and "fail" in fail else None
    # leaving the block for any reason (Stop, a new Start, the page closing) revokes the task
    async with follow(process_chunks.s(total, delay=CHUNK_DELAY, fail_at=fail_at)) as items:
        result = await items.submit()
        yield stream_props([("status", {"children": "Queued"}), ("task-id", {"children": result.id})])
        async for item in items:
            update = [("bar", {"value": item["done"], "max": item["total"]}),
                      ("status", {"children": f"{item['done']} / {item['total']} chunks"})]
            if item["rows"]:
                data = Patch()
                data.extend(item["rows"])
                update.append(("rows", {"data": data}))
            yield stream_props(update)
    yield stream_props([
        ("start", {"disabled": False}),
        ("stop", {"disabled": True}),
        ("status", {"children": f"Done: {items.return_value['rows']} rows"}),
    ])


if __name__ == "__main__":
    app.run(debug=True)
