"""A minimal HTTP/1.1 client over asyncio streams, for load processes that must be cheap per request.

One ``Connection`` is one keep-alive TCP connection with one request at a time: ``request`` sends
a request and reads the status line and headers; then either ``body`` reads the whole body or
``chunks`` yields it as it arrives (a streamed NDJSON response). Bodies are ``Content-Length`` or
``chunked``; nothing else is needed against hypercorn or nginx.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator


class HttpError(Exception):
    """The server's answer was not what was expected (status, framing), or the connection ended."""


class Connection:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.headers: dict[str, str] = {}

    async def request(self, method: str, target: str, body: bytes = b"") -> int:
        """Send one request (opening the connection when needed); the status, with ``headers`` set.
        A kept-alive connection the server closed meanwhile is reopened and the request sent again."""
        reused = self.writer is not None and not self.writer.is_closing()
        if not reused:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port, limit=1 << 22)
        assert self.reader is not None and self.writer is not None
        head = (f"{method} {target} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n")
        self.writer.write(head.encode() + body)
        try:
            line = await self.reader.readline()
        except ConnectionError:
            line = b""
        if not line:
            self.close()
            if reused:
                return await self.request(method, target, body)
            raise HttpError(f"{method} {target}: the connection closed before a status line")
        parts = line.split(None, 2)
        if len(parts) < 2 or not parts[1].isdigit():
            raise HttpError(f"{method} {target}: expected a status line, got {line[:80]!r}")
        headers = {}
        while (line := await self.reader.readline()) not in (b"\r\n", b"\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        self.headers = headers
        return int(parts[1])

    async def body(self) -> bytes:
        """The whole body of the response whose head ``request`` read."""
        return b"".join([chunk async for chunk in self.chunks()])

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives: each chunk of a chunked body, or a ``Content-Length`` body at once."""
        assert self.reader is not None
        if "content-length" in self.headers:
            yield await self.reader.readexactly(int(self.headers["content-length"]))
        elif self.headers.get("transfer-encoding", "").lower() == "chunked":
            while True:
                size_line = await self.reader.readline()
                if not size_line:
                    raise HttpError("the connection closed inside a chunked body")
                size = int(size_line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while (await self.reader.readline()) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                data = await self.reader.readexactly(size + 2)
                yield data[:-2]
        else:
            yield await self.reader.read()  # read until the server closes
            self.close()
        if self.headers.get("connection", "").lower() == "close":
            self.close()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
