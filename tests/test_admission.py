"""The admission guard, tried as an attacker would: every transport passes the same checks (the
app's before_request login, Dash's hooks on every frame, Host and Origin, size and nesting before
anything runs), and a session belongs to the browser that opened it.

In-process (tests/inprocess.py): the checks look at the request's headers, cookies and frames, which
the test writes itself (a rebinding page's Host too), not at a socket's timing. On a real hypercorn:
what nginx's access log shows of the event stream's URL, and a chunked POST answered at the size
limit while it is still being written.
"""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets

from flash_ws.protocol.tokens import BROWSER_KEY_COOKIE
from tests.asgi import ConnectionClosed, HandshakeRefused, WebSocket
from tests.conftest import TIMEOUT, eventually, free_port, wait_until

LOGIN = "tests.apps.login"
HELLO = {"t": "hello", "v": 1, "session": None, "seq": 0}
WS = "/_flash_ws/ws"


async def http(server, path: str, body: bytes | None = None, headers: dict[str, str] | None = None,
               method: str | None = None) -> tuple[int, dict, object]:
    """(status, JSON body of a refusal or {}, response headers) of a request to ``server``."""
    method = method or ("GET" if body is None else "POST")
    response = await server.asgi.request(method, path, body or b"", {"Origin": server.url, **(headers or {})})
    if response.status < 400:
        return response.status, {}, response.headers
    try:
        answer = response.json()
    except ValueError:
        answer = {"text": response.body.decode(errors="replace")}
    return response.status, answer, response.headers


async def post(server, frames: list | bytes, token: str, cookie: str = "", **headers: str) -> tuple[int, dict, object]:
    body = frames if isinstance(frames, bytes) else json.dumps(frames).encode()
    return await http(server, "/_flash_ws/post", body, {"Content-Type": "application/json", "X-Flash-Ws-Session": token,
                                                        "Cookie": cookie, **headers})


async def open_page(server, cookie: str, first: list | None = None) -> tuple[WebSocket, list, str]:
    """A WebSocket that said hello (plus ``first``'s frames in the same message): the socket, the
    frames of its first message (the welcome first) and the cookies it now holds (``cookie`` plus
    the browser key the server set)."""
    ws = await server.asgi.websocket(WS, {"Origin": server.url, "Cookie": cookie})
    set_cookie = ws.response_headers.get("set-cookie", "")
    key = set_cookie.split(";")[0] if set_cookie.startswith(BROWSER_KEY_COOKIE) else ""
    await ws.send(json.dumps([HELLO, *(first or [])]))
    frames = json.loads(await ws.recv())
    return ws, frames, "; ".join(part for part in (cookie, key) if part)


async def close_code(ws: WebSocket) -> tuple[int, str]:
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            await ws.recv()
    return closed.value.code, closed.value.reason


@pytest.fixture(params=["quart", "fastapi", "flask"])
async def login_app(serve_in_process, request):
    """The login-protected app on each backend, protected the way users of that backend do it."""
    return await serve_in_process(f"{LOGIN}:server", FLASH_WS_TEST_BACKEND=request.param)


async def handshake_refusal(server, headers: dict[str, str]) -> tuple:
    """How a refused WebSocket handshake ends: ``("closed", code, reason)`` once accepted (flash_ws
    accepts, then closes, so a browser sees the code), or ``("refused", status)`` when the app's
    framework answered the handshake itself (a FastAPI dependency's WebSocketException)."""
    try:
        ws = await server.asgi.websocket(WS, headers)
    except HandshakeRefused as refused:
        return "refused", refused.response.status
    return ("closed", *await close_code(ws))


# on a real hypercorn, for the test that stays there


