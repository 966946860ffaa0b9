"""A test app mounted under a path prefix (Dash's url_base_pathname)."""

from flash_ws import Flash, Input, event_callback, html, stream_props
from tests.apps import probe

app = Flash(__name__, backend=probe.BACKEND, url_base_pathname="/dash/")
server = app.server
app.layout = html.Div([html.Button(id="go"), html.Div(id="out")])


@event_callback(Input("go", "n_clicks"))
async def hello(n):
    yield stream_props("out", {"children": f"hello {n}"})
