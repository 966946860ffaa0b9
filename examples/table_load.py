"""A cancelable table load: rows stream into the table chunk by chunk; Stop cancels the load and
``reset_props`` empties the table and puts the buttons back.

    python -m examples.table_load        (then open http://127.0.0.1:8050/)
"""

import asyncio
import random
from collections.abc import AsyncIterator

from flash_ws import Flash, Input, Patch, State, dash_table, dcc, event_callback, html, stream_props

CHUNK_SIZE = 500

app = Flash(__name__, title="Table load")
server = app.server

app.layout = html.Div([
    html.Div([
        dcc.Input(id="rows", type="number", min=1, value=5000),
        html.Button("Download data", id="start", n_clicks=0),
        html.Button("Stop", id="stop", n_clicks=0, style={"display": "none"}),
        html.Span(id="progress"),
    ]),
    dash_table.DataTable(id="table", data=[], columns=[], page_size=10),
])


async def get_data(rows: int, chunk_size: int) -> AsyncIterator[tuple[list[dict], list[str]]]:
    """Yield ``(rows, column names)`` a chunk at a time, as a slow query would."""
    for start in range(0, rows, chunk_size):
        await asyncio.sleep(0.3)
        chunk = [{"order": n, "item": random.choice(["tea", "coffee", "cocoa"]), "amount": random.randint(1, 99)}
                 for n in range(start, min(start + chunk_size, rows))]
        yield chunk, ["order", "item", "amount"]


@event_callback(
    Input("start", "n_clicks"),
    State("rows", "value"),
    cancel=[(Input("stop", "n_clicks"), 0)],
    reset_props=[
        ("table", {"data": [], "columns": []}),
        ("start", {"children": "Download data", "disabled": False}),
        ("stop", {"style": {"display": "none"}}),
        ("progress", {"children": "Stopped"}),
    ],
)
async def update_table(n_clicks, rows):
    yield stream_props([
        ("start", {"children": "Loading…", "disabled": True}),
        ("stop", {"style": {"display": "inline-block"}}),
    ])
    loaded = 0
    async for data_chunk, colnames in get_data(int(rows or 1), CHUNK_SIZE):
        if loaded == 0:
            update = {"data": data_chunk, "columns": [{"name": col, "id": col} for col in colnames]}
        else:
            data = Patch()
            data.extend(data_chunk)
            update = {"data": data}
        loaded += len(data_chunk)
        yield stream_props([("table", update), ("progress", {"children": f"{loaded} / {rows} rows"})])
    yield stream_props([
        ("start", {"children": "Reload", "disabled": False}),
        ("stop", {"style": {"display": "none"}}),
    ])


if __name__ == "__main__":
    app.run(debug=True)