async def open_real_page(server, cookie: str) -> tuple[websockets.ClientConnection, dict, str]:
    """``open_page`` on a real server: the socket, its welcome and the cookies it now holds."""
    ws = await websockets.connect(server.ws_url, origin=server.url, additional_headers={"Cookie": cookie})
    set_cookie = ws.response.headers.get("Set-Cookie", "")
    key = set_cookie.split(";")[0] if set_cookie.startswith(BROWSER_KEY_COOKIE) else ""
    await ws.send(json.dumps([HELLO]))
    welcome = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))[0]
    return ws, welcome, "; ".join(part for part in (cookie, key) if part)


# ----- the app's own authentication covers every transport


async def test_without_the_login_cookie_no_transport_starts_anything(login_app):
    refusal = await handshake_refusal(login_app, {"Origin": login_app.url})
    if login_app.app.flash_ws_backend in ("quart", "flask"):  # the gate runs the before_request functions
        assert refusal == ("closed", 4001, "refused by the app (before_request answered 401)")
    else:  # FastAPI runs the app's dependency before the route: the handshake is refused
        assert refusal == ("refused", 403)
    status, answer, _ = await http(login_app, "/_flash_ws/sse?v=1&sid=&seq=0")
    assert status == 401
    ws, (welcome, *_), cookie = await open_page(login_app, "login=bob")  # a real session, to aim the POST at
    status, answer, _ = await post(login_app, [{"t": "start", "run": 1, "cb": "tests.apps.login.ticker", "args": [0]}],
                                   welcome["session"], cookie.replace("login=bob", "login=mallory"))
    assert status == 401
    assert login_app.events().get("admin report ran", 0) == 0
    await ws.close()


async def test_with_the_login_cookie_the_websocket_streams(login_app):
    start = {"t": "start", "run": 1, "cb": "tests.apps.login.admin_report", "args": [3]}
    ws, frames, _ = await open_page(login_app, "login=alice", [start])
    while len(frames) < 3:
        frames += json.loads(await ws.recv())
    assert [f["t"] for f in frames] == ["welcome", "update", "end"]
    assert frames[1]["props"] == [["out", {"children": "report 3"}]] and frames[2]["reason"] == "done"
    await ws.close()


# ----- Dash's message hooks see every frame, whatever message or route it came in


async def test_a_start_bundled_with_the_hello_passes_the_message_hooks(login_app):
    ws = await login_app.asgi.websocket(WS, {"Origin": login_app.url, "Cookie": "login=bob"})
    await ws.send(json.dumps([HELLO, {"t": "start", "run": 1, "cb": "tests.apps.login.admin_report", "args": [1]}]))
    assert await close_code(ws) == (4001, "the admin report is for admins")
    assert login_app.events().get("admin report ran", 0) == 0


async def test_a_hook_protected_callback_cannot_be_started_over_post(login_app):
    ws, (welcome, *_), cookie = await open_page(login_app, "login=bob")
    status, answer, _ = await post(login_app, [{"t": "start", "run": 1, "cb": "tests.apps.login.admin_report", "args": [1]}],
                                   welcome["session"], cookie)
    assert (status, answer["code"]) == (403, "rejected") and "admins" in answer["message"]
    assert login_app.events().get("admin report ran", 0) == 0
    await ws.close()


async def test_post_runs_the_connect_hooks(serve_in_process):
    server = await serve_in_process("tests.apps.guarded:server")
    ws, (welcome, *_), cookie = await open_page(server, "auth=ok")
    status, answer, _ = await post(server, [{"t": "start", "run": 1, "cb": "tests.apps.guarded.hello", "args": [1]}],
                                   welcome["session"], cookie.replace("auth=ok", "auth=stolen"))
    assert (status, answer["code"], answer["message"]) == (403, "rejected", "No session cookie")
    status, _, _ = await post(server, [{"t": "start", "run": 1, "cb": "tests.apps.guarded.hello", "args": [1]}],
                              welcome["session"], cookie)
    assert status == 204
    update = json.loads(await ws.recv())
    assert update[0]["run"] == 1  # the refused POST started nothing: run 1 is the accepted one
    await ws.close()


