"""A progress bar: Dash's background-callback progress example as a Flash event callback.

    python -m examples.progress_bar        (then open http://127.0.0.1:8050/)

Run streams the bar and the percentage as the job goes; Cancel stops it and resets the buttons.
"""

import asyncio

from flash_ws import Flash, Input, event_callback, html, stream_props

STEPS = 10

app = Flash(__name__, title="Progress bar")
server = app.server

app.layout = html.Div([
    html.P("Not run yet", id="status"),
    html.Button("Run job", id="run", n_clicks=0),
    html.Button("Cancel", id="cancel", n_clicks=0, disabled=True),
    html.Div([html.Progress(id="bar", value="0", max=str(STEPS)), html.Span("0 %", id="percent")]),
])


@event_callback(
    Input("run", "n_clicks"),
    cancel=[(Input("cancel", "n_clicks"), 0)],
    reset_props=[
        ("run", {"disabled": False}),
        ("cancel", {"disabled": True}),
        ("status", {"children": "Cancelled"}),
    ],
)
async def run_job(n_clicks):
    yield stream_props([
        ("run", {"disabled": True}),
        ("cancel", {"disabled": False}),
        ("status", {"children": "Running…"}),
    ])
    for step in range(1, STEPS + 1):
        await asyncio.sleep(0.5)  # a step of the job
        yield stream_props([("bar", {"value": str(step)}), ("percent", {"children": f"{100 * step // STEPS} %"})])
    yield stream_props([
        ("run", {"disabled": False}),
        ("cancel", {"disabled": True}),
        ("status", {"children": f"Done: run {n_clicks} times"}),
    ])


if __name__ == "__main__":
    app.run(debug=True)
