"""The dash-ws contender's server: Dash 4.4's own websocket callbacks streaming with ``set_props``.

``hypercorn benchmarks.contenders.dash_app:server``. The real ``dash`` package on its Quart backend
with ``websocket_callbacks=True`` and Dash's defaults otherwise (a 5 ms send batch window among
them). One no-output async callback per stream name, triggered by ``go-<name>.n_clicks`` with the
stream parameters as a ``State``; it streams with ``set_props`` and stops when the socket is gone,
as Dash's documentation asks (``ctx.websocket.is_shutdown``).
"""

from __future__ import annotations

from dash import Dash, Input, State, ctx, dcc, html, set_props
from dash.exceptions import PreventUpdate
from quart import jsonify, request

from benchmarks.contenders.streams import BOOK, STATUS_PATH, STREAM_NAMES, StreamParams, component_id, update_props

app = Dash(__name__, backend="quart", websocket_callbacks=True)
server = app.server
app.layout = html.Div([
    dcc.Store(id="params"),
    *(html.Button(name, id=f"go-{name}") for name in STREAM_NAMES),
    *(html.Div(id=component_id(name)) for name in STREAM_NAMES),
])


def _make_callback(name: str):
    out = component_id(name)

    async def stream(_n_clicks, params):
        socket = ctx.websocket
        async for seq, ts in BOOK.updates(StreamParams.from_json(params)):
            if socket is None or socket.is_shutdown:
                raise PreventUpdate
            set_props(out, update_props(seq, ts))

    stream.__name__ = stream.__qualname__ = name
    return stream


for _name in STREAM_NAMES:
    app.callback(Input(f"go-{_name}", "n_clicks"), State("params", "data"), prevent_initial_call=True)(
        _make_callback(_name))


@server.route(STATUS_PATH)
async def status():
    return jsonify(BOOK.status(request.args.get("key", "")))
