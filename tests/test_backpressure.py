"""A page that falls behind: the replay buffer stays bounded and the generator waits (or, in the
latest-value mode, skips to the latest values). In-process (tests/inprocess.py): the page reads
but does not acknowledge, so the bound is the replay buffer's, not a socket's."""

from __future__ import annotations

import asyncio
import json

from tests.conftest import eventually

APP = "tests.apps.basic"
LIMIT = 20_000  # replay buffer bytes of the test app
FRAME = 1_060  # about one 1 KB update frame
N = 200


class Page:
    """A page on an in-memory WebSocket that reads what it is sent, acknowledging only when told.
    One read is kept waiting across ``drain`` calls, never cancelled: a message that arrives just
    as a wait gives up is read by the next drain, not lost with a cancelled read."""

    def __init__(self, ws) -> None:
        self.ws = ws
        self.pending: asyncio.Future | None = None

    async def send(self, text: str) -> None:
        await self.ws.send(text)

    async def drain(self) -> list[dict]:
        """Read what the server sent so far (0.5 s without a message: nothing more for now)."""
        frames = []
        while True:
            if self.pending is None:
                self.pending = asyncio.ensure_future(self.ws.recv())
            done, _ = await asyncio.wait({self.pending}, timeout=0.5)
            if not done:
                return frames
            message, self.pending = self.pending.result(), None
            frames.extend(json.loads(message))

    async def close(self) -> None:
        if self.pending is not None:
            self.pending.cancel()
        await self.ws.close()


async def _start_without_acks(server, cb: str, n: int) -> Page:
    ws = await server.asgi.websocket("/_flash_ws/ws", {"Origin": server.url})
    await ws.send(json.dumps([{"t": "hello", "v": 1, "session": None, "seq": 0}]))
    await ws.recv()
    await ws.send(json.dumps([{"t": "start", "run": 1, "cb": f"{APP}.{cb}", "args": [n]}]))
    return Page(ws)


async def _buffer_full(server) -> bool:
    """Whether the in-process app's session holds LIMIT bytes (for ``eventually``, which awaits it)."""
    return (await server.get_json("/test/sessions"))[0]["buffered_bytes"] >= LIMIT


async def test_a_page_that_does_not_acknowledge_holds_the_generator_at_a_bounded_buffer(serve_in_process):
    server = await serve_in_process(f"{APP}:server", FLASH_WS_TEST_REPLAY_BYTES=str(LIMIT))
    ws = await _start_without_acks(server, "flood", N)
    await eventually(lambda: _buffer_full(server), what="a full buffer")
    frames = await ws.drain()
    held = server.events()["flood yields"]
    stats = (await server.get_json("/test/sessions"))[0]
    assert stats["buffered_bytes"] < LIMIT + 2 * FRAME  # bounded: one frame past the limit at most
    assert held <= LIMIT // FRAME + 3  # the generator waits at its yield
    assert len(frames) == stats["buffered_frames"]  # everything produced was sent, none was dropped
    # acknowledging frees room: the generator goes on, to the end, every update in order
    seen = [f["props"][0][1]["children"][:6] for f in frames if f["t"] == "update"]
    last = max(f["seq"] for f in frames if "seq" in f)
    while not any(f["t"] == "end" for f in frames):
        await ws.send(json.dumps([{"t": "ack", "seq": last}]))
        frames = await ws.drain()
        seen += [f["props"][0][1]["children"][:6] for f in frames if f["t"] == "update"]
        last = max([last] + [f["seq"] for f in frames if "seq" in f])
    assert seen == [f"{i:06d}" for i in range(N)]
    await ws.close()


async def test_latest_value_mode_never_waits_and_keeps_the_latest(serve_in_process):
    server = await serve_in_process(f"{APP}:server", FLASH_WS_TEST_REPLAY_BYTES=str(LIMIT))
    ws = await _start_without_acks(server, "flood_latest", 1000)
    await eventually(lambda: server.events().get("latest yields") == 1000,
                     what="the generator to run to its end without waiting")
    frames = await ws.drain()
    stats = (await server.get_json("/test/sessions"))[0]
    assert stats["buffered_bytes"] < LIMIT + 2 * FRAME
    await ws.send(json.dumps([{"t": "ack", "seq": max(f["seq"] for f in frames if "seq" in f)}]))
    frames += await ws.drain()
    updates = [f["props"][0][1]["children"][:6] for f in frames if f["t"] == "update"]
    assert updates[-1] == "000999"  # the latest value arrives
    assert len(updates) < 1000 and updates == sorted(updates)  # skipped values, never out of order
    assert frames[-1]["t"] == "end" and frames[-1]["reason"] == "done"
    await ws.close()
