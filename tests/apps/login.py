"""A test app protected the usual way of its backend (cookie ``login``): on Quart and Flask a
``before_request`` login check; on FastAPI a dependency of the whole app
(``FastAPI(dependencies=[Depends(...)])``), raising FastAPI's ``WebSocketException`` for a WebSocket
as FastAPI's docs say. Plus a Dash ``websocket_message`` hook that lets only alice start the admin
report. Sessions are bound to the signed-in user as well as to the browser (``session_user``).

The login check lets ``/_dash-layout`` through (the test servers' readiness probe) and the probe
routes under ``/test/``; everything else, flash_ws's routes included, needs the cookie."""

import asyncio
from typing import Any

from dash import hooks

from flash_ws import Flash, Input, event_callback, html, stream_props
from tests.apps import probe

USERS = {"alice", "bob"}
ADMIN_REPORT = "tests.apps.login.admin_report"
OPEN_PATHS = ("/_dash-layout", "/test/")  # the test servers' readiness probe and the probe routes


def _session_user(conn: Any) -> Any:
    return conn.cookies.get("login")


if probe.BACKEND == "fastapi":
    from fastapi import Depends, FastAPI, HTTPException, WebSocketException
    from starlette.requests import HTTPConnection

    def require_login(conn: HTTPConnection) -> None:
        if conn.url.path.startswith(OPEN_PATHS) or conn.cookies.get("login") in USERS:
            return
        if conn.scope["type"] == "websocket":
            raise WebSocketException(4001, "login required")
        raise HTTPException(401, "login required")

    app = Flash(__name__, server=FastAPI(dependencies=[Depends(require_login)]), resume_grace=5,
                session_user=_session_user)
elif probe.BACKEND == "flask":
    import flask

    app = Flash(__name__, server=flask.Flask(__name__), resume_grace=5, session_user=_session_user)

    @app.server.before_request
    def require_login() -> Any:
        if flask.request.path.startswith(OPEN_PATHS):
            return None
        if flask.request.cookies.get("login") not in USERS:
            return "login required", 401
        return None
else:
    from quart import request

    app = Flash(__name__, resume_grace=5, session_user=_session_user)

    @app.server.before_request
    async def require_login() -> Any:
        if request.path.startswith(OPEN_PATHS):
            return None
        if request.cookies.get("login") not in USERS:
            return "login required", 401
        return None

server = app.server
probe.install(app)
app.layout = html.Div([html.Button(id="go"), html.Div(id="out")])


@hooks.websocket_message()
def only_alice_runs_the_admin_report(conn, frame):
    if frame.get("t") == "start" and frame.get("cb") == ADMIN_REPORT and conn.cookies.get("login") != "alice":
        return 4001, "the admin report is for admins"
    return True


@event_callback(Input("go", "n_clicks"))
async def admin_report(n):
    probe.EVENTS["admin report ran"] += 1
    yield stream_props("out", {"children": f"report {n}"})


@event_callback(Input("go", "title"))
async def ticker(_):
    i = 0
    while True:
        i += 1
        yield stream_props("out", {"children": i})
        await asyncio.sleep(0.01)