# ----- a session belongs to its browser


async def test_a_stolen_token_does_not_take_the_session_over(login_app):
    start = {"t": "start", "run": 1, "cb": "tests.apps.login.ticker", "args": [0]}
    ws, (welcome, *first), cookie = await open_page(login_app, "login=bob", [start])
    token = welcome["session"]
    seen: list[int] = [pair[1]["children"] for frame in first if frame["t"] == "update" for pair in frame["props"]]

    async def read() -> None:
        while True:
            for frame in json.loads(await ws.recv()):
                if frame["t"] == "update":
                    seen.extend(pair[1]["children"] for pair in frame["props"])

    reader = asyncio.get_running_loop().create_task(read())
    await eventually(lambda: len(seen) >= 5, what="the owner's stream")
    thief = await login_app.asgi.websocket(WS, {"Origin": login_app.url, "Cookie": "login=bob"})
    await thief.send(json.dumps([{**HELLO, "session": token, "seq": 0}]))
    stolen = json.loads(await thief.recv())[0]
    assert stolen["t"] == "welcome" and not stolen["resumed"] and stolen["session"] != token
    await thief.send(json.dumps([{**HELLO, "session": token, "seq": 10**6}]))  # a wrong seq harms nobody
    status, _, _ = await post(login_app, [{"t": "cancel", "run": 1}], token, "login=bob")  # nor a POST without the key
    assert status == 404
    count = len(seen)
    await eventually(lambda: len(seen) >= count + 20, what="the owner's stream going on")
    assert seen == list(range(1, len(seen) + 1)) and not reader.done()
    reader.cancel()
    await ws.close()
    await thief.close()


async def test_a_session_is_bound_to_its_user_too(login_app):
    ws, (welcome, *_), cookie = await open_page(login_app, "login=bob")
    await ws.close()
    resume = {**HELLO, "session": welcome["session"], "seq": 0}
    for who, resumed in (("alice", False), ("bob", True)):  # same browser key, another user: not resumed
        ws = await login_app.asgi.websocket(WS, {"Origin": login_app.url, "Cookie": cookie.replace("login=bob", f"login={who}")})
        await ws.send(json.dumps([resume]))
        answer = json.loads(await ws.recv())[0]
        assert (who, answer["resumed"]) == (who, resumed)
        await ws.close()


async def test_the_event_stream_url_carries_no_token(serve, tmp_path):
    """Real hypercorn behind nginx: only a proxy's access log shows what the event stream's URL
    carries (the session's public id, never its secret)."""
    from flash_ws.client import FlashWsClient
    from tests.nginx import STOCK, Nginx

    port = free_port()
    server = serve("tests.apps.basic:server", FLASH_WS_TEST_ORIGINS=f"http://127.0.0.1:{port}")
    proxy = Nginx(server.port, STOCK, port)
    try:
        async with FlashWsClient.connect(proxy.url, transport="sse") as client:
            pairs, end = await asyncio.wait_for((await client.start("tests.apps.basic.count", [3, None])).collect(), TIMEOUT)
            await client.drop()  # the next event stream resumes: it names the session
            again, end_again = await asyncio.wait_for((await client.start("tests.apps.basic.count", [2, None])).collect(), TIMEOUT)
            token = client.session.session
        assert (end.reason, end_again.reason) == ("done", "done")
        sid, secret = token.split(".")
        lines = wait_until(lambda: [line for line in proxy.access_log().splitlines() if "/_flash_ws/sse?" in line][1:],
                           what="the resumed event stream, ended by the page's bye, in nginx's access log")
        assert f"sid={sid}&" in lines[0]
        assert all(secret not in line for line in proxy.access_log().splitlines() if "/_flash_ws/sse" in line)
    finally:
        proxy.stop()


# ----- Host, size and nesting


