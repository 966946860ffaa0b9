"""An existing Flask app as its users have it: Flask-Login with a user loader and a login route, a
``before_request`` guard that lets only signed-in users in, and a Dash app made on it with ``Flash``.
Its event callbacks read ``current_user``, ``flask.session`` and ``flask.g`` as a Dash callback would."""

from __future__ import annotations

import time
from typing import Any

import flask
from flask_login import LoginManager, UserMixin, current_user, login_user

from flash_ws import Flash, Input, event_callback, html, stream_props
from tests.apps import probe

USERS = {"alice", "bob"}
OPEN_PATHS = ("/login/", "/_dash-layout", "/test/")

server = flask.Flask(__name__)
server.secret_key = "a test secret"
login_manager = LoginManager(server)


class User(UserMixin):
    def __init__(self, name: str) -> None:
        self.id = name


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    return User(user_id) if user_id in USERS else None


@server.route("/login/<name>")
def login(name: str) -> Any:
    if name not in USERS:
        return "no such user", 403
    login_user(User(name))
    flask.session["team"] = f"team of {name}"
    return "signed in"


@server.before_request
def require_login() -> Any:
    if flask.request.path.startswith(OPEN_PATHS) or current_user.is_authenticated:
        return None
    return "login required", 401


app = Flash(__name__, server=server, resume_grace=5)
probe.install(app)
app.layout = html.Div([html.Button(id="go"), html.Button(id="sync-go"), html.Div(id="out")])


@event_callback(Input("go", "n_clicks"))
async def whoami(n):
    flask.g.runs = getattr(flask.g, "runs", 0) + 1  # a fresh g per run: always 1
    yield stream_props("out", {"children": f"{current_user.id} {flask.session.get('team')} g.runs={flask.g.runs}"})


@event_callback(Input("sync-go", "n_clicks"))
def whoami_in_a_thread(n):
    time.sleep(0.01)  # a sync generator's step runs in a worker thread
    yield stream_props("out", {"children": f"thread: {current_user.id}"})
