"""The WebSocket transport: one socket per page carries every run of the page's session."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterable
from typing import Any

from ..protocol import PROTOCOL_VERSION, Hello, PageLeft, ProtocolError, decode_message
from . import heartbeat, observe
from .guards import Hook, origin_refusal, run_hooks
from .service import FlashWsService
from .sessions import Connection, LiveSession, SessionStoreError, StoreUnavailable

log = logging.getLogger("flash_ws")
HELLO_TIMEOUT = 10.0


async def serve_websocket(ws: Any, service: FlashWsService, allowed_origins: Iterable[str],
                          connect_hooks: list[Hook], message_hooks: list[Hook]) -> None:
    """Handle one WebSocket connection (``ws`` is Quart's websocket object)."""
    refusal = origin_refusal(ws.headers.get("origin"), ws.headers.get("host"), allowed_origins)
    if refusal:
        log.warning("flash_ws: websocket refused: %s", refusal)
        await ws.close(4003, refusal)
        return
    rejected = await run_hooks(connect_hooks, ws)
    if rejected:
        await ws.close(*rejected)
        return
    await ws.accept()
    try:
        first = await asyncio.wait_for(ws.receive(), HELLO_TIMEOUT)
        frames = decode_message(first, "client", service.settings.limits.max_message_bytes)
    except (TimeoutError, ProtocolError) as exc:
        await ws.close(4000, f"expected a 'hello' frame first: {exc}"[:120])
        return
    if not frames or not isinstance(frames[0], Hello):
        await ws.close(4000, "expected a 'hello' frame first")
        return
    if frames[0].v != PROTOCOL_VERSION:
        await ws.close(4400, f"protocol version {frames[0].v} not supported (this server speaks {PROTOCOL_VERSION})")
        return
    connection = Connection(f"websocket from {ws.remote_addr}")
    try:
        live = await service.attach(frames[0], connection)
        if len(frames) > 1:
            await service.receive(live, json.dumps(json.loads(first)[1:]))
    except SessionStoreError as exc:
        log.warning("flash_ws: websocket from %s not served: %s", ws.remote_addr, exc)
        await ws.close(*_close_for(exc))
        return
    settings = service.settings
    loop = asyncio.get_running_loop()
    tasks = {
        loop.create_task(_write(ws, live, connection)),
        loop.create_task(_read(ws, service, live, message_hooks)),
        watchdog := loop.create_task(heartbeat.watch(live, connection, settings.heartbeat_interval, settings.heartbeat_timeout)),
    }
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        if watchdog in done and watchdog.result() == "dead":
            log.info("flash_ws: %s went silent: closing it (the page will resume)", connection)
            observe.heartbeat_timeout(connection)
            await ws.close(4008, "heartbeat timeout")
        failed = [task.exception() for task in done if not task.cancelled() and isinstance(task.exception(), SessionStoreError)]
        if failed:
            log.warning("flash_ws: closing %s: %s", connection, failed[0])
            await ws.close(*_close_for(failed[0]))
    finally:
        for task in tasks:
            task.cancel()
        service.detach(live, connection, page_left=False)


def _close_for(exc: SessionStoreError) -> tuple[int, str]:
    """Close codes that make the page reconnect (not 4xxx, which it takes as a refusal)."""
    code = getattr(exc, "close_code", None) or (1011 if isinstance(exc, StoreUnavailable) else 1012)
    return code, str(exc).encode()[:120].decode(errors="ignore")


async def _read(ws: Any, service: FlashWsService, live: LiveSession, message_hooks: list[Hook]) -> None:
    """Feed client messages to the session until the page says bye or a hook refuses one."""
    while True:
        text = await ws.receive()
        if message_hooks and await _refused_by_hooks(ws, text, message_hooks):
            return
        if any(isinstance(c, PageLeft) for c in await service.receive(live, text)):
            return


async def _refused_by_hooks(ws: Any, text: str | bytes, hooks: list[Hook]) -> bool:
    try:
        frames = json.loads(text)
    except ValueError:
        return False  # the session answers malformed messages itself
    for frame in frames if isinstance(frames, list) else [frames]:
        rejected = await run_hooks(hooks, ws, frame)
        if rejected:
            await ws.close(*rejected)
            return True
    return False


async def _write(ws: Any, live: LiveSession, connection: Connection) -> None:
    """The one writer of this connection: everything ready together goes out in one message."""
    while not connection.replaced:
        await connection.wakeup.wait()
        for message in await live.take_messages(connection):
            await ws.send(message)
            observe.message_sent(connection, message)
    await ws.close(4001, "replaced by a newer connection of the same session")
