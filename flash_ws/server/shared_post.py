"""The uplink of a shared event stream: one POST carries the messages of several tabs' sessions.

``POST .../_flash_ws/posts`` with a JSON body ``[[token, message], ...]`` (``message`` a JSON array
of frames, as a single POST's body) is answered ``200`` with ``{"answers": [...]}``: one
``{"status": ...}`` per entry, in order, with ``code`` and ``message`` when it was not taken; each
status means what it means for a single POST (docs/protocol.md, "HTTP answers"). Entries are
delivered in order, each through the same admission guard as a single POST.
"""

from __future__ import annotations

import json
from typing import Any

from ..protocol.refusals import Refusal
from .gate import Gate
from .post import admitted_body, deliver
from .requests import ClientRequest, HttpAnswer
from .sse import refusal_answer


def entries_of(body: bytes, max_entries: int) -> list[tuple[str, str]]:
    """The ``(token, message)`` pairs of a batch body; ValueError says what is wrong."""
    try:
        batch = json.loads(body)
    except (ValueError, RecursionError):
        raise ValueError("the body is not JSON") from None
    if not isinstance(batch, list) or not batch:
        raise ValueError("expected a non-empty JSON array of [token, message] pairs")
    if len(batch) > max_entries:
        raise ValueError(f"{len(batch)} entries, over the limit of {max_entries} (max_shared_sessions)")
    entries = []
    for index, entry in enumerate(batch):
        if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], str) and entry[0]):
            raise ValueError(f"entry {index} is not a [token, message] pair")
        entries.append((entry[0], json.dumps(entry[1], separators=(",", ":"))))
    return entries


async def receive_posts(req: ClientRequest, gate: Gate) -> HttpAnswer:
    body = await admitted_body(req, gate, "batch")
    if isinstance(body, Refusal):
        return refusal_answer(body)
    try:
        entries = entries_of(body, gate.settings.max_shared_sessions * 4)
    except ValueError as exc:
        return refusal_answer(Refusal("bad_frame", f"bad batch: {exc}"))
    answers: list[dict[str, Any]] = []
    for token, message in entries:
        refused = await deliver(req, gate, token, message)
        answers.append({"status": 204} if refused is None else {"status": refused.status, **refused.body()})
    return HttpAnswer(200, [("Content-Type", "application/json")], json.dumps({"answers": answers}).encode())