async def test_dns_rebinding_is_refused_with_allowed_hosts(serve_in_process):
    server = await serve_in_process("tests.apps.basic:server", FLASH_WS_TEST_HOSTS="127.0.0.1 localhost")
    evil = {"Host": "evil.example", "Origin": "http://evil.example"}
    port = server.asgi.server[1]  # evil.example resolves to this server now: the browser sends its own name as Host
    ws = await server.asgi.websocket(WS, {"Host": f"evil.example:{port}", "Origin": f"http://evil.example:{port}"})
    code, reason = await close_code(ws)
    assert code == 4003 and "allowed_hosts" in reason
    status, answer, _ = await http(server, "/_flash_ws/sse?v=1&sid=&seq=0", headers=evil)
    assert (status, answer["code"]) == (403, "origin") and "allowed_hosts" in answer["message"]
    ws, (welcome, *_), _ = await open_page(server, "")  # the app's own host still works
    assert welcome["t"] == "welcome"
    await ws.close()


async def test_deeply_nested_messages_are_refused_clearly(serve_in_process):
    server = await serve_in_process("tests.apps.basic:server")
    deep = "[" * 100_000 + "]" * 100_000
    ws = await server.asgi.websocket(WS, {"Origin": server.url})
    await ws.send(deep)
    code, reason = await close_code(ws)
    assert code == 4000 and "deeply" in reason
    ws, (welcome, *_), cookie = await open_page(server, "")
    await ws.send(json.dumps([{"t": "start", "run": 1, "cb": "tests.apps.basic.count", "args": [json.loads("[" * 34 + "1" + "]" * 34)]}]))
    error = json.loads(await ws.recv())[0]
    assert (error["t"], error["code"]) == ("error", "bad_frame") and "nest deeper than 32" in error["message"]
    await ws.send(deep)
    error = json.loads(await ws.recv())[0]
    assert (error["t"], error["code"]) == ("error", "bad_frame") and "deeply" in error["message"]
    status, answer, _ = await post(server, deep.encode(), welcome["session"], cookie)
    assert (status, answer["code"]) == (400, "bad_frame")
    await ws.close()


async def test_a_chunked_post_is_cut_at_the_size_limit(serve):
    """Real hypercorn: only a real socket shows a chunked body (no Content-Length) answered 413 at the
    limit while the client is still writing it (the in-memory client hands the app a body whole)."""
    server = serve("tests.apps.basic:server")
    ws, welcome, cookie = await open_real_page(server, "")
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write((f"POST /_flash_ws/post HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nOrigin: {server.url}\r\n"
                  f"Content-Type: application/json\r\nX-Flash-Ws-Session: {welcome['session']}\r\nCookie: {cookie}\r\n"
                  "Transfer-Encoding: chunked\r\n\r\n").encode())
    chunk = b" " * (64 << 10)
    try:
        for _ in range(40):  # 2.5 MiB, no Content-Length
            writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            await writer.drain()
    except ConnectionError:
        pass  # the server answered and closed before the end: fine
    status_line = await asyncio.wait_for(reader.readline(), TIMEOUT)
    assert status_line.split()[1] == b"413"
    writer.close()
    await ws.close()


@pytest.mark.parametrize("number", ["NaN", "-Infinity", "1e999"])
async def test_a_number_json_cannot_carry_is_refused_as_a_bad_frame_on_every_transport(serve_in_process, number):
    """Issue 24, item 5: with the app's message hook installed (tests/apps/guarded.py), NaN, Infinity
    or 1e999 in a start's args is refused when decoded, and the connection goes on."""
    server = await serve_in_process("tests.apps.guarded:server")
    ws, (welcome, *_), cookie = await open_page(server, "auth=ok")
    bad = f'[{{"t":"start","run":1,"cb":"tests.apps.guarded.hello","args":[{number}]}}]'
    await ws.send(bad)
    error = json.loads(await ws.recv())[0]
    assert (error["t"], error["code"]) == ("error", "bad_frame") and "not" in error["message"]
    await ws.send('[{"t":"start","run":2,"cb":"tests.apps.guarded.hello","args":[2]}]')
    update = json.loads(await ws.recv())[0]
    assert (update["run"], update["props"]) == (2, [["out", {"children": "hello 2"}]])  # the connection goes on
    status, answer, _ = await post(server, bad.encode(), welcome["session"], cookie)
    assert (status, answer["code"]) == (400, "bad_frame")
    await ws.close()


