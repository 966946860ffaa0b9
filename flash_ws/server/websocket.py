"""The WebSocket transport: one socket per page carries every run of the page's session."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from ..protocol import PROTOCOL_VERSION, Hello, Misbehaved, PageLeft, ProtocolError, encode_message
from ..protocol.close_codes import CloseCode
from ..protocol.frames import Frame
from . import heartbeat, observe
from .admission import Admission, Refusal
from .service import FlashWsService
from .sessions import Connection, SessionHandle, SessionStoreError, StoreUnavailable, TooManySessions

log = logging.getLogger("flash_ws")
HELLO_TIMEOUT = 10.0


async def serve_websocket(ws: Any, service: FlashWsService, admission: Admission, cookie_path: str) -> None:
    """Handle one WebSocket connection (``ws`` is Quart's websocket object)."""
    refused = await admission.admit(ws, "websocket")
    if refused:  # accepted first: a browser sees the close code of an accepted socket only (else 1006)
        log.warning("flash_ws: websocket from %s refused: %s", ws.remote_addr, refused.message)
        observe.session_refused("websocket", service.worker_id, refused.code)
        await ws.accept()
        await ws.close(refused.close_code, refused.close_reason)
        return
    key, new_key = admission.browser_key(ws)
    await ws.accept(headers={"Set-Cookie": admission.cookie_header(ws, key, cookie_path)} if new_key else None)
    try:
        frames = admission.read(await asyncio.wait_for(ws.receive(), HELLO_TIMEOUT))
    except (TimeoutError, ProtocolError) as exc:
        await ws.close(CloseCode.EXPECTED_HELLO, f"expected a 'hello' frame first: {exc}"[:120])
        return
    if not frames or not isinstance(frames[0], Hello):
        await ws.close(CloseCode.EXPECTED_HELLO, "expected a 'hello' frame first")
        return
    if frames[0].v != PROTOCOL_VERSION:
        await ws.close(CloseCode.UNSUPPORTED_VERSION,
                       f"protocol version {frames[0].v} not supported (this server speaks {PROTOCOL_VERSION})")
        return
    refused = await admission.admit_frames(ws, frames[1:])
    if refused:
        await ws.close(refused.close_code, refused.close_reason)
        return
    connection = Connection(f"websocket from {ws.remote_addr}")
    try:
        live = await service.attach(frames[0], connection, admission.binding(ws, key), ws.remote_addr or "")
        bundled = await service.receive(live, encode_message(frames[1:]), frames[1:]) if len(frames) > 1 else []
    except SessionStoreError as exc:
        log.warning("flash_ws: websocket from %s not served: %s", ws.remote_addr, exc)
        await ws.close(*_close_for(exc))
        return
    misbehaved = next((c for c in bundled if isinstance(c, Misbehaved)), None)
    if misbehaved is not None:
        await ws.close(CloseCode.POLICY, misbehaved.reason)
        return
    await _serve(ws, service, admission, live, connection)


async def _serve(ws: Any, service: FlashWsService, admission: Admission, live: SessionHandle, connection: Connection) -> None:
    """Read, write and watch the connection until one of them ends it."""
    settings = service.settings
    loop = asyncio.get_running_loop()
    tasks = {
        loop.create_task(_write(ws, live, connection)),
        loop.create_task(_read(ws, service, admission, live)),
        watchdog := loop.create_task(heartbeat.watch(live, connection, settings.heartbeat_interval, settings.heartbeat_timeout)),
    }
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        if watchdog in done and watchdog.result() == "dead":
            observe.heartbeat_timeout(connection)
            await ws.close(CloseCode.HEARTBEAT_TIMEOUT, "heartbeat timeout")
        for task in done:
            error = None if task.cancelled() else task.exception()
            if isinstance(error, SessionStoreError):
                log.warning("flash_ws: closing %s: %s", connection, error)
                await ws.close(*_close_for(error))
            elif isinstance(error, _Closed):
                await ws.close(error.refusal.close_code, error.refusal.close_reason)
            elif error is not None:
                raise error
    finally:
        for task in tasks:
            task.cancel()
        service.detach(live, connection, page_left=False)


class _Closed(Exception):
    """The reader ends the connection: a hook refused a frame, or the page broke a budget."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.message)
        self.refusal = refusal


def _close_for(exc: SessionStoreError) -> tuple[int, str]:
    """Close codes that make the page reconnect (see tests/vectors/close_codes.json)."""
    if isinstance(exc, TooManySessions) or getattr(exc, "close_code", None) == CloseCode.TRY_AGAIN_LATER:
        return CloseCode.TRY_AGAIN_LATER, str(exc).encode()[:120].decode(errors="ignore")
    code = CloseCode.UNAVAILABLE if isinstance(exc, StoreUnavailable) else CloseCode.RECONNECT
    return code, str(exc).encode()[:120].decode(errors="ignore")


async def _read(ws: Any, service: FlashWsService, admission: Admission, live: SessionHandle) -> None:
    """Feed client messages to the session until the page says bye, a hook refuses a frame or the
    page breaks a budget (too many refused frames).

    A message the codec refuses goes to the session as it came: the session answers it with an
    ``error`` frame and counts it; the connection goes on."""
    while True:
        data = await ws.receive()
        try:
            frames: list[Frame] | None = admission.read(data)
        except ProtocolError:
            frames = None  # the session refuses the whole message itself (and counts it)
        refused = await admission.admit_frames(ws, frames or ())
        if refused:
            raise _Closed(refused)
        commands = await service.receive(live, data, frames)
        misbehaved = next((c for c in commands if isinstance(c, Misbehaved)), None)
        if misbehaved is not None:
            raise _Closed(Refusal(403, "policy", misbehaved.reason, CloseCode.POLICY))
        if any(isinstance(c, PageLeft) for c in commands):
            return


async def _write(ws: Any, live: SessionHandle, connection: Connection) -> None:
    """The one writer of this connection: everything ready together goes out in one message; a
    frame goes out at once when the page keeps up, frames gather while it is behind."""
    send = direct_send(ws)
    while not connection.replaced:
        await connection.wakeup.wait()
        for message in await live.take_messages(connection):
            await send(message)
            observe.message_sent(connection, message)
        await connection.written()
    await ws.close(CloseCode.REPLACED, "replaced by a newer connection of the same session")


def direct_send(ws: Any) -> Callable[[str], Awaitable[None]]:
    """What the writer sends with. Quart's ``Websocket.send`` yields one loop turn before every
    message (for handlers that never yield otherwise): ~0.1 ms more latency per update in a paced
    stream (benchmarks/README.md). The writer yields after its writes by itself, so it calls the
    accepted connection's own send (Quart's ``_send``: ASGI ``websocket.send`` and Quart's
    ``websocket_sent`` signal, as ``send`` does after its turn) where Quart has it."""
    send = getattr(ws, "_send", None)
    return send if callable(send) else ws.send
