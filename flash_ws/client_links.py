"""Links of the Python reference client: a WebSocket, or an SSE stream plus POSTs.

A link carries whole messages: ``send(text)``, ``recv() -> text``, ``close()``; it raises
``LinkClosed`` when the connection is gone, with what the client does about it (the close-code
table, flash_ws/protocol/close_codes.py). Links of one client share its ``CookieJar``, as the
requests of one browser do. The SSE link speaks just enough HTTP/1.1 over asyncio streams (chunked
responses, one POST connection kept alive) to need no extra dependency.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from http.cookies import CookieError, SimpleCookie
from typing import Protocol
from urllib.parse import urlencode, urlsplit

import websockets

from .protocol.close_codes import CloseAction, CloseCode, http_action, websocket_action
from .protocol.errors import FlashWsError


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
    async def send(self, text: str) -> None: ...

    async def recv(self) -> str: ...

    async def close(self) -> None: ...


def _closed_by(exc: websockets.ConnectionClosed) -> LinkClosed:
    """What a closed WebSocket means for the client: the action of the code the server sent
    (none received: 1006, the connection was cut)."""
    code = exc.rcvd.code if exc.rcvd is not None else CloseCode.ABNORMAL
    return LinkClosed(str(exc), websocket_action(code))


class WebSocketLink:
    def __init__(self, ws: websockets.ClientConnection) -> None:
        self.ws = ws

    @classmethod
    async def open(cls, base_url: str, origin: str, headers: dict[str, str] | None = None,
                   cookies: CookieJar | None = None) -> WebSocketLink:
        url = "ws" + base_url[len("http"):] + "ws"
        cookies = cookies or CookieJar()
        try:
            ws = await websockets.connect(url, origin=origin, max_size=None,  # type: ignore[arg-type]
                                          additional_headers={**(headers or {}), **cookies.headers()},
                                          ping_interval=None, open_timeout=10)
        except websockets.InvalidStatus as exc:
            cookies.keep(exc.response.headers.get_all("Set-Cookie"))
            # a handshake answered with a status is refused as an event stream is ("sse" rows)
            action = http_action("sse", exc.response.status_code, None)
            raise LinkClosed(f"websocket to {url} refused: {exc}", action) from exc
        except (TimeoutError, OSError, websockets.InvalidHandshake) as exc:
            raise LinkClosed(f"websocket to {url} failed: {exc}") from exc
        if ws.response is not None:
            cookies.keep(ws.response.headers.get_all("Set-Cookie"))
        return cls(ws)

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
        await self.ws.close()


class _Http:
    """One HTTP/1.1 connection: request, then read the head and the (chunked) body. Requests
    carry the cookies of ``cookies``; the cookies of every response are kept there."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, cookies: CookieJar) -> None:
        self.reader, self.writer, self.cookies = reader, writer, cookies

    @classmethod
    async def connect(cls, host: str, port: int, cookies: CookieJar) -> _Http:
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 10)
        except (TimeoutError, OSError) as exc:
            raise LinkClosed(f"connection to {host}:{port} failed: {exc}") from exc
        return cls(reader, writer, cookies)

    async def request(self, method: str, target: str, headers: dict[str, str], body: bytes = b"") -> tuple[int, dict[str, str]]:
        headers = {**headers, **self.cookies.headers()}
        lines = [f"{method} {target} HTTP/1.1"] + [f"{k}: {v}" for k, v in headers.items()]
        if body or method == "POST":
            lines.append(f"Content-Length: {len(body)}")
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        try:
            await self.writer.drain()
            status_line = await self.reader.readline()
            if not status_line:
                raise LinkClosed("connection closed before a response")
            status = int(status_line.split()[1])
            head: dict[str, str] = {}
            set_cookies: list[str] = []
            while (line := await self.reader.readline()) not in (b"\r\n", b"\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                head[name.strip().lower()] = value.strip()
                if name.strip().lower() == "set-cookie":
                    set_cookies.append(value.strip())
        except (OSError, ValueError, IndexError) as exc:
            raise LinkClosed(f"bad HTTP response: {exc}") from exc
        self.cookies.keep(set_cookies)
        return status, head

    async def body_chunks(self, head: dict[str, str]):
        """Yield the body as it arrives (chunked, or by Content-Length, or until close)."""
        try:
            if head.get("transfer-encoding", "").lower() == "chunked":
                while True:
                    size = int((await self.reader.readline()).split(b";")[0], 16)
                    if size == 0:
                        await self.reader.readline()
                        return
                    chunk = await self.reader.readexactly(size)
                    await self.reader.readline()
                    yield chunk
            elif "content-length" in head:
                yield await self.reader.readexactly(int(head["content-length"]))
            else:
                while chunk := await self.reader.read(65536):
                    yield chunk
        except (OSError, ValueError, asyncio.IncompleteReadError) as exc:
            raise LinkClosed(f"connection lost: {exc}") from exc

    def close(self) -> None:
        self.writer.close()


class SseLink:
    """Server → client over one EventSource-like GET; client → server by POST."""

    def __init__(self, base_url: str, origin: str, headers: dict[str, str], cookies: CookieJar) -> None:
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.path = parts.path
        self.origin = origin
        self.headers = {"Host": f"{self.host}:{self.port}", **headers}
        self.cookies = cookies
        self.session: str | None = None
        self._stream: _Http | None = None
        self._post: _Http | None = None
        self._messages: asyncio.Queue[str | LinkClosed] = asyncio.Queue()
        self._reader: asyncio.Task[None] | None = None
        self._outbox: list[str] = []  # messages to POST, in order, one request at a time
        self._sender: asyncio.Task[None] | None = None
        self.refused: list[PostRefused] = []

    @classmethod
    async def open(cls, base_url: str, origin: str, headers: dict[str, str] | None = None,
                   cookies: CookieJar | None = None) -> SseLink:
        return cls(base_url, origin, headers or {}, cookies or CookieJar())

    async def send(self, text: str) -> None:
        """Queue a message; the POSTs go out in order in the background, so reading never waits
        for them (as in the browser)."""
        try:
            frames = json.loads(text)
        except ValueError:
            frames = None  # not ours to judge: the server answers it
        if isinstance(frames, list) and frames and isinstance(frames[0], dict) and frames[0].get("t") == "hello":
            await self._open_stream(frames[0])
            if len(frames) > 1:
                self._outbox.append(json.dumps(frames[1:]))
            return
        self._outbox.append(text)
        self._start_sender()

    def _start_sender(self) -> None:
        if self.session is not None and self._outbox and (self._sender is None or self._sender.done()):
            self._sender = asyncio.get_running_loop().create_task(self._send_outbox())

    async def _send_outbox(self) -> None:
        while self._outbox:
            text = self._outbox.pop(0)
            try:
                await self._post_once(text)
            except PostRefused as exc:
                self.refused.append(exc)
            except LinkClosed as exc:
                self._messages.put_nowait(exc)  # the reader sees the link closed, and what to do about it
                return

    async def flush(self) -> None:
        """Wait until every queued message was posted; raise the first refusal since the last flush."""
        while self._sender is not None and not self._sender.done():
            await self._sender
        if self.refused:
            refused, self.refused = self.refused[0], []
            raise refused

    async def _post_once(self, text: str) -> None:
        for attempt in range(2):
            if self._post is None:
                self._post = await _Http.connect(self.host, self.port, self.cookies)
            try:
                status, head = await self._post.request("POST", self.path + "post", {
                    **self.headers, "Origin": self.origin, "Content-Type": "application/json",
                    "X-Flash-Ws-Session": self.session or ""}, text.encode())
                body = b"".join([c async for c in self._post.body_chunks(head)]) if status != 204 else b""
            except LinkClosed:
                self._post.close()
                self._post = None
                if attempt:
                    raise
                continue
            code, message = _refusal(body)
            action = http_action("post", status, code)
            if action is CloseAction.ACCEPTED:
                return
            if action is CloseAction.REFUSED:
                raise PostRefused(status, code or "?", message)
            raise LinkClosed(f"POST answered {status} ({code}): {message}", action)

    async def _open_stream(self, hello: dict) -> None:
        sid = (hello.get("session") or "").split(".", 1)[0]  # only the public id goes in a URL
        query = urlencode({"v": hello.get("v", 1), "sid": sid, "seq": hello.get("seq", 0)})
        self._stream = await _Http.connect(self.host, self.port, self.cookies)
        status, head = await self._stream.request("GET", f"{self.path}sse?{query}", {
            **self.headers, "Origin": self.origin, "Accept": "text/event-stream"})
        if status != 200:
            body = b"".join([chunk async for chunk in self._stream.body_chunks(head)]) if "content-length" in head else b""
            code, message = _refusal(body)
            raise LinkClosed(f"event stream refused with {status} ({code}): {message}", http_action("sse", status, code))
        self._reader = asyncio.get_running_loop().create_task(self._read(head))

    async def _read(self, head: dict[str, str]) -> None:
        assert self._stream is not None
        buffer = b""
        try:
            async for chunk in self._stream.body_chunks(head):
                *events, buffer = (buffer + chunk).split(b"\n\n")  # the last part is incomplete
                for event in events:
                    data = [line[5:].lstrip() for line in event.split(b"\n") if line.startswith(b"data:")]
                    if data:
                        self._messages.put_nowait(b"\n".join(data).decode())
        except LinkClosed:
            pass
        finally:
            self._messages.put_nowait(LinkClosed("event stream ended"))  # recv() raises it from here on

    async def recv(self) -> str:
        message = await self._messages.get()
        if isinstance(message, LinkClosed):
            raise message
        if self.session is None:
            self.session = json.loads(message)[0].get("session")
            self._start_sender()
        return message

    async def close(self) -> None:
        for task in (self._reader, self._sender):
            if task is not None:
                task.cancel()
        for http in (self._stream, self._post):
            if http is not None:
                http.close()


def _refusal(body: bytes) -> tuple[str | None, str]:
    """The ``code`` and ``message`` of a refusal's JSON body (code None when it has none: a proxy's page)."""
    try:
        answer = json.loads(body)
    except ValueError:
        answer = None
    if isinstance(answer, dict) and isinstance(answer.get("code"), str):
        return answer["code"], str(answer.get("message", ""))
    return None, body.decode(errors="replace")[:200]