@pytest.mark.parametrize("host", ["evil.example@app.example.com", "evil.example\\@app.example.com",
                                  "evil.example:1@app.example.com", "app.example.com/path", "app.example.com:80 x"])
async def test_a_host_that_is_not_a_host_and_port_is_refused_on_every_transport(serve_in_process, host):
    """Issue 24, item 7: with ``allowed_hosts``, a Host carrying userinfo (or anything but host[:port])
    is refused, not read for the host name after its ``@``."""
    server = await serve_in_process("tests.apps.basic:server", FLASH_WS_TEST_HOSTS="app.example.com")
    headers = {"Host": host, "Origin": "http://app.example.com"}
    ws = await server.asgi.websocket(WS, headers)
    code, reason = await close_code(ws)
    assert code == 4003 and "is not a host[:port]" in reason
    for path in ("/_flash_ws/sse?v=1&sid=&seq=0", "/_flash_ws/post"):
        status, answer, _ = await http(server, path, b"[]" if path.endswith("post") else None, headers)
        assert (status, answer["code"]) == (400, "bad_host") and "is not a host[:port]" in answer["message"], path
    ws = await server.asgi.websocket(WS, {"Host": "app.example.com:8050", "Origin": "http://app.example.com:8050"})
    await ws.send(json.dumps([HELLO]))
    assert json.loads(await ws.recv())[0]["t"] == "welcome"  # the app's own host is served
    await ws.close()


async def test_the_event_stream_is_kept_by_no_cache(serve_in_process):
    """Issue 24, item 9: its first event carries the session token."""
    server = await serve_in_process("tests.apps.basic:server")
    async with server.asgi.stream("GET", "/_flash_ws/sse?v=1&sid=&seq=0", headers={"Origin": server.url}) as (response, _):
        assert response.status == 200
        directives = {part.strip() for part in response.headers["cache-control"].split(",")}
    assert {"no-store", "private", "no-cache", "no-transform"} <= directives


def test_the_hosts_real_deployments_send_are_well_formed():
    from flash_ws.server.origins import host_is_well_formed

    for host in ("app.example.com", "app.example.com.", "127.0.0.1:8050", "[::1]:8050", "web_1:8050", "localhost"):
        assert host_is_well_formed(host), host
    for host in ("evil@x", "a b", "x/y", "", None, "x:1@y", "x\\@y", "x:123456"):
        assert not host_is_well_formed(host), host


async def test_behind_a_proxy_that_rewrites_host_the_pages_posts_are_taken_and_a_foreign_one_is_logged(serve_in_process):
    """Issue 23, item 1: a stock nginx (a bare proxy_pass) sends the upstream's address as Host, so
    a page's POST has an Origin that is not its Host. Its SameSite=Strict browser key proves a page
    of this site sent it (and must match the session); without one it is refused, and the server
    log says once what to fix."""
    server = await serve_in_process("tests.apps.basic:server")
    ws, (welcome, *_), cookie = await open_page(server, "")
    proxied = {"Origin": "http://proxy.example:8080", "Host": "127.0.0.1:8050"}
    status, _, _ = await post(server, [{"t": "ack", "seq": 0}], welcome["session"], cookie, **proxied)
    assert status == 204
    for _ in range(2):
        status, answer, _ = await post(server, [{"t": "ack", "seq": 0}], welcome["session"], "", **proxied)
        assert (status, answer["code"]) == (403, "origin") and "proxy_set_header Host $host:$server_port" in answer["message"]
    logged = [line for line in server.output().splitlines() if "refused a post request" in line]
    assert logged == ["WARNING flash_ws: flash_ws: refused a post request from Origin 'http://proxy.example:8080' "
                      "to Host '127.0.0.1:8050': if a proxy rewrote the Host header, make it pass the browser's "
                      "(nginx: proxy_set_header Host $host:$server_port), or add the page's origin to "
                      "Flash(allowed_origins=[...])"]
    other, _, other_key = await open_page(server, "")  # another browser's key
    status, answer, _ = await post(server, [{"t": "ack", "seq": 0}], welcome["session"], other_key, **proxied)
    assert (status, answer["code"]) == (404, "unknown_session")  # a key, but not this session's
    status, answer, _ = await post(server, [{"t": "ack", "seq": 0}], welcome["session"], "flash_ws_key=" + "k" * 43, **proxied)
    assert (status, answer["code"]) == (403, "origin")  # a key the server never issued proves nothing
    await ws.close()
    await other.close()


