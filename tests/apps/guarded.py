"""A test app whose Dash websocket hooks stand for an app's own authentication."""

from dash import hooks

from flash_ws import Flash, Input, event_callback, html, stream_props
from tests.apps import probe


@hooks.websocket_connect()
async def require_cookie(websocket):
    return True if websocket.cookies.get("auth") == "ok" else (4001, "No session cookie")


@hooks.websocket_message()
def refuse_forbidden_callback(websocket, frame):
    return (4002, "Forbidden callback") if frame.get("cb") == "forbidden" else True


app = Flash(__name__, backend=probe.BACKEND)
server = app.server
app.layout = html.Div([html.Button(id="go"), html.Div(id="out")])


@event_callback(Input("go", "n_clicks"))
async def hello(n):
    yield stream_props("out", {"children": f"hello {n}"})
