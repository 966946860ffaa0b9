"""The fallback's upstream: the page POSTs its frames (start, cancel, ack, bye) to its session.

``POST .../_flash_ws/post`` with the session token in the ``X-Flash-Ws-Session`` header and a
message (a JSON array of frames) as body. 204 when accepted; otherwise a 4xx with a JSON
``{"code", "message"}`` saying what was wrong.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from quart import Response

from ..protocol import Misbehaved, ProtocolError, Refused
from ..protocol.frames import Frame
from .admission import Admission
from .service import FlashWsService
from .sessions import SessionStoreError, StoreUnavailable
from .sse import refusal

SESSION_HEADER = "X-Flash-Ws-Session"


async def read_body(request: Any, limit: int) -> bytes | None:
    """The request's body, or None as soon as it exceeds ``limit`` bytes (with or without a
    Content-Length: a chunked body is read only up to the limit)."""
    if request.content_length is not None and request.content_length > limit:
        return None
    body = bytearray()
    async for chunk in request.body:
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


async def read_body_in_time(request: Any, limit: int, timeout: float) -> bytes | None:
    """``read_body`` within ``timeout`` seconds; TimeoutError past it (a client that announces a
    body and sends it a byte at a time holds no connection and no memory for long)."""
    async with asyncio.timeout(timeout):
        return await read_body(request, limit)


async def admitted_body(request: Any, service: FlashWsService, admission: Admission, what: str) -> bytes | Response:
    """The body of an upstream POST (a single one, or a shared stream's batch) once the admission
    guard let the request in, it says JSON and it is within ``max_message_bytes``; otherwise the
    refusal to answer (``what`` names the body in it)."""
    refused = await admission.admit(request, "post")
    if refused:
        return refusal(refused.status, refused.code, refused.message)
    if request.mimetype != "application/json":
        return refusal(415, "bad_frame", f"expected a JSON body (application/json), got {request.mimetype or 'none'!r}")
    limit = service.settings.limits.max_message_bytes
    try:
        body = await read_body_in_time(request, limit, service.settings.post_body_timeout)
    except TimeoutError:
        return refusal(408, "body_timeout", f"the {what}'s body did not arrive within {service.settings.post_body_timeout:g} s "
                                            "(post_body_timeout)")
    if body is None:
        return refusal(413, "too_large", f"{what} exceeds the limit of {limit} bytes")
    return body


async def receive_post(request: Any, service: FlashWsService, admission: Admission) -> Response:
    body = await admitted_body(request, service, admission, "message")
    if isinstance(body, Response):
        return body
    token = request.headers.get(SESSION_HEADER)
    if not token:
        return refusal(400, "unknown_session", f"missing the {SESSION_HEADER} header")
    answer = await deliver(request, service, admission, token, body)
    return Response(status=204) if answer is None else refusal(answer.status, answer.code, answer.message)


@dataclass(frozen=True)
class PostRefusal:
    """Why the message of one session was not taken (the HTTP answer of a single POST)."""

    status: int
    code: str
    message: str


async def deliver(request: Any, service: FlashWsService, admission: Admission, token: str,
                  body: bytes | str) -> PostRefusal | None:
    """Hand one message of the session ``token`` (for this request's browser) to it, through the
    admission guard's frame checks; None when it was taken."""
    key, _ = admission.browser_key(request)
    try:
        live = await service.store.get(token, admission.binding(request, key))
    except SessionStoreError as exc:
        return PostRefusal(503, "store_unavailable", str(exc))
    if live is None:
        return PostRefusal(404, "unknown_session", "no such session (expired, or never opened): open a new event stream")
    try:
        frames: list[Frame] | None = admission.read(body)
    except ProtocolError:
        frames = None  # the session refuses the whole message itself (below), and counts it
    refused = await admission.admit_frames(request, frames or ())
    if refused:
        return PostRefusal(refused.status, refused.code, refused.message)
    try:
        commands = await service.receive(live, body, frames)
    except SessionStoreError as exc:
        if isinstance(exc, StoreUnavailable):
            return PostRefusal(503, "store_unavailable", str(exc))
        return PostRefusal(404, "unknown_session", f"{exc}: open a new event stream")
    misbehaved = next((c for c in commands if isinstance(c, Misbehaved)), None)
    if misbehaved is not None:  # the session is closed: the page gives up (close-code table)
        return PostRefusal(403, "policy", misbehaved.reason)
    refused_frames = [c for c in commands if isinstance(c, Refused) and c.code in ("bad_frame", "too_large") and c.run is None]
    if refused_frames:
        return PostRefusal(413 if refused_frames[0].code == "too_large" else 400, refused_frames[0].code, refused_frames[0].message)
    return None
