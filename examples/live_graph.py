"""An endless live graph: every half second each chart gets a new price through ``extendData``,
until End stops the stream.

    python -m examples.live_graph        (then open http://127.0.0.1:8050/)
"""

import asyncio
import random
from datetime import datetime

from flash_ws import Flash, Input, dcc, event_callback, html, stream_props

TICKERS = ["google", "apple", "microsoft", "amazon"]
MAX_POINTS = 100  # each chart keeps the newest points only

app = Flash(__name__, title="Live graph")
server = app.server

app.layout = html.Div([
    html.Button("Start stream", id="start", n_clicks=0),
    html.Button("End", id="end", n_clicks=0, style={"display": "none"}),
    html.P(id="error"),
    html.Div([
        dcc.Graph(id=f"graph-{tick}", figure={"data": [{"x": [], "y": [], "mode": "lines", "name": tick}],
                                              "layout": {"title": {"text": tick}, "height": 250}})
        for tick in TICKERS
    ]),
])

prices = {tick: 100.0 for tick in TICKERS}


async def get_stock(tick: str) -> float:
    """The next price of ``tick`` (a random walk, standing in for a price feed)."""
    await asyncio.sleep(0)
    prices[tick] *= 1 + random.gauss(0, 0.01)
    return round(prices[tick], 2)


@event_callback(
    Input("start", "n_clicks"),
    cancel=[(Input("end", "n_clicks"), 0)],
    reset_props=[
        ("start", {"disabled": False, "children": "Start stream"}),
        ("end", {"style": {"display": "none"}}),
    ],
    on_error=lambda e: stream_props("error", {"children": f"The stream failed: {e}"}),
)
async def update_graph(n_clicks):
    yield stream_props([
        ("start", {"disabled": True, "children": "Running"}),
        ("end", {"style": {"display": "inline-block"}}),
    ])
    while True:
        await asyncio.sleep(0.5)
        now = datetime.now().isoformat(timespec="milliseconds")
        stocks = await asyncio.gather(*[get_stock(tick) for tick in TICKERS])
        yield stream_props([
            (f"graph-{tick}", {"extendData": [{"x": [[now]], "y": [[value]]}, [0], MAX_POINTS]})
            for tick, value in zip(TICKERS, stocks, strict=True)
        ])


if __name__ == "__main__":
    app.run(debug=True)
