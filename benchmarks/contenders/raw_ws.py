"""raw-websockets: a bare ``websockets`` server sending the same updates, one message each.

``python -m benchmarks.contenders.raw_ws --port 9000 [--loop uvloop]``. The floor: no framework, no sequencing, no
acknowledgements, no resume. A client sends ``{"start": <stream name>, "params": {...}}`` (any number,
concurrently); the server answers each update with ``[["out-<name>", {"children": {"seq", "ts"}}]]``
(the same ``[id, props]`` pairs flash_ws carries) and ends a stream with ``{"fin": <key>}``.
``GET /_bench/status?key=...`` answers the benchmark's side channel.

``serve_connection`` is that protocol over any WebSocket (its messages and its send): raw_quart.py
speaks it on Quart served by hypercorn.
"""

from __future__ import annotations

import argparse
import asyncio
import http
import json
import signal
from collections.abc import AsyncIterable, Awaitable, Callable
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Request, Response, ServerConnection, serve
from websockets.datastructures import Headers

from benchmarks.contenders.streams import BOOK, STATUS_PATH, STREAM_NAMES, StreamParams, component_id, update_props

Send = Callable[[str], Awaitable[None]]


async def _stream(send: Send, name: str, params: StreamParams) -> None:
    out = component_id(name)
    async for seq, ts in BOOK.updates(params):
        await send(json.dumps([[out, update_props(seq, ts)]]))
    await send(json.dumps({"fin": params.key}))


async def serve_connection(messages: AsyncIterable[str | bytes], send: Send) -> None:
    """One connection: start a stream task for each ``{"start": name, "params": {...}}`` of
    ``messages``, each sending its updates with ``send``, until ``messages`` ends (or fails: a dropped
    connection); its streams go with it."""
    tasks: set[asyncio.Task[None]] = set()
    try:
        async for message in messages:
            request = json.loads(message)
            name = request.get("start")
            if name not in STREAM_NAMES:
                await send(json.dumps({"error": f"unknown stream {name!r}"}))
                continue
            task = asyncio.get_running_loop().create_task(_stream(send, name, StreamParams.from_json(request["params"])))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
    except Exception:  # a dropped connection: its streams go with it
        pass
    finally:
        for task in tasks:
            task.cancel()


async def _handle(ws: ServerConnection) -> None:
    await serve_connection(ws, ws.send)


def _side_channel(connection: ServerConnection, request: Request) -> Response | None:
    parts = urlsplit(request.path)
    if parts.path != STATUS_PATH:
        return None  # a WebSocket handshake (or a refused plain GET)
    key = parse_qs(parts.query).get("key", [""])[0]
    body = json.dumps(BOOK.status(key)).encode()
    return Response(http.HTTPStatus.OK.value, "OK", Headers({"Content-Type": "application/json",
                                                               "Content-Length": str(len(body))}), body)


async def _serve(port: int) -> None:
    stop = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set_result, None)
    async with serve(_handle, "127.0.0.1", port, process_request=_side_channel, max_size=None):
        await stop


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.contenders.raw_ws", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio", help="the event loop (asyncio)")
    args = parser.parse_args(argv)
    try:
        if args.loop == "uvloop":
            import uvloop

            uvloop.run(_serve(args.port))
        else:
            asyncio.run(_serve(args.port))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
