"""Links of the Python reference client: a WebSocket, or an SSE stream plus POSTs.

A link is made with where to connect, then ``open(hello)`` connects and says hello; after that it
carries whole messages: ``send(text)``, ``recv() -> text``, ``close()``. It raises ``LinkClosed``
when the connection is gone, with what the client does about it (the close-code table,
flash_ws/protocol/close_codes.py). Links of one client share its ``CookieJar``, as the requests of
one browser do. The SSE link's HTTP is httpx's (keep-alive, streamed responses, timeouts).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from http.cookiejar import CookieJar as BlockingJar
from http.cookiejar import DefaultCookiePolicy
from http.cookies import CookieError, SimpleCookie
from typing import Protocol
from urllib.parse import urlencode

import httpx
import websockets

from .protocol import encode_message
from .protocol.close_codes import CloseAction, CloseCode, http_action, websocket_action
from .protocol.errors import FlashWsError
from .protocol.frames import Hello

OPEN_TIMEOUT = 10.0  # seconds to connect, or to have a request answered
# After a POST failed (no answer, or one meaning "resume"), how many seconds the event stream is
# still read before the link closes to resume, if the stream has not ended by then: the stream may
# be healthy and the POST's failure a blip, and the client has no uplink meanwhile
# (tests/vectors/close_codes.json, uplink_lost_wait_s; UPLINK_LOST_WAIT_MS in sse_transport.js).
UPLINK_LOST_WAIT = 5.0


class LinkClosed(FlashWsError, ConnectionError):
    """The connection under a link is gone; ``action`` says what the client does next: resume
    (the default), resume_now, replaced (resume, quietly) or give_up."""

    def __init__(self, message: str, action: CloseAction = CloseAction.RESUME) -> None:
        super().__init__(message)
        self.action = action


class CookieJar:
    """The cookies of one client (the server's ``flash_ws_key``), kept from every response and
    sent with every later handshake, event stream and POST, as one browser does."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    def keep(self, set_cookie_headers: Iterable[str]) -> None:
        for header in set_cookie_headers:
            cookie = SimpleCookie()
            try:
                cookie.load(header)
            except CookieError:
                continue  # not ours to judge: a browser ignores it too
            for name, morsel in cookie.items():
                if morsel.value and morsel["max-age"] not in ("0", 0):
                    self.values[name] = morsel.value
                else:
                    self.values.pop(name, None)

    def headers(self) -> dict[str, str]:
        """A ``Cookie`` header with every cookie kept, or none."""
        if not self.values:
            return {}
        return {"Cookie": "; ".join(f"{name}={value}" for name, value in self.values.items())}


class PostRefused(FlashWsError, ValueError):
    """The server answered a POST with a 4xx: ``code`` and ``message`` say why."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"POST refused with {status} {code}: {message}")
        self.status, self.code, self.message = status, code, message


class Link(Protocol):
    """One connection of a client: ``open`` it with the hello, then send and receive messages."""

    async def open(self, hello: Hello) -> None: ...

    async def send(self, text: str) -> None: ...

    async def recv(self) -> str: ...

    async def close(self) -> None: ...


def _closed_by(exc: websockets.ConnectionClosed) -> LinkClosed:
    """What a closed WebSocket means for the client: the action of the code the server sent
    (none received: 1006, the connection was cut)."""
    code = exc.rcvd.code if exc.rcvd is not None else CloseCode.ABNORMAL
    return LinkClosed(str(exc), websocket_action(code))


class LinkFactory(Protocol):
    """A link class: where to connect, with which headers and cookies."""

    def __call__(self, base_url: str, origin: str, headers: dict[str, str] | None = None,
                 cookies: CookieJar | None = None) -> Link: ...


class WebSocketLink:
    """Both directions over one WebSocket (``<base_url>ws``)."""

    def __init__(self, base_url: str, origin: str, headers: dict[str, str] | None = None,
                 cookies: CookieJar | None = None) -> None:
        self.url = "ws" + base_url[len("http"):] + "ws"
        self.origin = origin
        self.headers = headers or {}
        self.cookies = cookies or CookieJar()
        self._ws: websockets.ClientConnection | None = None

    @property
    def ws(self) -> websockets.ClientConnection:
        """The open connection."""
        if self._ws is None:
            raise LinkClosed(f"websocket to {self.url} is not open")
        return self._ws

    async def open(self, hello: Hello) -> None:
        """Connect, keeping the handshake's cookies, and say hello."""
        try:
            ws = await websockets.connect(self.url, origin=self.origin, max_size=None,  # type: ignore[arg-type]
                                          additional_headers={**self.headers, **self.cookies.headers()},
                                          ping_interval=None, open_timeout=OPEN_TIMEOUT)
        except websockets.InvalidStatus as exc:
            self.cookies.keep(exc.response.headers.get_all("Set-Cookie"))
            # a handshake answered with a status is refused as an event stream is ("sse" rows)
            action = http_action("sse", exc.response.status_code, None)
            raise LinkClosed(f"websocket to {self.url} refused: {exc}", action) from exc
        except (TimeoutError, OSError, websockets.InvalidHandshake) as exc:
            raise LinkClosed(f"websocket to {self.url} failed: {exc}") from exc
        if ws.response is not None:
            self.cookies.keep(ws.response.headers.get_all("Set-Cookie"))
        self._ws = ws
        await self.send(encode_message([hello]))

    async def send(self, text: str) -> None:
        try:
            await self.ws.send(text)
        except websockets.ConnectionClosed as exc:
            raise _closed_by(exc) from exc

    async def recv(self) -> str:
        try:
            message = await self.ws.recv()
        except websockets.ConnectionClosed as exc:
            raise _closed_by(exc) from exc
        return message if isinstance(message, str) else message.decode()

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()


def _http_client() -> httpx.AsyncClient:
    """The HTTP client of one SSE link: HTTP/1.1 kept alive, no proxy from the environment, and
    no cookies of its own (the link sends its ``CookieJar``'s, as before)."""
    return httpx.AsyncClient(timeout=OPEN_TIMEOUT, trust_env=False,
                             cookies=BlockingJar(DefaultCookiePolicy(allowed_domains=[])))


class SseLink:
    """Server → client over one EventSource-like GET (``<base_url>sse?v=&sid=&seq=``); client →
    server by POST (``<base_url>post``), one at a time, in order, on a connection kept alive.
    ``uplink_lost_wait``: after a POST failed, how long the event stream is still read before the
    link closes to resume (``UPLINK_LOST_WAIT``)."""

    def __init__(self, base_url: str, origin: str, headers: dict[str, str] | None = None,
                 cookies: CookieJar | None = None, uplink_lost_wait: float = UPLINK_LOST_WAIT) -> None:
        self.base_url = base_url
        self.origin = origin
        self.headers = headers or {}
        self.cookies = cookies or CookieJar()
        self.session: str | None = None  # the token of the welcome: every POST names it
        self._http: httpx.AsyncClient | None = None
        self._messages: asyncio.Queue[str | LinkClosed] = asyncio.Queue()
        self._reader: asyncio.Task[None] | None = None
        self._outbox: list[str] = []  # messages to POST, in order, one request at a time
        self._sender: asyncio.Task[None] | None = None
        self.refused: list[PostRefused] = []
        # Why this connection's POSTs stopped (a POST that got no answer, or one answered "resume"):
        # nothing more is posted on it, and its event stream is read until it ends or
        # uplink_lost_wait seconds pass.
        self.uplink_lost: LinkClosed | None = None
        self.uplink_lost_wait = uplink_lost_wait
        self._uplink_lost_timer: asyncio.TimerHandle | None = None

    async def open(self, hello: Hello) -> None:
        """Open the event stream: the hello is its query string (only the public part of the
        session id goes in a URL; the cookie proves the rest)."""
        sid = (hello.session or "").split(".", 1)[0]
        query = urlencode({"v": hello.v, "sid": sid, "seq": hello.seq})
        self._http = http = self.http_client()
        request = http.build_request("GET", f"{self.base_url}sse?{query}", timeout=httpx.Timeout(OPEN_TIMEOUT, read=None),
                                     headers=self._headers({"Accept": "text/event-stream"}))
        try:
            response = await http.send(request, stream=True)
        except httpx.TransportError as exc:
            raise LinkClosed(f"event stream {request.url} failed: {exc!r}") from exc
        self.cookies.keep(response.headers.get_list("set-cookie"))
        if response.status_code != 200:
            code, message = _refusal(await _body(response))
            raise LinkClosed(f"event stream refused with {response.status_code} ({code}): {message}",
                             http_action("sse", response.status_code, code))
        self._reader = asyncio.get_running_loop().create_task(self._read(response))

    def http_client(self) -> httpx.AsyncClient:
        """The HTTP client of this link's event stream and POSTs (a subclass may route it elsewhere)."""
        return _http_client()

    def _headers(self, extra: dict[str, str]) -> dict[str, str]:
        return {**self.headers, "Origin": self.origin, **extra, **self.cookies.headers()}

    async def send(self, text: str) -> None:
        """Queue a message; the POSTs go out in order in the background, so reading never waits
        for them (as in the browser). Once a POST failed (``uplink_lost``) the message is dropped:
        the resume sends again whatever the server missed (the bye goes by ``send_last``)."""
        if self.uplink_lost is not None:
            return
        self._outbox.append(text)
        self._start_sender()

    def _start_sender(self) -> None:
        if self.session is not None and self._outbox and (self._sender is None or self._sender.done()):
            self._sender = asyncio.get_running_loop().create_task(self._send_outbox())

    async def _send_outbox(self) -> None:
        while self._outbox:
            text = _take_body(self._outbox)
            try:
                await self._post_once(text)
            except PostRefused as exc:
                self.refused.append(exc)
            except LinkClosed as exc:
                if exc.action is CloseAction.GIVE_UP:
                    self._messages.put_nowait(exc)  # the reader sees the link closed, and gives up
                    return
                # The POST got no answer, or one that means "resume" (a draining server that no
                # longer listens, a proxy's 502): the uplink of this connection is over, not its
                # event stream, which may still carry frames (the ends of a draining server's runs).
                # Nothing more is posted on it (a later POST could overtake the lost one); the
                # stream is read until it ends, then the client resumes and sends again what the
                # server missed (docs/protocol.md, "SSE + POST"). The stream may be healthy and the
                # failure a blip, and the client cannot start or cancel anything meanwhile: unless
                # it ends first, the link closes after uplink_lost_wait seconds, to resume.
                self.uplink_lost = exc
                self._outbox.clear()
                self._uplink_lost_timer = asyncio.get_running_loop().call_later(self.uplink_lost_wait, self._uplink_wait_over)
                return

    def _uplink_wait_over(self) -> None:
        """The event stream outlived ``uplink_lost_wait`` after a POST failed: the reader sees the
        link closed, and resumes."""
        assert self.uplink_lost is not None
        self._messages.put_nowait(LinkClosed(f"{self.uplink_lost}; the event stream was still open after "
                                             f"{self.uplink_lost_wait} s", self.uplink_lost.action))

    async def flush(self) -> None:
        """Wait until every queued message was posted; raise the first refusal since the last flush."""
        while self._sender is not None and not self._sender.done():
            await asyncio.wait({self._sender})  # a sender cancelled by close() ends the wait, raising nothing
        if self.refused:
            refused, self.refused = self.refused[0], []
            raise refused

    async def send_last(self, text: str, timeout: float) -> None:
        """The page's last message (its bye), best effort: once the queued messages were posted
        (waited for at most ``timeout`` seconds), one POST of its own, bounded by ``timeout``, with
        whatever a POST still out kept queued. It goes even after a POST failed (``uplink_lost``:
        ``send`` drops every other message), as the browser's last write does (sse_transport.js),
        so that the server ends the session at once rather than after its resume grace; it never
        enters the outbox, so the sender cannot post it again. Raise ``PostRefused`` or
        ``LinkClosed`` if it was refused or failed, ``TimeoutError`` if it had no answer in time."""
        if self.session is None:
            return  # no welcome yet: no session to name
        try:
            await asyncio.wait_for(self.flush(), timeout)
        except (TimeoutError, PostRefused):
            pass
        queued, self._outbox = [*self._outbox, text], []  # taken before any await: the sender posts none of them
        await asyncio.wait_for(self._post_all(queued), timeout)

    async def _post_all(self, queued: list[str]) -> None:
        while queued:  # one POST, unless a message that is not a JSON array is among them
            await self._post_once(_take_body(queued))

    async def _post_once(self, text: str) -> None:
        headers = self._headers({"Content-Type": "application/json", "X-Flash-Ws-Session": self.session or ""})
        for attempt in range(2):
            # before each attempt: the link may close while one is out (the stream ended, or drop())
            if self._http is None or self._http.is_closed:
                raise LinkClosed("the link is closed: nothing can be posted")
            try:
                response = await self._http.post(f"{self.base_url}post", content=text.encode(), headers=headers)
                break
            except (httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError) as exc:
                if attempt:  # once more, on a new connection: the kept one may have been closed meanwhile
                    raise LinkClosed(f"POST failed: {exc!r}") from exc
            except httpx.TransportError as exc:
                raise LinkClosed(f"POST failed: {exc!r}") from exc
        self.cookies.keep(response.headers.get_list("set-cookie"))
        code, message = _refusal(response.content)
        action = http_action("post", response.status_code, code)
        if action is CloseAction.ACCEPTED:
            return
        if action is CloseAction.REFUSED:
            raise PostRefused(response.status_code, code or "?", message)
        raise LinkClosed(f"POST answered {response.status_code} ({code}): {message}", action)

    async def _read(self, response: httpx.Response) -> None:
        buffer = b""
        try:
            async for chunk in response.aiter_raw():
                *events, buffer = (buffer + chunk).split(b"\n\n")  # the last part is incomplete
                for event in events:
                    data = [line[5:].lstrip() for line in event.split(b"\n") if line.startswith(b"data:")]
                    if data:
                        self._messages.put_nowait(b"\n".join(data).decode())
        except (httpx.TransportError, httpx.StreamError):
            pass
        finally:
            ended = "event stream ended" if self.uplink_lost is None else f"event stream ended after {self.uplink_lost}"
            self._messages.put_nowait(LinkClosed(ended))  # recv() raises it from here on

    async def recv(self) -> str:
        message = await self._messages.get()
        if isinstance(message, LinkClosed):
            raise message
        if self.session is None:  # the first message of a stream is its welcome
            self.session = json.loads(message)[0].get("session")
            self._start_sender()
        return message

    async def close(self) -> None:
        if self._uplink_lost_timer is not None:
            self._uplink_lost_timer.cancel()
        for task in (self._reader, self._sender):
            if task is not None:
                task.cancel()
        if self._http is not None:
            await self._http.aclose()  # the event stream's connection too


def _take_body(outbox: list[str]) -> str:
    """The next POST's body: the queued messages as one, their frames in order (as the browser's
    concatMessages does: what gathered while a POST was out goes in one request); a message
    that is not a JSON array goes alone, as it is."""
    first = outbox.pop(0)
    frames = [first[1:-1]]
    while _is_array(first) and outbox and _is_array(outbox[0]):
        frames.append(outbox.pop(0)[1:-1])
    if len(frames) == 1:
        return first
    return "[" + ",".join(part for part in frames if part.strip()) + "]"


def _is_array(message: str) -> bool:
    return message.startswith("[") and message.endswith("]")


async def _body(response: httpx.Response) -> bytes:
    """The body of a refused event stream (none when it does not come within the timeout)."""
    try:
        return await asyncio.wait_for(response.aread(), OPEN_TIMEOUT)
    except (TimeoutError, httpx.TransportError):
        return b""


def _refusal(body: bytes) -> tuple[str | None, str]:
    """The ``code`` and ``message`` of a refusal's JSON body (code None when it has none: a proxy's page)."""
    try:
        answer = json.loads(body)
    except ValueError:
        answer = None
    if isinstance(answer, dict) and isinstance(answer.get("code"), str):
        return answer["code"], str(answer.get("message", ""))
    return None, body.decode(errors="replace")[:200]
