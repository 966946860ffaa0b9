"""A test app mounted under a path prefix (Dash's url_base_pathname)."""

from flash_ws import Flash, Input, event_callback, html, stream_props

app = Flash(__name__, url_base_pathname="/dash/")
server = app.server
app.layout = html.Div([html.Button(id="go"), html.Div(id="out")])


@event_callback(Input("go", "n_clicks"))
async def hello(n):
    yield stream_props("out", {"children": f"hello {n}"})
