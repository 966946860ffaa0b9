"""raw-quart: a bare Quart app, served by hypercorn, sending the same updates, one message each.

``python -m hypercorn benchmarks.contenders.raw_quart:app --bind 127.0.0.1:9000 --worker-class asyncio``
(or ``uvloop``; ``command`` builds that line). The floor of flash_ws's own server stack: Quart on
hypercorn and nothing else, no flash_ws, no Dash, no sequencing, no acknowledgements, no resume. Its
WebSocket route ``/`` speaks raw_ws.py's protocol (raw_ws.serve_connection: ``{"start": <stream
name>, "params": {...}}`` in, ``[["out-<name>", {"children": {"seq", "ts"}}]]`` per update and
``{"fin": <key>}`` out, the same paced producer of streams.py); ``GET /_bench/status?key=...``
answers the benchmark's side channel.

Quart's ``websocket.send`` yields one loop turn (``await asyncio.sleep(0)``) before every message,
for handlers that would otherwise never yield, then accepts (a no-op once accepted) and calls the
connection's ``_send`` (the ASGI ``websocket.send`` and Quart's ``websocket_sent`` signal). flash_ws's
Quart adapter (flash_ws/backends/quart.py, ``QuartSocket``) sends with ``_send`` to skip that turn, so
this does too: the floor is the stack's best. A paced stream yields at its own sleep between updates.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from typing import Any

from quart import Quart, request, websocket

from benchmarks.contenders.raw_ws import Send, serve_connection
from benchmarks.contenders.streams import BOOK, STATUS_PATH
from benchmarks.servers import hypercorn_command

app = Quart(__name__)


@app.get(STATUS_PATH)
async def status() -> dict[str, Any]:
    return BOOK.status(request.args.get("key", ""))


async def _messages(ws: Any) -> AsyncIterator[str | bytes]:
    while True:  # a client that leaves cancels the handler (Quart's way)
        yield await ws.receive()


@app.websocket("/")
async def stream() -> None:
    ws = websocket._get_current_object()
    await ws.accept()
    send: Send = getattr(ws, "_send", None) or ws.send  # without Quart's extra loop turn (see above)
    await serve_connection(_messages(ws), send)


def command(loop: str = "asyncio", python: str = sys.executable) -> list[str]:
    """One worker: hypercorn (``--worker-class loop``) serving ``app`` on ``{port}``, with the backlog
    benchmarks.scale_stack gives flash_ws's workers."""
    return hypercorn_command("benchmarks.contenders.raw_quart:app", "--backlog", "4096", "--worker-class", loop,
                             python=python)
