"""flash_ws.server.stalls: since when a connection's session has made no progress (no clock of its own)."""

from __future__ import annotations

from flash_ws.protocol import Hello, Limits, ServerSession
from flash_ws.protocol.frames import Ack, Start
from flash_ws.server.sessions import LiveSession
from flash_ws.server.stalls import StallClock
from tests.test_server_session import send


def full_session() -> LiveSession:
    """A session whose page took its output and acknowledged none of it: no room left."""
    core = ServerSession("tok", "ep", frozenset({"a"}), Limits(replay_buffer_bytes=100))
    core.attach(Hello())
    send(core, Start(1, "a", []))
    while core.replay.bytes < 300:  # three times its bound: one acknowledged frame leaves it full
        core.emit_update(1, '[["out",{"k":1}]]')
    core.take_output()
    return LiveSession(core)


def test_a_session_without_room_and_without_acknowledgements_stalls_after_the_timeout() -> None:
    live, clock = full_session(), StallClock(60.0)
    assert not clock.stalled(live, 1000.0)
    assert not clock.stalled(live, 1059.0)
    assert clock.stalled(live, 1060.0)


def test_an_acknowledgement_that_frees_frames_starts_the_clock_again() -> None:
    live, clock = full_session(), StallClock(60.0)
    clock.stalled(live, 1000.0)
    send(live.core, Ack(1))  # one frame: still no room, but the page reads
    assert not live.core.has_room()
    assert not clock.stalled(live, 1059.0) and not clock.stalled(live, 1118.0)
    assert clock.stalled(live, 1119.0)


def test_a_session_with_room_is_never_stalled() -> None:
    live, clock = full_session(), StallClock(1.0)
    clock.stalled(live, 0.0)
    send(live.core, Ack(live.core.replay.last_seq))
    assert not clock.stalled(live, 10.0) and not clock.stalled(live, 20.0)
