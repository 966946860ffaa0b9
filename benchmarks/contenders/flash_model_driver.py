"""Drives flash-sse-model the way Flash's page does: one POST per run, read as an event stream.

Each stream is its own HTTP/1.1 request and connection, and a browser opens at most six connections
per origin: the seventh and eighth concurrent streams wait for a free one. A dropped stream is not
resumed (no ids); the driver plays the user who clicks again at once, and the server numbers on
from where the stream was cut, so updates produced and never delivered count as lost.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

from benchmarks.contenders.base import Driver, Recorder, StreamSpec

ENDPOINT = "/dash_update_component_sse"
CONNECTIONS_PER_ORIGIN = 6  # HTTP/1.1 in Chromium and Firefox


class StreamDropped(ConnectionError):
    pass


async def post_event_stream(host: str, port: int, path: str, body: bytes) -> AsyncIterator[str]:
    """POST ``body`` and yield the ``data`` of each server-sent event; StreamDropped if cut short."""
    try:
        reader, writer = await asyncio.open_connection(host, port)
    except OSError as exc:
        raise StreamDropped(f"connect failed: {exc}") from exc
    try:
        writer.write((f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: text/event-stream\r\n"
                      f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body)
        await writer.drain()
        status = await reader.readline()
        if not status.startswith(b"HTTP/1.1 200"):
            raise StreamDropped(f"answered {status.decode(errors='replace').strip() or 'nothing'}")
        chunked = False
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            chunked |= name.strip().lower() == "transfer-encoding" and "chunked" in value.lower()
        buffer = b""
        while True:
            if chunked:
                size = int((await reader.readline()).split(b";")[0], 16)
                if size == 0:
                    return
                chunk = await reader.readexactly(size + 2)
                buffer += chunk[:-2]
            else:
                chunk = await reader.read(65536)
                if not chunk:
                    return
                buffer += chunk
            while b"\n\n" in buffer:
                event, buffer = buffer.split(b"\n\n", 1)
                for line in event.split(b"\n"):
                    if line.startswith(b"data:"):
                        yield line[5:].strip().decode()
    except (OSError, ValueError, asyncio.IncompleteReadError) as exc:
        raise StreamDropped(str(exc) or type(exc).__name__) from exc
    finally:
        writer.close()


class FlashModelDriver(Driver):

    def __init__(self) -> None:
        super().__init__()
        self.host, self.port = "127.0.0.1", 0
        self._slots: asyncio.Semaphore | None = None

    async def open(self, base_url: str) -> None:
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self._slots = asyncio.Semaphore(CONNECTIONS_PER_ORIGIN)
        self.transport = "sse (one POST per stream)"

    async def run(self, streams: list[StreamSpec], recorder: Recorder) -> None:
        await asyncio.gather(*(self._stream(spec, recorder) for spec in streams))

    async def _stream(self, spec: StreamSpec, recorder: Recorder) -> None:
        assert self._slots is not None
        body = json.dumps({"callback": spec.name, "params": spec.params.to_json()}).encode()
        first = True
        async with self._slots:
            while True:
                if not first:
                    recorder.restarts += 1
                first = False
                self.connections += 1
                try:
                    async for data in post_event_stream(self.host, self.port, ENDPOINT, body):
                        token, _component, props = json.loads(data)
                        if token == "[SINGLE]":
                            update = props["children"]
                            recorder.arrive(spec.key, update["seq"], update["ts"])
                        elif token == "[DONE]":
                            recorder.end(spec.key)
                            return
                except StreamDropped:
                    await asyncio.sleep(0.01)  # the user clicks again
                    continue
                await asyncio.sleep(0.01)  # ended without [DONE]: cut by the server side

    async def close(self) -> None:
        pass
