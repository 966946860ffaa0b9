"""Log lines about clients: sessions named by their public id, client strings escaped and cut,
refusals written once per connection with a count."""

from __future__ import annotations

import logging
from weakref import WeakKeyDictionary

from ..protocol import Refused
from ..protocol.excerpt import clipped, excerpt
from ..protocol.tokens import session_id

log = logging.getLogger("flash_ws")


def session_name(token: str) -> str:
    """How logs name a session: the public id of its token (``<sid>.<secret>``), never the token.
    A token without a public id is named by its first 6 characters."""
    return session_id(token) if "." in token else f"{token[:6]}…"


class RefusalLog:
    """Refused frames, logged once per connection: the first in full, the others as one count when
    ``summarize`` is called (the connection ended). ``holder`` is the connection (or the session,
    when none is attached); entries vanish with it."""

    def __init__(self) -> None:
        self._counts: WeakKeyDictionary[object, int] = WeakKeyDictionary()

    def refused(self, holder: object, token: str, refusal: Refused) -> None:
        count = self._counts.get(holder, 0)
        self._counts[holder] = count + 1
        if count == 0:
            where = f" ({excerpt(refusal.cb)} run {refusal.run})" if refusal.cb is not None else ""
            log.warning("flash_ws: refused from session %s%s: %s: %s (further refusals on this connection are counted)",
                        session_name(token), where, refusal.code, clipped(refusal.message))

    def summarize(self, holder: object, token: str) -> None:
        more = self._counts.pop(holder, 0) - 1
        if more > 0:
            log.warning("flash_ws: %d more refused frame(s) from session %s on %r", more, session_name(token), holder)