# ----- Origin: scheme, host and port (issue 24, item 6)


def test_an_origin_is_the_requests_own_scheme_host_and_port_or_an_allowed_one():
    """The comparison as a table: the request's scheme, its Host, the Origin, allowed or not."""
    from flash_ws.server.origins import origin_refusal

    allowed = [  # (https request, Host, Origin): the page's own, or a proxy that rewrote Host to $host
        (False, "app.example.com:8050", "http://app.example.com:8050"),
        (True, "app.example.com:8443", "https://app.example.com:8443"),
        (False, "app.example.com:80", "http://app.example.com"),
        (False, "app.example.com", "http://app.example.com:8050"),  # Host $host: names compared
        (False, "app.example.com", "https://app.example.com"),  # and TLS ended in that proxy
        (True, "app.example.com", "https://app.example.com"),
        (False, "[::1]:8050", "http://[::1]:8050"),
        (False, "APP.example.com:8050", "http://app.example.com:8050"),
    ]
    for secure, host, origin in allowed:
        assert origin_refusal(origin, host, (), secure) is None, (secure, host, origin)
    refused = [
        (False, "app.example.com:8050", "https://app.example.com:8050"),
        (False, "app.example.com:8050", "ws://app.example.com:8050"),
        (False, "app.example.com:8050", "HTTP://app.example.com:8050"),
        (False, "app.example.com:8050", "http://app.example.com:8050/"),
        (False, "app.example.com:8050", "http://APP.example.com:8050"),
        (False, "app.example.com:8050", "http://user@app.example.com:8050"),
        (False, "app.example.com:8050", "null"),
        (False, "app.example.com:8050", "http://app.example.com:8051"),
        (False, "app.example.com:8050", "http://evil.example:8050"),
        (True, "app.example.com", "http://app.example.com"),  # never an http page for an https app
        (True, "app.example.com:443", "http://app.example.com:443"),
        (False, "app.example.com:443", "https://app.example.com"),  # TLS ended in front: allowed_origins says so
    ]
    for secure, host, origin in refused:
        assert origin_refusal(origin, host, (), secure) is not None, (secure, host, origin)
    behind_tls = origin_refusal("https://app.example.com", "app.example.com:443", ())
    assert behind_tls and "allowed_origins" in behind_tls.fix and "'https://app.example.com'" in behind_tls.fix
    assert "X-Forwarded-Proto" in behind_tls.fix
    for entry in ("https://app.example.com", "HTTPS://App.Example.com/", "https://app.example.com:443"):
        assert origin_refusal("https://app.example.com", "app.example.com:443", [entry]) is None, entry


