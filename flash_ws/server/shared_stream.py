"""One event stream for the sessions of every tab of a browser (docs/protocol.md, "Shared event stream").

Over HTTP/1.1 a browser keeps at most six connections per host for all its tabs; one EventSource per
tab deadlocks the sixth. The page's SharedWorker (or leader tab) opens one stream for all of them:
``GET .../_flash_ws/shared?v=1&lane=<n>:<sid>:<seq>&lane=...``, each ``lane`` the hello of one tab's
session (``sid`` empty for a new session), numbered by the worker. Every event is
``data: <n> <message>`` (a message of lane ``n``, as the single stream would carry it) or
``data: <n> {"code": <close code>, "reason": ...}`` (lane ``n`` ended: the close-code table says what
its tab does). Each lane is a connection of its own: its own heartbeat, its own replacement.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from ..protocol import Hello
from ..protocol.refusals import Refusal
from . import observe
from .gate import Gate, refusal_for
from .requests import ClientRequest, HttpAnswer
from .service import FlashWsService
from .sessions import Connection, SessionHandle, SessionStoreError
from .sse import SSE_HEADERS, refusal_answer

_LANE = re.compile(r"(\d{1,6}):([A-Za-z0-9_-]{0,64}):(\d{1,18})")


def lanes_from_query(req: ClientRequest, max_lanes: int) -> dict[int, Hello]:
    """The hello of every lane of ``?v=1&lane=<n>:<sid>:<seq>...``; ValueError says what is wrong."""
    try:
        version = int(req.arg("v", "0"))
    except ValueError:
        raise ValueError("'v' must be an integer") from None
    entries = req.query("lane")
    if not entries:
        raise ValueError("no 'lane' parameter (expected lane=<n>:<sid>:<seq>)")
    if len(entries) > max_lanes:
        raise ValueError(f"{len(entries)} lanes, over the limit of {max_lanes} (max_shared_sessions)")
    lanes: dict[int, Hello] = {}
    for entry in entries:
        match = _LANE.fullmatch(entry)
        if match is None:
            raise ValueError(f"bad lane {entry[:40]!r} (expected <n>:<sid>:<seq>)")
        number = int(match[1])
        if number in lanes:
            raise ValueError(f"lane {number} named twice")
        lanes[number] = Hello(match[2] or None, int(match[3]), version)
    return lanes


class _LaneWakeup(asyncio.Event):
    """A lane connection's wakeup that also wakes the stream carrying it."""

    def __init__(self, stream: asyncio.Event) -> None:
        super().__init__()
        self._stream = stream

    def set(self) -> None:
        super().set()
        self._stream.set()


@dataclass
class _Lane:
    number: int
    live: SessionHandle
    connection: Connection
    watchdog: asyncio.Task[str] | None = field(default=None)


def lane_event(number: int, message: str) -> bytes:
    return f"data: {number} {message}\n\n".encode()


def lane_closed_event(number: int, code: int, reason: str) -> bytes:
    return lane_event(number, json.dumps({"code": int(code), "reason": reason[:120]}))


def lane_refused_event(number: int, refusal: Refusal) -> bytes:
    """A lane that ends: its tab reads the close code as a WebSocket's (tests/vectors/close_codes.json)."""
    return lane_closed_event(number, refusal.close_code, refusal.message)


async def open_shared_stream(req: ClientRequest, gate: Gate) -> HttpAnswer:
    """Answer ``GET .../_flash_ws/shared``: bind one connection per lane and stream them all."""
    refused = await gate.admit(req, "sse")
    if refused:
        return refusal_answer(refused)
    try:
        hellos = lanes_from_query(req, gate.settings.max_shared_sessions)
    except ValueError as exc:
        return refusal_answer(Refusal("bad_frame", f"bad shared stream query: {exc}"))
    key, cookie = gate.browser_key(req)
    wakeup = asyncio.Event()
    lanes: list[_Lane] = []
    refusals: list[bytes] = []
    for number, hello in hellos.items():
        connection = Connection(f"lane {number} of a shared event stream from {req.remote_addr}")
        connection.wakeup = _LaneWakeup(wakeup)
        opened = await gate.open(req, hello, connection, key)
        if isinstance(opened, Refusal):
            if opened.code == "unsupported_version":  # the same for every lane: refuse the stream
                return refusal_answer(opened)
            refusals.append(lane_refused_event(number, opened))
            continue
        lanes.append(_Lane(number, opened[0], connection))
    headers = SSE_HEADERS + ([("Set-Cookie", cookie)] if cookie else [])
    return HttpAnswer(200, headers, _events(gate.service, lanes, refusals, wakeup))


async def _events(service: FlashWsService, lanes: list[_Lane], refusals: list[bytes],
                  wakeup: asyncio.Event) -> AsyncIterator[bytes]:
    """The stream's body: every lane's messages as they come; a lane that ends says so and leaves."""
    settings = service.settings
    open_lanes = {lane.number: lane for lane in lanes}
    for lane in lanes:
        lane.watchdog = service.watch(lane.live, lane.connection)
        lane.watchdog.add_done_callback(lambda _: wakeup.set())
    try:
        yield b": flash_ws\n\n" + b"".join(refusals)
        while open_lanes:
            try:
                await asyncio.wait_for(wakeup.wait(), settings.heartbeat_interval)
            except TimeoutError:
                yield b": idle\n\n"
                continue
            wakeup.clear()
            chunk = bytearray()
            for lane in list(open_lanes.values()):
                ended: Refusal | None = None
                if lane.connection.wakeup.is_set() and not lane.connection.replaced:
                    try:
                        for message in await lane.live.take_messages(lane.connection):
                            chunk += lane_event(lane.number, message)
                            observe.message_sent(lane.connection, message)
                    except SessionStoreError as exc:
                        ended = refusal_for(exc)
                if lane.connection.replaced:
                    ended = Refusal("replaced", "replaced by a newer connection of the same session")
                elif lane.watchdog is not None and lane.watchdog.done() and lane.watchdog.result() == "stalled":
                    ended = service.stalled_refusal()
                elif lane.watchdog is not None and lane.watchdog.done():
                    observe.heartbeat_timeout(lane.connection)
                    ended = Refusal("heartbeat_timeout", "heartbeat timeout")
                if ended is not None:
                    chunk += lane_refused_event(lane.number, ended)
                    _end(service, open_lanes.pop(lane.number))
            if chunk:
                yield bytes(chunk)
    finally:
        for lane in open_lanes.values():
            _end(service, lane)


def _end(service: FlashWsService, lane: _Lane) -> None:
    if lane.watchdog is not None:
        lane.watchdog.cancel()
    service.detach(lane.live, lane.connection, page_left=False)
