"""The fallback's upstream: the page POSTs its frames (start, cancel, ack, bye) to its session.

``POST .../_flash_ws/post`` with the session token in the ``X-Flash-Ws-Session`` header and a
message (a JSON array of frames) as body. 204 when accepted; otherwise a 4xx with a JSON
``{"code", "message"}`` saying what was wrong.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from quart import Response

from ..protocol import Refused
from ..protocol.tokens import BROWSER_KEY_COOKIE, binding
from .guards import Hook, origin_refusal, run_hooks
from .service import FlashWsService
from .sessions import SessionStoreError, StoreUnavailable
from .sse import refusal

SESSION_HEADER = "X-Flash-Ws-Session"


async def receive_post(request: Any, service: FlashWsService, allowed_origins: Iterable[str],
                       message_hooks: list[Hook]) -> Response:
    why = origin_refusal(request.headers.get("origin"), request.headers.get("host"), allowed_origins)
    if why:
        return refusal(403, "origin", why)
    if request.mimetype != "application/json":
        return refusal(415, "bad_frame", f"expected a JSON body (application/json), got {request.mimetype or 'none'!r}")
    limit = service.settings.limits.max_message_bytes
    if request.content_length is not None and request.content_length > limit:
        return refusal(413, "too_large", f"message of {request.content_length} bytes exceeds the limit of {limit} bytes")
    token = request.headers.get(SESSION_HEADER)
    if not token:
        return refusal(400, "unknown_session", f"missing the {SESSION_HEADER} header")
    try:
        live = await service.store.get(token, binding(request.cookies.get(BROWSER_KEY_COOKIE) or ""))
    except SessionStoreError as exc:
        return refusal(503, "store_unavailable", str(exc))
    if live is None:
        return refusal(404, "unknown_session", "no such session (expired, or never opened): open a new event stream")
    text = await request.get_data(as_text=True)
    if message_hooks:
        try:
            frames = json.loads(text)
        except ValueError:
            frames = []
        for frame in frames if isinstance(frames, list) else [frames]:
            rejected = await run_hooks(message_hooks, request, frame)
            if rejected:
                return refusal(403, f"hook_{rejected[0]}", rejected[1])
    try:
        commands = await service.receive(live, text)
    except SessionStoreError as exc:
        if isinstance(exc, StoreUnavailable):
            return refusal(503, "store_unavailable", str(exc))
        return refusal(404, "unknown_session", f"{exc}: open a new event stream")
    refused = [c for c in commands if isinstance(c, Refused) and c.code in ("bad_frame", "too_large") and c.run is None]
    if refused:
        return refusal(413 if refused[0].code == "too_large" else 400, refused[0].code, refused[0].message)
    return Response(status=204)
