"""A test app protected the usual way: a Quart ``before_request`` login check (cookie ``login``),
plus a Dash ``websocket_message`` hook that lets only alice start the admin report. Sessions are bound
to the signed-in user as well as to the browser (``session_user``).

The login check lets ``/_dash-layout`` through (the test servers' readiness probe) and the probe
routes under ``/test/``; everything else, flash_ws's routes included, needs the cookie."""

import asyncio

from dash import hooks
from quart import request

from flash_ws import Flash, Input, event_callback, html, stream_props
from tests.apps import probe

USERS = {"alice", "bob"}
ADMIN_REPORT = "tests.apps.login.admin_report"

app = Flash(__name__, resume_grace=5, session_user=lambda conn: conn.cookies.get("login"))
server = app.server
probe.install(app)
app.layout = html.Div([html.Button(id="go"), html.Div(id="out")])


@server.before_request
async def require_login():
    if request.path == "/_dash-layout" or request.path.startswith("/test/"):
        return None
    if request.cookies.get("login") not in USERS:
        return "login required", 401
    return None


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