async def test_an_origin_of_another_scheme_or_not_as_browsers_write_it_is_refused(serve):
    """Real hypercorn, over plain http: ``https://``, ``ws://``, an upper-case scheme and a trailing
    slash are not this page's origin, on the WebSocket and on POST; the page's own origin is."""
    server = serve("tests.apps.basic:server")
    own = f"http://127.0.0.1:{server.port}"
    for origin in (f"https://127.0.0.1:{server.port}", f"ws://127.0.0.1:{server.port}",
                   f"HTTP://127.0.0.1:{server.port}", f"{own}/"):
        async with websockets.connect(server.ws_url, origin=origin) as ws:  # type: ignore[arg-type]
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await ws.send(json.dumps([HELLO]))
                await asyncio.wait_for(ws.recv(), TIMEOUT)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4003, origin
        status, body = await asyncio.to_thread(_post_raw, server.url, origin)
        assert status == 403 and body["code"] == "origin", origin
    https = (await asyncio.to_thread(_post_raw, server.url, f"https://127.0.0.1:{server.port}"))[1]["message"]
    assert "is https but the request came to the app over http" in https and "allowed_origins" in https
    ws, welcome, _ = await open_real_page(server, "")
    assert welcome["t"] == "welcome"
    await ws.close()


def _post_raw(base_url: str, origin: str) -> tuple[int, dict]:
    """A POST of one ack from ``origin`` with no browser key: (status, JSON answer)."""
    import urllib.error
    import urllib.request

    request = urllib.request.Request(base_url + "/_flash_ws/post", data=b'[{"t":"ack","seq":0}]', method="POST",
                                     headers={"Origin": origin, "Content-Type": "application/json",
                                              "X-Flash-Ws-Session": "x.y"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            return response.status, {}
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


# ----- browser keys: only keys the server signed, __Host- on https (issue 24, item 8)


def _set_cookie(headers) -> str:
    """The browser key a response sets ("" when it sets none): ``name=value; attributes``."""
    found = [value for name, value in headers if name.lower() == "set-cookie" and "flash_ws_key" in value]
    return found[0] if found else ""


def _get(url: str, cookie: str = "", context=None) -> tuple[int, str]:
    """GET the page at ``url`` with ``cookie``: its status and the browser key it sets."""
    import urllib.request

    request = urllib.request.Request(url, headers={"Cookie": cookie} if cookie else {})
    with urllib.request.urlopen(request, timeout=TIMEOUT, context=context) as response:
        return response.status, _set_cookie(response.headers.items())


async def test_a_browser_key_the_server_never_issued_is_replaced_with_a_signed_one(serve):
    """Real hypercorn: a client-chosen ``flash_ws_key`` is not kept: the page, the WebSocket and the
    event stream answer it with a fresh signed key; a key the server issued is kept; a forged key is
    no proof for a POST whose Origin is not its Host."""
    server = serve("tests.apps.basic:server")
    chosen = "flash_ws_key=" + "k" * 43
    status, fresh = await asyncio.to_thread(_get, server.url + "/", chosen)
    assert status == 200 and fresh.startswith("flash_ws_key=") and fresh.split(";")[0] != chosen
    assert {part.strip() for part in fresh.split(";")[1:]} == {"Path=/", "HttpOnly", "SameSite=Strict"}
    issued = fresh.split(";")[0]
    assert (await asyncio.to_thread(_get, server.url + "/", issued))[1] == ""  # an issued key is kept
    async with websockets.connect(server.ws_url, origin=server.url, additional_headers={"Cookie": chosen}) as ws:
        replaced = _set_cookie(ws.response.headers.raw_items())
    assert replaced.startswith("flash_ws_key=") and replaced.split(";")[0] not in (chosen, issued)
    ws, welcome, cookie = await open_real_page(server, issued)
    assert cookie == issued
    proxied = {"Origin": "http://proxy.example:8080", "Host": f"127.0.0.1:{server.port}"}
    forged = await asyncio.to_thread(_post_as, server.url, welcome["session"], chosen, proxied)
    assert forged[0] == 403 and forged[1]["code"] == "origin"
    assert (await asyncio.to_thread(_post_as, server.url, welcome["session"], issued, proxied))[0] == 204
    await ws.close()


def _post_as(base_url: str, token: str, cookie: str, headers: dict[str, str]) -> tuple[int, dict]:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(base_url + "/_flash_ws/post", data=b'[{"t":"ack","seq":0}]', method="POST",
                                     headers={"Content-Type": "application/json", "X-Flash-Ws-Session": token,
                                              "Cookie": cookie, **headers})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            return response.status, {}
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


async def test_on_https_the_browser_key_is_a_host_prefixed_secure_cookie(serve, tmp_path):
    """Real hypercorn serving TLS: the key cookie is ``__Host-flash_ws_key`` (Secure, Path=/, no
    Domain), so neither a sibling subdomain nor an http page can plant one; a plain ``flash_ws_key``
    (from http) or a forged ``__Host-`` one is replaced, an issued one kept, over wss too."""
    import ssl
    import subprocess

    from tests.conftest import LiveServer

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE

    class TlsServer(LiveServer):
        def _ready(self) -> bool:
            self.url, self.ws_url = f"https://127.0.0.1:{self.port}", f"wss://127.0.0.1:{self.port}/_flash_ws/ws"
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.output()[-2000:]}")
            try:
                return _get(self.url + "/_dash-layout", context=context)[0] == 200
            except OSError:
                return False

    server = TlsServer("tests.apps.basic:server", {}, ("--certfile", str(cert), "--keyfile", str(key)))
    try:
        _, fresh = await asyncio.to_thread(_get, server.url + "/", "", context)
        name, _, value = fresh.split(";")[0].partition("=")
        assert name == "__Host-flash_ws_key" and "." in value
        assert {part.strip() for part in fresh.split(";")[1:]} == {"Path=/", "Secure", "HttpOnly", "SameSite=Strict"}
        issued = fresh.split(";")[0]
        assert (await asyncio.to_thread(_get, server.url + "/", issued, context))[1] == ""
        for planted in (f"flash_ws_key={value}", "__Host-flash_ws_key=" + "k" * 43):
            assert (await asyncio.to_thread(_get, server.url + "/", planted, context))[1].startswith("__Host-flash_ws_key=")
        async with websockets.connect(server.ws_url, origin=server.url, ssl=context,
                                      additional_headers={"Cookie": issued}) as ws:
            assert _set_cookie(ws.response.headers.raw_items()) == ""
            await ws.send(json.dumps([HELLO]))
            assert json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))[0]["t"] == "welcome"
    finally:
        server.stop()


