"""Stalled sessions: a page whose replay buffer stays without room while it acknowledges nothing for
``stalled_session_timeout`` seconds is ended, and its memory goes back to the process budget.

A page that reads acknowledges (the buffer's first frame moves on), however slowly; a page whose
connection dropped is not watched (its session lives ``resume_grace`` more, then expires). What is
left is a client that keeps its connection open and never acknowledges: ended with the refusal
``stalled`` (WebSocket close 1008, HTTP 403: the page reports it and gives up, it does not loop).
A page connected through another worker than its session's owner (Redis) is judged by the owner
(``redis_stalls``), which tells the connection's worker: its clock then says stalled at once."""

from __future__ import annotations

from ..protocol.refusals import Refusal
from .sessions import LiveSession, SessionHandle


class StallClock:
    """Since when one connection's session has made no progress: its buffer without room and the
    same first frame unacknowledged; or the session's owner (another worker) ended it as stalled."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._since: float | None = None
        self._first_seq = 0

    def stalled(self, live: SessionHandle, now: float) -> bool:
        """Whether ``live`` has made no progress for ``timeout`` seconds up to ``now``."""
        if live.connection is not None and live.connection.stalled_by_owner:
            return True
        if not isinstance(live, LiveSession) or live.core.has_room():
            self._since = None
            return False
        first = live.core.replay.first_seq
        if self._since is None or first != self._first_seq:
            self._since, self._first_seq = now, first
        return now - self._since >= self.timeout


def stalled_refusal(timeout: float) -> Refusal:
    return Refusal("stalled", f"this page acknowledged nothing for {timeout:g} s while its replay buffer was full "
                              "(stalled_session_timeout): its session is ended")
