"""The demo app: Flash 1.2.0's two event-callback examples, Dash-style token streaming (tokens.py) and
MATCH cards (cards.py).

``app`` and ``server`` (the Quart app; the FastAPI or Flask app with ``FLASH_WS_DEMO_BACKEND``) are
importable; ``python -m flash_ws.demo [--backend fastapi|flask]`` runs it.
"""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import pandas as pd
import plotly.express as px
from dash import Patch, dash_table, dcc, html

from flash_ws import Flash, Input, Output, State, StreamProps, stream_props

from . import components as c
from .cards import cards_layout
from .components import notify
from .tokens import tokens_layout

app = Flash(__name__, backend=os.environ.get("FLASH_WS_DEMO_BACKEND", "quart"), use_pages=False,  # --backend
            suppress_callback_exceptions=True, title="flash_ws demo")
server = app.server

app.layout = html.Div(
    [
        dcc.Location(id=c.URL),
        c.header(),
        html.Main(id=c.PAGE, style=c.MAIN_STYLE),
        c.notification_area(),
    ],
    style=c.PAGE_STYLE,
)


# --- routing (ordinary Dash callbacks) ---------------------------------------------------------

@app.callback(Output(c.PAGE, "children"), Output(c.NAV, "children"), Input(c.URL, "pathname"))
def route(pathname: str | None) -> tuple[Any, list]:
    """Show the page for ``pathname`` and highlight its nav link."""
    pages = {"/": progressive_layout, "/live": live_layout, "/tokens": tokens_layout, "/cards": cards_layout}
    page = pages.get(pathname or "/")
    if page is None:
        return c.card(html.P(f"No page at {pathname}."), dcc.Link("Back home", href="/"), title="404"), c.nav_links("")
    return page(), c.nav_links(pathname or "/")


@app.callback(Output(c.NOTIFICATIONS, "children"), Input(c.CLEAR_NOTIFICATIONS, "n_clicks"),
              prevent_initial_call=True)
def clear_notifications(_: int) -> list:
    """Empty the notification list."""
    return []


# --- 1. Progressive data load ------------------------------------------------------------------

def progressive_layout() -> html.Div:
    """Start/Cancel buttons, a chunk-size choice, a progress bar and the table that fills up."""
    chunk_size = dcc.Dropdown(id=c.CHUNK_SIZE, options=[100, 500, 1000], value=500, clearable=False,
                              style={"width": "110px"})
    controls = html.Div(
        [
            c.button("Load data", c.LOAD_BTN, c.PRIMARY_BUTTON),
            c.button("Cancel", c.CANCEL_BTN, c.HIDDEN_DANGER_BUTTON),
            html.Label("Chunk size", htmlFor=c.CHUNK_SIZE, style={"color": c.MUTED, "marginLeft": "12px"}),
            chunk_size,
            html.Progress(id=c.PROGRESS_BAR, value="0", max="1", style={"width": "180px"}),
            html.Span(id=c.PROGRESS_TEXT, style={"color": c.MUTED, "fontVariantNumeric": "tabular-nums"}),
        ],
        style=c.ROW_STYLE,
    )
    table = dash_table.DataTable(  # type: ignore[attr-defined]  # generated at import
        id=c.TABLE, data=[], columns=[], page_size=12, sort_action="native", filter_action="native",
        style_table={"overflowX": "auto"},
        style_cell={"fontFamily": c.FONT, "fontSize": "13px", "padding": "6px 10px", "textAlign": "left"},
        style_header={"fontWeight": 600, "background": "#f1f3f5"},
    )
    intro = html.P("Streams plotly's gapminder data set into the table chunk by chunk, with a notice per "
                   "chunk. Cancel stops the stream and resets the table and the buttons.", style={"color": c.MUTED})
    return html.Div(c.card(intro, controls, table, title="Progressive data load"))


async def gapminder_chunks(chunk_size: int) -> AsyncIterator[tuple[list[dict], list[str], int]]:
    """Yield ``(records, column names, total rows)`` for the gapminder data, a chunk at a time."""
    frame: pd.DataFrame = await asyncio.to_thread(px.data.gapminder)
    frame = frame.round({"lifeExp": 1, "gdpPercap": 0})
    for start in range(0, len(frame), chunk_size):
        await asyncio.sleep(0.3)  # stands in for a slow query, so the streaming can be watched
        yield frame.iloc[start:start + chunk_size].to_dict("records"), list(frame.columns), len(frame)


