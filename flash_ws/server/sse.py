"""The fallback's downstream: one Server-Sent-Events stream per page carries the session's output.

Made for proxies: ``text/event-stream`` with ``Cache-Control: no-cache, no-store, private`` and
``X-Accel-Buffering: no`` (nginx passes it through unbuffered), no response timeout, and a ping
frame (plus a comment line when idle) every ``heartbeat_interval`` seconds so idle proxies keep the
stream open and both ends can tell a dead stream from a quiet one.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator

from ..protocol import Hello
from ..protocol.refusals import Refusal
from . import observe
from .gate import Gate
from .requests import ClientRequest, HttpAnswer
from .service import FlashWsService
from .sessions import Connection, SessionHandle, SessionStoreError

log = logging.getLogger("flash_ws")

SSE_HEADERS = [
    ("Content-Type", "text/event-stream; charset=utf-8"),
    # its first event carries the session token: no cache, shared or private, may keep it
    ("Cache-Control", "no-cache, no-store, no-transform, private"),
    ("X-Accel-Buffering", "no"),
]


def refusal_answer(refusal: Refusal) -> HttpAnswer:
    """The HTTP answer of a refusal: its status, and a JSON body with its code and message."""
    return HttpAnswer(refusal.status, [("Content-Type", "application/json")], json.dumps(refusal.body()).encode())


def hello_from_query(req: ClientRequest) -> Hello:
    """The hello of an EventSource: ``?v=1&sid=SID&seq=N`` (``sid`` empty for a new session).

    Only the session's public id travels in the URL (URLs end up in access logs); the browser's
    cookie proves the session is its own."""
    try:
        return Hello(req.arg("sid") or None, int(req.arg("seq", "0")), int(req.arg("v", "0")))
    except ValueError:
        raise ValueError("'seq' and 'v' must be integers") from None


async def open_event_stream(req: ClientRequest, gate: Gate) -> HttpAnswer:
    """Answer ``GET .../_flash_ws/sse``: bind a new EventSource to the session and stream to it."""
    service = gate.service
    refused = await gate.admit(req, "sse")
    if refused:
        observe.session_refused("sse", service.worker_id, refused.code)
        return refusal_answer(refused)
    try:
        hello = hello_from_query(req)
    except ValueError as exc:
        return refusal_answer(Refusal("bad_frame", f"bad hello in the query string: {exc}"))
    key, cookie = gate.browser_key(req)
    connection = Connection(f"event stream from {req.remote_addr}")
    opened = await gate.open(req, hello, connection, key)
    if isinstance(opened, Refusal):
        return refusal_answer(opened)
    headers = SSE_HEADERS + ([("Set-Cookie", cookie)] if cookie else [])
    return HttpAnswer(200, headers, _events(service, opened[0], connection))


async def _events(service: FlashWsService, live: SessionHandle, connection: Connection) -> AsyncIterator[bytes]:
    """The stream's body: the session's messages as ``data:`` events; a comment when idle."""
    settings = service.settings
    watchdog = service.watch(live, connection)
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
