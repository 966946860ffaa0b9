"""An existing Flask app with Flask-Login (tests/apps/flask_login_app.py) streaming over flash_ws:
a visitor without the login is refused on every transport; a signed-in user's event callbacks read
``current_user``, ``flask.session`` and a fresh ``flask.g``, in async and sync generators.

In-process (tests/inprocess.py): the app's ASGI front (``app.asgi``) driven as an ASGI server drives
it; what is checked is which requests pass the app's guard and what the callbacks read, not timing."""

from __future__ import annotations

import json

from tests.test_admission import HELLO, WS, close_code, http, post

APP = "tests.apps.flask_login_app:server"
WHOAMI = "tests.apps.flask_login_app.whoami"


async def signed_in(server, name: str) -> str:
    """The Cookie header of a browser that signed in as ``name`` through the Flask app's own route."""
    response = await server.asgi.request("GET", f"/login/{name}")
    assert response.status == 200, response.body
    return "; ".join(value.split(";")[0] for value in response.headers.get_all("set-cookie"))


async def run(server, cookie: str, cb: str, runs: int = 1) -> list[str]:
    """Start ``cb`` ``runs`` times, one after the other, over one WebSocket; the texts its updates carried."""
    ws = await server.asgi.websocket(WS, {"Origin": server.url, "Cookie": cookie})
    await ws.send(json.dumps([HELLO]))
    texts = []
    for k in range(1, runs + 1):
        await ws.send(json.dumps([{"t": "start", "run": k, "cb": cb, "args": [k]}]))
        ended = False
        while not ended:
            for frame in json.loads(await ws.recv()):
                if frame["t"] == "update":
                    texts += [props["children"] for _, props in frame["props"]]
                ended = ended or (frame["t"] == "end" and frame["run"] == k)
    await ws.close()
    return texts


async def test_a_visitor_without_the_login_is_refused_on_every_transport(serve_in_process):
    server = await serve_in_process(APP)
    ws = await server.asgi.websocket(WS, {"Origin": server.url})
    await ws.send(json.dumps([HELLO]))
    assert await close_code(ws) == (4001, "refused by the app (before_request answered 401)")
    status, answer, _ = await http(server, "/_flash_ws/sse?v=1&sid=&seq=0")
    assert (status, answer["code"]) == (401, "rejected")
    status, answer, _ = await post(server, [{"t": "ack", "seq": 0}], "any-session")
    assert (status, answer["code"]) == (401, "rejected")
    status, _, _ = await http(server, "/")  # the app's own pages: its guard, as before
    assert status == 401


async def test_a_signed_in_users_callbacks_read_current_user_the_session_and_a_fresh_g(serve_in_process):
    server = await serve_in_process(APP)
    alice = await signed_in(server, "alice")
    assert await run(server, alice, WHOAMI, runs=2) == ["alice team of alice g.runs=1"] * 2
    bob = await signed_in(server, "bob")
    assert await run(server, bob, WHOAMI) == ["bob team of bob g.runs=1"]


async def test_a_sync_generator_reads_current_user_in_its_thread(serve_in_process):
    server = await serve_in_process(APP)
    assert await run(server, await signed_in(server, "alice"), "tests.apps.flask_login_app.whoami_in_a_thread") == [
        "thread: alice"]


async def test_the_post_of_the_fallback_starts_a_run_as_the_signed_in_user(serve_in_process):
    server = await serve_in_process(APP)
    async with server.client(transport="sse", headers={"Cookie": await signed_in(server, "bob")}) as client:
        pairs, ended = await (await client.start(WHOAMI, [1])).collect()
        assert ([props["children"] for _, props in pairs], ended.reason) == (["bob team of bob g.runs=1"], "done")
