"""The WebSocket transport: one socket per page carries every run of the page's session.

Framework-free: the backend's adapter hands over its WebSocket as a ``WebSocketPort`` and the
handshake as a ``ClientRequest``; every check and refusal comes from the gate.
"""

from __future__ import annotations

import asyncio
import logging

from ..protocol import Hello, PageLeft, ProtocolError
from ..protocol.close_codes import CloseCode
from ..protocol.refusals import Refusal
from . import observe
from .gate import Gate, refusal_for
from .requests import ClientRequest, Disconnected, WebSocketPort
from .sessions import Connection, SessionHandle, SessionStoreError

log = logging.getLogger("flash_ws")
HELLO_TIMEOUT = 10.0


async def serve_websocket(ws: WebSocketPort, req: ClientRequest, gate: Gate) -> None:
    """Handle one WebSocket connection from its handshake to its close."""
    service = gate.service
    refused = await gate.admit(req, "websocket")
    if refused:  # accepted first: a browser sees the close code of an accepted socket only (else 1006)
        log.warning("flash_ws: websocket from %s refused: %s", req.remote_addr, refused.message)
        observe.session_refused("websocket", service.worker_id, refused.code)
        await ws.accept([])
        await ws.close(refused.close_code, refused.close_reason)
        return
    key, cookie = gate.browser_key(req)
    await ws.accept([("Set-Cookie", cookie)] if cookie else [])
    try:
        frames = gate.read(await asyncio.wait_for(ws.receive(), HELLO_TIMEOUT))
    except Disconnected:
        return
    except (TimeoutError, ProtocolError) as exc:
        await ws.close(CloseCode.EXPECTED_HELLO, f"expected a 'hello' frame first: {exc}"[:120])
        return
    if not frames or not isinstance(frames[0], Hello):
        await ws.close(CloseCode.EXPECTED_HELLO, "expected a 'hello' frame first")
        return
    connection = Connection(f"websocket from {req.remote_addr}")
    opened = await gate.open(req, frames[0], connection, key, frames[1:])
    if isinstance(opened, Refusal):
        await ws.close(opened.close_code, opened.close_reason)
        return
    await _serve(ws, req, gate, opened[0], connection)


async def _serve(ws: WebSocketPort, req: ClientRequest, gate: Gate, live: SessionHandle, connection: Connection) -> None:
    """Read, write and watch the connection until one of them ends it."""
    loop = asyncio.get_running_loop()
    tasks = {
        loop.create_task(_write(ws, live, connection)),
        loop.create_task(_read(ws, req, gate, live)),
        watchdog := gate.service.watch(live, connection),
    }
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        if watchdog in done and watchdog.result() == "dead":
            observe.heartbeat_timeout(connection)
            await ws.close(CloseCode.HEARTBEAT_TIMEOUT, "heartbeat timeout")
        elif watchdog in done and watchdog.result() == "stalled":
            stalled = gate.service.stalled_refusal()
            await ws.close(stalled.close_code, stalled.close_reason)
        for task in done:
            error = None if task.cancelled() else task.exception()
            if isinstance(error, SessionStoreError):
                log.warning("flash_ws: closing %s: %s", connection, error)
                refusal = refusal_for(error)
                await ws.close(refusal.close_code, refusal.close_reason)
            elif isinstance(error, _Closed):
                await ws.close(error.refusal.close_code, error.refusal.close_reason)
            elif error is not None and not isinstance(error, Disconnected):
                raise error
    finally:
        for task in tasks:
            task.cancel()
        gate.service.detach(live, connection, page_left=False)


class _Closed(Exception):
    """The reader ends the connection: a hook refused a frame, or the page broke a budget."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.message)
        self.refusal = refusal


async def _read(ws: WebSocketPort, req: ClientRequest, gate: Gate, live: SessionHandle) -> None:
    """Feed client messages to the session until the page says bye, a hook refuses a frame or the
    page breaks a budget (too many refused frames)."""
    while True:
        answer = await gate.message(req, live, await ws.receive())
        if isinstance(answer, Refusal):
            raise _Closed(answer)
        if any(isinstance(c, PageLeft) for c in answer):
            return


async def _write(ws: WebSocketPort, live: SessionHandle, connection: Connection) -> None:
    """The one writer of this connection: everything ready together goes out in one message; a
    frame goes out at once when the page keeps up, frames gather while it is behind."""
    while not connection.replaced:
        await connection.wakeup.wait()
        for message in await live.take_messages(connection):
            await ws.send(message)
            observe.message_sent(connection, message)
        await connection.written()
    refusal = Refusal("replaced", "replaced by a newer connection of the same session")
    await ws.close(refusal.close_code, refusal.close_reason)
