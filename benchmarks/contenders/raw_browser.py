"""The browser floors: bare servers pushing the benchmark's updates to a bare page.

``python -m benchmarks.contenders.raw_browser --port 9000 --transport websocket --batch 1``

No framework on either end. The server serves the page at ``/``, the side channel at
``/_bench/status``, and either a WebSocket (``websockets``) or, with ``--transport sse``, an event
stream on plain asyncio streams: ``GET /events`` opens the page's one EventSource (its first event
names the connection), ``POST /start?conn=ID`` starts a stream on it. Each update is the flash_ws
browser rows' payload, ``[id, {"extendData": [{"x": [[seq]], "y": [[ts]]}, [0]]}]``; a message
carries ``--batch`` of them at most: 1 is one update per message, more gathers what the producers
add while the loop keeps turning, as flash_ws's writer does. The page ``JSON.parse``s each message
and records every update in ``window.__arrivals`` exactly as the flash_ws browser rows do.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import signal
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

from benchmarks.contenders.streams import BOOK, STATUS_PATH, STREAM_NAMES, StreamParams, component_id

PAGE = """<!doctype html><meta charset="utf-8"><title>floor</title><script>
window.__arrivals = [];
const TRANSPORT = %(transport)s;
function record(text) {
  const message = JSON.parse(text), at = (performance.timeOrigin + performance.now()) / 1000;
  if (!Array.isArray(message)) { if (message.fin) window.__ended.push(message.fin); return; }
  for (const [id, props] of message) {
    const data = props.extendData[0];
    data.x[0].forEach((seq, i) => window.__arrivals.push([id, seq, data.y[0][i], at]));
  }
}
window.__ended = [];
if (TRANSPORT === 'websocket') {
  const socket = new WebSocket(`ws://${location.host}/ws`);
  socket.onmessage = (event) => record(event.data);
  socket.onopen = () => { window.__ready = true; };
  window.__start = (name, params) => socket.send(JSON.stringify({start: name, params}));
} else {
  const source = new EventSource('/events');
  let conn = null;
  source.addEventListener('hello', (event) => { conn = event.data; window.__ready = true; });
  source.onmessage = (event) => record(event.data);
  window.__start = (name, params) => fetch(`/start?conn=${conn}`, {method: 'POST', body: JSON.stringify({start: name, params})});
}
</script>"""


def chart_update(name: str, seq: int, ts: float) -> list[Any]:
    """One update as the flash_ws browser rows carry it: extendData points of ``out-<name>``."""
    return [component_id(name), {"extendData": [{"x": [[seq]], "y": [[ts]]}, [0]]}]


class Outbox:
    """Updates waiting for one connection; ``run`` sends them, ``batch`` at most per message.

    With ``batch`` above 1 the writer lets the loop turn while producers keep adding (no timer),
    so a burst leaves in full messages and a lone update at once."""

    def __init__(self, send: Callable[[str], Awaitable[None]], batch: int) -> None:
        self._send, self._batch = send, batch
        self._pending: deque[Any] = deque()
        self._ready = asyncio.Event()

    def put(self, item: Any) -> None:
        self._pending.append(item)
        self._ready.set()

    async def run(self) -> None:
        while True:
            await self._ready.wait()
            for _ in range(self._batch):  # bounded: at most one turn per update of the message
                if len(self._pending) >= self._batch:
                    break
                before = len(self._pending)
                await asyncio.sleep(0)
                if len(self._pending) == before:
                    break
            taken = [self._pending.popleft() for _ in range(min(self._batch, len(self._pending)))]
            if not self._pending:
                self._ready.clear()
            updates = [item for item in taken if not isinstance(item, dict)]
            if updates:
                await self._send(json.dumps(updates))
            for item in taken:
                if isinstance(item, dict):
                    await self._send(json.dumps(item))


async def produce(outbox: Outbox, request: Any) -> None:
    """Run the stream ``request`` asks for (``{"start": name, "params": {...}}``) into ``outbox``."""
    name = request.get("start")
    if name not in STREAM_NAMES:
        raise ValueError(f"unknown stream {name!r}; expected one of {', '.join(STREAM_NAMES)}")
    params = StreamParams.from_json(request["params"])
    async for seq, ts in BOOK.updates(params):
        outbox.put(chart_update(name, seq, ts))
    outbox.put({"fin": params.key})


def _status_body(target: str) -> bytes:
    return json.dumps(BOOK.status(parse_qs(urlsplit(target).query).get("key", [""])[0])).encode()


async def serve_websocket(port: int, batch: int, stop: asyncio.Future[None]) -> None:
    import http

    from websockets.asyncio.server import ServerConnection, serve
    from websockets.datastructures import Headers
    from websockets.http11 import Response

    async def handle(ws: ServerConnection) -> None:
        outbox = Outbox(ws.send, batch)
        tasks = {asyncio.get_running_loop().create_task(outbox.run())}
        try:
            async for message in ws:
                tasks.add(asyncio.get_running_loop().create_task(produce(outbox, json.loads(message))))
        except Exception:  # a dropped connection: its streams go with it
            pass
        finally:
            for task in tasks:
                task.cancel()

    def plain_get(_connection: ServerConnection, request: Any) -> Response | None:
        path = urlsplit(request.path).path
        if path == "/ws":
            return None
        if path == STATUS_PATH:
            body, kind = _status_body(request.path), "application/json"
        else:
            body, kind = (PAGE % {"transport": '"websocket"'}).encode(), "text/html; charset=utf-8"
        return Response(http.HTTPStatus.OK.value, "OK", Headers({"Content-Type": kind, "Content-Length": str(len(body))}), body)

    async with serve(handle, "127.0.0.1", port, process_request=plain_get, max_size=None):
        await stop


class SseServer:
    """The event-stream floor on plain asyncio streams: one EventSource per page, streams started by POST."""

    def __init__(self, batch: int) -> None:
        self.batch = batch
        self.outboxes: dict[str, Outbox] = {}

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
            method, target, _ = head[0].split(" ", 2)
            headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in head[1:] if line)}
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            path = urlsplit(target).path
            if path == "/events":
                await self._events(writer)
            elif path == "/start" and method == "POST":
                outbox = self.outboxes.get(parse_qs(urlsplit(target).query).get("conn", [""])[0])
                if outbox is not None:
                    asyncio.get_running_loop().create_task(produce(outbox, json.loads(body)))
                self._answer(writer, 204 if outbox else 404, b"", "text/plain")
            elif path == STATUS_PATH:
                self._answer(writer, 200, _status_body(target), "application/json")
            else:
                self._answer(writer, 200, (PAGE % {"transport": '"sse"'}).encode(), "text/html; charset=utf-8")
            await writer.drain()
        except (OSError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            writer.close()

    @staticmethod
    def _answer(writer: asyncio.StreamWriter, status: int, body: bytes, kind: str) -> None:
        writer.write(f"HTTP/1.1 {status} X\r\nContent-Type: {kind}\r\nContent-Length: {len(body)}\r\n"
                     f"Connection: close\r\n\r\n".encode() + body)

    async def _events(self, writer: asyncio.StreamWriter) -> None:
        conn = secrets.token_hex(6)

        async def send(text: str) -> None:
            writer.write(f"data: {text}\n\n".encode())
            await writer.drain()

        outbox = self.outboxes[conn] = Outbox(send, self.batch)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n\r\n"
                     + f"event: hello\ndata: {conn}\n\n".encode())
        try:
            await outbox.run()
        finally:
            del self.outboxes[conn]


async def _serve(port: int, transport: str, batch: int) -> None:
    stop = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set_result, None)
    if transport == "websocket":
        await serve_websocket(port, batch, stop)
        return
    server = await asyncio.start_server(SseServer(batch).handle, "127.0.0.1", port)
    async with server:
        await stop


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.contenders.raw_browser", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--transport", choices=("websocket", "sse"), default="websocket")
    parser.add_argument("--batch", type=int, default=1, help="updates per message at most (1: one per message)")
    args = parser.parse_args(argv)
    if args.batch < 1:
        parser.error(f"--batch must be at least 1, got {args.batch}")
    try:
        asyncio.run(_serve(args.port, args.transport, args.batch))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
