"""The fallback's upstream: the page POSTs its frames (start, cancel, ack, bye) to its session.

``POST .../_flash_ws/post`` with the session token in the ``X-Flash-Ws-Session`` header and a
message (a JSON array of frames) as body. 204 when accepted; otherwise a 4xx with a JSON
``{"code", "message"}`` saying what was wrong (the refusal table, docs/protocol.md).
"""

from __future__ import annotations

import asyncio

from ..protocol import Refused
from ..protocol.refusals import Refusal
from .gate import Gate, refusal_for
from .requests import ClientRequest, HttpAnswer
from .sessions import SessionStoreError
from .sse import refusal_answer

SESSION_HEADER = "X-Flash-Ws-Session"


async def read_body(req: ClientRequest, limit: int) -> bytes | None:
    """The request's body, or None as soon as it exceeds ``limit`` bytes (with or without a
    Content-Length: a chunked body is read only up to the limit)."""
    if req.content_length is not None and req.content_length > limit:
        return None
    body = bytearray()
    if req.body is not None:
        async for chunk in req.body():
            body += chunk
            if len(body) > limit:
                return None
    return bytes(body)


async def admitted_body(req: ClientRequest, gate: Gate, what: str) -> bytes | Refusal:
    """The body of an upstream POST (a single one, or a shared stream's batch) once the gate let
    the request in, it says JSON and it is within ``max_message_bytes``; otherwise the refusal
    (``what`` names the body in it). A body that takes longer than ``post_body_timeout`` to arrive
    holds no connection and no memory for long."""
    refused = await gate.admit(req, "post")
    if refused:
        return refused
    if req.content_type != "application/json":
        return Refusal("bad_frame", f"expected a JSON body (application/json), got {req.content_type or 'none'!r}",
                       app_status=415)
    limit = gate.settings.limits.max_message_bytes
    timeout = gate.settings.post_body_timeout
    try:
        async with asyncio.timeout(timeout):
            body = await read_body(req, limit)
    except TimeoutError:
        return Refusal("body_timeout", f"the {what}'s body did not arrive within {timeout:g} s (post_body_timeout)")
    if body is None:
        return Refusal("too_large", f"{what} exceeds the limit of {limit} bytes")
    return body


async def receive_post(req: ClientRequest, gate: Gate) -> HttpAnswer:
    body = await admitted_body(req, gate, "message")
    if isinstance(body, Refusal):
        return refusal_answer(body)
    token = req.headers.get(SESSION_HEADER)
    if not token:
        return refusal_answer(Refusal("unknown_session", f"missing the {SESSION_HEADER} header", app_status=400))
    refused = await deliver(req, gate, token, body)
    return HttpAnswer(204, []) if refused is None else refusal_answer(refused)


async def deliver(req: ClientRequest, gate: Gate, token: str, body: bytes | str) -> Refusal | None:
    """Hand one message of the session ``token`` (for this request's browser) to it, through the
    gate's frame checks; None when it was taken."""
    key, _ = gate.browser_key(req)
    try:
        live = await gate.service.store.get(token, gate.binding(req, key))
    except SessionStoreError as exc:
        return refusal_for(exc)
    if live is None:
        return Refusal("unknown_session", "no such session (expired, or never opened): open a new event stream")
    answer = await gate.message(req, live, body)
    if isinstance(answer, Refusal):
        if answer.code == "session_moved":  # its event stream reopens it (or a new session)
            return Refusal("unknown_session", f"{answer.message}: open a new event stream")
        return answer
    refused = next((c for c in answer if isinstance(c, Refused) and c.code in ("bad_frame", "too_large") and c.run is None), None)
    if refused is not None:
        return Refusal(refused.code, refused.message)
    return None