@app.event_callback(
    Input(c.LOAD_BTN, "n_clicks"),
    State(c.CHUNK_SIZE, "value"),
    cancel=[(Input(c.CANCEL_BTN, "n_clicks"), 0)],
    reset_props=[
        (c.TABLE, {"data": [], "columns": []}),
        (c.LOAD_BTN, {"children": "Load data", "disabled": False}),
        (c.CANCEL_BTN, {"style": c.HIDDEN_DANGER_BUTTON}),
        (c.PROGRESS_BAR, {"value": 0}),
        (c.PROGRESS_TEXT, {"children": "Cancelled"}),
    ],
)
async def load_data(n_clicks: int, chunk_size: int) -> AsyncIterator[StreamProps]:
    """Fill the table chunk by chunk: the first chunk sets columns and data, later ones extend data."""
    chunk_size = int(chunk_size or 500)
    yield stream_props([
        (c.LOAD_BTN, {"children": "Loading…", "disabled": True}),
        (c.CANCEL_BTN, {"style": c.DANGER_BUTTON}),
        (c.PROGRESS_TEXT, {"children": "Starting…"}),
    ])
    yield notify("Starting download", f"Gapminder data in chunks of {chunk_size} rows.", "lime")

    loaded = 0
    async for records, columns, total in gapminder_chunks(chunk_size):
        update: dict[str, Any]
        if loaded == 0:
            update = {"columns": [{"name": col, "id": col} for col in columns], "data": records}
        else:
            data = Patch()
            data.extend(records)
            update = {"data": data}
        loaded += len(records)
        yield stream_props(batch=[
            (c.TABLE, update),
            (c.PROGRESS_BAR, {"value": loaded, "max": total}),
            (c.PROGRESS_TEXT, {"children": f"{loaded} / {total} rows"}),
        ])
        yield notify("Progress", f"Loaded {loaded} of {total} rows.", "violet")

    yield stream_props([
        (c.LOAD_BTN, {"children": "Reload", "disabled": False}),
        (c.CANCEL_BTN, {"style": c.HIDDEN_DANGER_BUTTON}),
    ])
    yield notify("Finished", f"All {loaded} rows are in the table.", "lime")


# --- 2. Endless live dashboard -----------------------------------------------------------------

FAIL_AFTER_TICKS = 10
MAX_POINTS = 200


def live_graph(ticker: str) -> dcc.Graph:
    """An empty line chart for one ticker, to be extended by the stream."""
    figure = {
        "data": [{"x": [], "y": [], "type": "scatter", "mode": "lines", "name": ticker,
                  "line": {"width": 2, "color": c.ACCENT}}],
        "layout": {"title": {"text": ticker.capitalize(), "x": 0.02, "font": {"size": 15}},
                   "margin": {"l": 45, "r": 15, "t": 40, "b": 35}, "height": 260, "showlegend": False,
                   "paper_bgcolor": "white", "plot_bgcolor": "white", "xaxis": {"gridcolor": "#f1f3f5"},
                   "yaxis": {"gridcolor": "#f1f3f5"}},
    }
    return dcc.Graph(id=c.graph_id(ticker), figure=figure, config={"displayModeBar": False})


def live_layout() -> html.Div:
    """Start/Stop buttons, the fail checkbox and a 2×2 grid of live charts."""
    controls = html.Div(
        [
            c.button("Start stream", c.START_BTN, c.PRIMARY_BUTTON),
            c.button("Stop", c.STOP_BTN, c.HIDDEN_DANGER_BUTTON),
            dcc.Checklist(id=c.FAIL_CHECK, options=[{"label": f" Fail after {FAIL_AFTER_TICKS} ticks",
                                                     "value": "fail"}], value=[], style={"color": c.MUTED}),
        ],
        style=c.ROW_STYLE,
    )
    intro = html.P("An endless stream: every 0.5 s each chart gets a new price. Stop it with the button or by "
                   "leaving the page; tick the checkbox to make the stream raise and see on_error.",
                   style={"color": c.MUTED})
    grid = html.Div([live_graph(t) for t in c.TICKERS],
                    style={"display": "grid", "gridTemplateColumns": "repeat(auto-fit, minmax(420px, 1fr))",
                           "gap": "12px"})
    return html.Div([c.card(intro, controls, title="Endless live dashboard"), grid])


async def next_price(price: float) -> float:
    """One random-walk step (async, as a real price feed would be)."""
    await asyncio.sleep(0)
    return max(1.0, price * (1 + random.gauss(0, 0.004)))


@app.event_callback(
    Input(c.START_BTN, "n_clicks"),
    State(c.FAIL_CHECK, "value"),
    cancel=[
        (Input(c.URL, "pathname"), "/live"),
        (Input(c.STOP_BTN, "n_clicks"), 0),
    ],
    reset_props=[
        (c.START_BTN, {"children": "Start stream", "disabled": False}),
        (c.STOP_BTN, {"style": c.HIDDEN_DANGER_BUTTON}),
    ],
    on_error=lambda e: notify("Error", str(e), "red"),
)
async def stream_prices(n_clicks: int, fail: list[str]) -> AsyncIterator[StreamProps]:
    """Extend each chart with a new price every 0.5 s until cancelled (or failing on purpose)."""
    yield notify("Starting stream", "Live prices every 0.5 s.", "lime")
    yield stream_props([
        (c.START_BTN, {"children": "Running…", "disabled": True}),
        (c.STOP_BTN, {"style": c.DANGER_BUTTON}),
    ])
    prices = {ticker: random.uniform(100, 300) for ticker in c.TICKERS}
    ticks = 0
    while True:
        await asyncio.sleep(0.5)
        ticks += 1
        if fail and ticks > FAIL_AFTER_TICKS:
            raise RuntimeError(f"The price feed failed on purpose after {FAIL_AFTER_TICKS} ticks.")
        new = await asyncio.gather(*(next_price(prices[t]) for t in c.TICKERS))
        prices = dict(zip(c.TICKERS, new, strict=False))
        now = datetime.now().isoformat(timespec="milliseconds")
        yield stream_props([
            (c.graph_id(t), {"extendData": [{"x": [[now]], "y": [[round(p, 2)]]}, [0], MAX_POINTS]})
            for t, p in prices.items()
        ])
