"""A scripted HTTP/1.1 server on loopback for the Python client's SSE + POST link: it reads each
request and hands it to ``answer``; ``open_event_stream`` serves the welcome and keeps the stream
open until the client drops it."""

from __future__ import annotations

import asyncio
from typing import Any


class FakeHttp:
    """Subclasses answer requests: ``async def answer(self, method, headers, body, reader, writer)``
    returns False when the connection is done (an event stream was served)."""

    def __init__(self) -> None:
        self.server: asyncio.Server | None = None

    async def __aenter__(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/"

    async def __aexit__(self, *exc: Any) -> None:
        assert self.server is not None
        self.server.close()

    async def answer(self, method: str, headers: dict[str, str], body: bytes,
                     reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        raise NotImplementedError

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                method = line.decode().split(" ", 1)[0]
                headers: dict[str, str] = {}
                while (header := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = header.decode().partition(":")
                    headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                if not await self.answer(method, headers, body, reader, writer):
                    return
        except ConnectionError:
            pass
        finally:
            writer.close()


async def open_event_stream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, welcome: str,
                            extra_headers: str = "") -> bool:
    """Answer a GET with an event stream carrying ``welcome``; hold it until the client drops it."""
    event = f"data: {welcome}\n\n".encode()
    writer.write(f"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n"
                 f"{extra_headers}\r\n{len(event):x}\r\n".encode() + event + b"\r\n")
    await writer.drain()
    await reader.read()  # open until the client drops it
    return False
