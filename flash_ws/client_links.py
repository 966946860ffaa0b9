"""Links of the Python reference client: a WebSocket, or an SSE stream plus POSTs.

A link carries whole messages: ``send(text)``, ``recv() -> text``, ``close()``; it raises
``LinkClosed`` when the connection is gone. The SSE link speaks just enough HTTP/1.1 over asyncio
streams (chunked responses, one POST connection kept alive) to need no extra dependency.
"""

from __future__ import annotations

import asyncio
import json
from typing import Protocol
from urllib.parse import urlencode, urlsplit

import websockets


class LinkClosed(ConnectionError):
    """The connection under a link is gone."""


class PostRefused(ValueError):
    """The server answered a POST with a 4xx: ``code`` and ``message`` say why."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"POST refused with {status} {code}: {message}")
        self.status, self.code, self.message = status, code, message


class Link(Protocol):
    async def send(self, text: str) -> None: ...

    async def recv(self) -> str: ...

    async def close(self) -> None: ...


class WebSocketLink:
    def __init__(self, ws: websockets.ClientConnection) -> None:
        self.ws = ws

    @classmethod
    async def open(cls, base_url: str, origin: str, headers: dict[str, str] | None = None) -> WebSocketLink:
        url = "ws" + base_url[len("http"):] + "ws"
        try:
            ws = await websockets.connect(url, origin=origin, max_size=None, additional_headers=headers,  # type: ignore[arg-type]
                                          ping_interval=None, open_timeout=10)
        except (TimeoutError, OSError, websockets.InvalidHandshake) as exc:
            raise LinkClosed(f"websocket to {url} failed: {exc}") from exc
        return cls(ws)

    async def send(self, text: str) -> None:
        try:
            await self.ws.send(text)
        except websockets.ConnectionClosed as exc:
            raise LinkClosed(str(exc)) from exc

    async def recv(self) -> str:
        try:
            message = await self.ws.recv()
        except websockets.ConnectionClosed as exc:
            raise LinkClosed(str(exc)) from exc
        return message if isinstance(message, str) else message.decode()

    async def close(self) -> None:
        await self.ws.close()


class _Http:
    """One HTTP/1.1 connection: request, then read the head and the (chunked) body."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(cls, host: str, port: int) -> _Http:
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 10)
        except (TimeoutError, OSError) as exc:
            raise LinkClosed(f"connection to {host}:{port} failed: {exc}") from exc
        return cls(reader, writer)

    async def request(self, method: str, target: str, headers: dict[str, str], body: bytes = b"") -> tuple[int, dict[str, str]]:
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
            while (line := await self.reader.readline()) not in (b"\r\n", b"\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                head[name.strip().lower()] = value.strip()
        except (OSError, ValueError, IndexError) as exc:
            raise LinkClosed(f"bad HTTP response: {exc}") from exc
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

    def __init__(self, base_url: str, origin: str, headers: dict[str, str]) -> None:
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.path = parts.path
        self.origin = origin
        self.headers = {"Host": f"{self.host}:{self.port}", **headers}
        self.session: str | None = None
        self._stream: _Http | None = None
        self._post: _Http | None = None
        self._messages: asyncio.Queue[str | None] = asyncio.Queue()
        self._reader: asyncio.Task[None] | None = None
        self._outbox: list[str] = []  # messages to POST, in order, one request at a time
        self._sender: asyncio.Task[None] | None = None
        self.refused: list[PostRefused] = []

    @classmethod
    async def open(cls, base_url: str, origin: str, headers: dict[str, str] | None = None) -> SseLink:
        return cls(base_url, origin, headers or {})

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
            except LinkClosed:
                self._messages.put_nowait(None)  # the reader sees the link closed: reconnect and resume
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
                self._post = await _Http.connect(self.host, self.port)
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
            if status == 404:
                raise LinkClosed(f"session gone: {body.decode(errors='replace')}")
            if status >= 400:
                try:
                    reason = json.loads(body)
                except ValueError:
                    reason = {}
                raise PostRefused(status, reason.get("code", "?"), reason.get("message", body.decode(errors="replace")))
            return

    async def _open_stream(self, hello: dict) -> None:
        sid = (hello.get("session") or "").split(".", 1)[0]  # only the public id goes in a URL
        query = urlencode({"v": hello.get("v", 1), "sid": sid, "seq": hello.get("seq", 0)})
        self._stream = await _Http.connect(self.host, self.port)
        status, head = await self._stream.request("GET", f"{self.path}sse?{query}", {
            **self.headers, "Origin": self.origin, "Accept": "text/event-stream"})
        if status != 200:
            raise LinkClosed(f"event stream refused with {status}")
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
            self._messages.put_nowait(None)  # recv() raises LinkClosed from here on

    async def recv(self) -> str:
        message = await self._messages.get()
        if message is None:
            raise LinkClosed("event stream ended")
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