async def test_workers_sharing_a_redis_sign_browser_keys_with_one_secret(redis_server, monkeypatch):
    """Real redis-server: without ``$FLASH_WS_SECRET`` the first worker puts its secret and the
    others take it, so a key one worker issued is kept by every other; with it, it is used as given."""
    from flash_ws.callbacks import EventCallbackRegistry
    from flash_ws.protocol.tokens import browser_key_issued, new_browser_key
    from flash_ws.server.service import FlashWsService
    from flash_ws.server.settings import Settings

    monkeypatch.delenv("FLASH_WS_SECRET", raising=False)
    workers = [FlashWsService(EventCallbackRegistry(), Settings(redis_url=redis_server.url)) for _ in range(3)]
    try:
        assert len({worker.key_secret for worker in workers}) == 3  # each its own until they start
        for worker in workers:
            await worker.share_key_secret()
        assert len({worker.key_secret for worker in workers}) == 1
        assert browser_key_issued(new_browser_key(workers[0].key_secret), workers[2].key_secret)
    finally:
        for worker in workers:
            await worker.store.redis.aclose()  # type: ignore[attr-defined]
    monkeypatch.setenv("FLASH_WS_SECRET", "s" * 32)
    assert FlashWsService(EventCallbackRegistry(), Settings()).key_secret == b"s" * 32
    monkeypatch.setenv("FLASH_WS_SECRET", "short")
    with pytest.raises(ValueError, match="FLASH_WS_SECRET must be at least 16 characters"):
        Settings()
