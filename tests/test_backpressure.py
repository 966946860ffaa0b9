"""A page that falls behind: the replay buffer stays bounded and the generator waits (or, in the
latest-value mode, skips to the latest values)."""

from __future__ import annotations

import asyncio
import json

import websockets

from tests.conftest import eventually

APP = "tests.apps.basic"
LIMIT = 20_000  # replay buffer bytes of the test app
FRAME = 1_060  # about one 1 KB update frame
N = 200


async def _start_without_acks(server, cb: str, n: int):
    ws = await websockets.connect(server.ws_url, origin=server.url, max_size=None)
    await ws.send(json.dumps([{"t": "hello", "v": 1, "session": None, "seq": 0}]))
    await ws.recv()
    await ws.send(json.dumps([{"t": "start", "run": 1, "cb": f"{APP}.{cb}", "args": [n]}]))
    return ws


async def _drain(ws) -> list[dict]:
    """Read what the server sent so far (a page that reads but does not acknowledge)."""
    frames = []
    while True:
        try:
            message = await asyncio.wait_for(ws.recv(), 0.5)
        except TimeoutError:
            return frames
        frames.extend(json.loads(message))


async def test_a_page_that_does_not_acknowledge_holds_the_generator_at_a_bounded_buffer(serve):
    server = serve(f"{APP}:server", FLASH_WS_TEST_REPLAY_BYTES=str(LIMIT))
    ws = await _start_without_acks(server, "flood", N)
    await eventually(lambda: server.get_json("/test/sessions")[0]["buffered_bytes"] >= LIMIT, what="a full buffer")
    frames = await _drain(ws)
    held = server.get_json("/test/events")["flood yields"]
    stats = server.get_json("/test/sessions")[0]
    assert stats["buffered_bytes"] < LIMIT + 2 * FRAME  # bounded: one frame past the limit at most
    assert held <= LIMIT // FRAME + 3  # the generator waits at its yield
    assert len(frames) == stats["buffered_frames"]  # everything produced was sent, none was dropped
    # acknowledging frees room: the generator goes on, to the end, every update in order
    seen = [f["props"][0][1]["children"][:6] for f in frames if f["t"] == "update"]
    last = max(f["seq"] for f in frames if "seq" in f)
    while not any(f["t"] == "end" for f in frames):
        await ws.send(json.dumps([{"t": "ack", "seq": last}]))
        frames = await _drain(ws)
        seen += [f["props"][0][1]["children"][:6] for f in frames if f["t"] == "update"]
        last = max([last] + [f["seq"] for f in frames if "seq" in f])
    assert seen == [f"{i:06d}" for i in range(N)]
    await ws.close()


async def test_latest_value_mode_never_waits_and_keeps_the_latest(serve):
    server = serve(f"{APP}:server", FLASH_WS_TEST_REPLAY_BYTES=str(LIMIT))
    ws = await _start_without_acks(server, "flood_latest", 1000)
    await eventually(lambda: server.get_json("/test/events").get("latest yields") == 1000,
                     what="the generator to run to its end without waiting")
    frames = await _drain(ws)
    stats = server.get_json("/test/sessions")[0]
    assert stats["buffered_bytes"] < LIMIT + 2 * FRAME
    await ws.send(json.dumps([{"t": "ack", "seq": max(f["seq"] for f in frames if "seq" in f)}]))
    frames += await _drain(ws)
    updates = [f["props"][0][1]["children"][:6] for f in frames if f["t"] == "update"]
    assert updates[-1] == "000999"  # the latest value arrives
    assert len(updates) < 1000 and updates == sorted(updates)  # skipped values, never out of order
    assert frames[-1]["t"] == "end" and frames[-1]["reason"] == "done"
    await ws.close()
