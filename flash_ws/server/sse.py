"""The fallback's downstream: one Server-Sent-Events stream per page carries the session's output.

Made for proxies: ``text/event-stream`` with ``Cache-Control: no-cache, no-store, private`` and
``X-Accel-Buffering: no`` (nginx passes it through unbuffered), no response timeout, and a ping
frame (plus a comment line when idle) every ``heartbeat_interval`` seconds so idle proxies keep the
stream open and both ends can tell a dead stream from a quiet one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

from quart import Response, jsonify

from ..protocol import PROTOCOL_VERSION, Hello
from . import heartbeat, observe
from .admission import Admission
from .service import FlashWsService
from .sessions import Connection, SessionHandle, SessionStoreError, StoreUnavailable, TooManySessions

log = logging.getLogger("flash_ws")

SSE_HEADERS = {
    "Content-Type": "text/event-stream; charset=utf-8",
    # its first event carries the session token: no cache, shared or private, may keep it
    "Cache-Control": "no-cache, no-store, no-transform, private",
    "X-Accel-Buffering": "no",
}


def refusal(status: int, code: str, message: str) -> Response:
    response = jsonify({"code": code, "message": message})
    response.status_code = status
    return response


def hello_from_query(args: Any) -> Hello:
    """The hello of an EventSource: ``?v=1&sid=SID&seq=N`` (``sid`` empty for a new session).

    Only the session's public id travels in the URL (URLs end up in access logs); the browser's
    cookie proves the session is its own."""
    try:
        return Hello(args.get("sid") or None, int(args.get("seq", "0")), int(args.get("v", "0")))
    except ValueError:
        raise ValueError("'seq' and 'v' must be integers") from None


async def open_event_stream(request: Any, service: FlashWsService, admission: Admission, cookie_path: str) -> Response:
    """Answer ``GET .../_flash_ws/sse``: bind a new EventSource to the session and stream to it."""
    refused = await admission.admit(request, "sse")
    if refused:
        observe.session_refused("sse", service.worker_id, refused.code)
        return refusal(refused.status, refused.code, refused.message)
    try:
        hello = hello_from_query(request.args)
    except ValueError as exc:
        return refusal(400, "bad_frame", f"bad hello in the query string: {exc}")
    if hello.v != PROTOCOL_VERSION:
        return refusal(400, "unsupported_version", f"protocol version {hello.v} not supported (this server speaks {PROTOCOL_VERSION})")
    key, new_key = admission.browser_key(request)
    connection = Connection(f"event stream from {request.remote_addr}")
    try:
        live = await service.attach(hello, connection, admission.binding(request, key), request.remote_addr or "")
    except SessionStoreError as exc:
        code = ("store_unavailable" if isinstance(exc, StoreUnavailable)
                else "too_many_sessions" if isinstance(exc, TooManySessions) else "session_lost")
        return refusal(503, code, str(exc))
    response = Response(_events(service, live, connection), headers=SSE_HEADERS)
    if new_key:
        response.headers["Set-Cookie"] = admission.cookie_header(request, key, cookie_path)
    response.timeout = None
    return response


async def _events(service: FlashWsService, live: SessionHandle, connection: Connection) -> AsyncIterator[bytes]:
    """The stream's body: the session's messages as ``data:`` events; a comment when idle."""
    settings = service.settings
    watchdog = asyncio.get_running_loop().create_task(
        heartbeat.watch(live, connection, settings.heartbeat_interval, settings.heartbeat_timeout))
    try:
        yield b": flash_ws\n\n"
        while not connection.replaced and not watchdog.done():
            try:
                await asyncio.wait_for(connection.wakeup.wait(), settings.heartbeat_interval)
            except TimeoutError:
                yield b": idle\n\n"
                continue
            try:
                messages = await live.take_messages(connection)
            except SessionStoreError as exc:
                log.warning("flash_ws: closing %s: %s", connection, exc)
                return  # the page reconnects, resuming or starting afresh
            if messages:  # one write for the whole wake-up
                yield "".join(f"data: {message}\n\n" for message in messages).encode()
                for message in messages:
                    observe.message_sent(connection, message)
            await connection.written()
    finally:
        if watchdog.done() and not watchdog.cancelled() and watchdog.result() == "dead":
            observe.heartbeat_timeout(connection)
        watchdog.cancel()
        service.detach(live, connection, page_left=False)
