"""When the reference client acks, against a scripted WebSocket server on loopback: by count as
messages come, and by time (``ack_interval``) when no further message comes."""

from __future__ import annotations

import json
from typing import Any

from websockets.asyncio.server import ServerConnection, serve

from flash_ws.client import FlashWsClient
from tests.conftest import eventually

WELCOME = [{"t": "welcome", "v": 1, "session": "tok", "epoch": "e", "resumed": False, "seq": 0, "run": 0}]


def _updates(first: int, count: int, run: int) -> str:
    return json.dumps([{"t": "update", "seq": seq, "run": run, "props": [["out", {"children": seq}]]}
                       for seq in range(first, first + count)])


class UpdatingServer:
    """Welcomes the client, answers its first start with ``batches`` (messages of that many
    updates), then only listens; ``received`` holds every frame the client sent."""

    def __init__(self, batches: list[int]) -> None:
        self.batches = batches
        self.received: list[dict[str, Any]] = []
        self.connections = 0

    async def _serve(self, ws: ServerConnection) -> None:
        self.connections += 1
        async for message in ws:
            for frame in json.loads(message):
                self.received.append(frame)
                if frame["t"] == "hello":
                    await ws.send(json.dumps(WELCOME))
                elif frame["t"] == "start":
                    seq = 1
                    for count in self.batches:
                        await ws.send(_updates(seq, count, frame["run"]))
                        seq += count

    def acks(self) -> list[int]:
        return [frame["seq"] for frame in self.received if frame["t"] == "ack"]

    def serve(self):
        return serve(self._serve, "127.0.0.1", 0)


def _url(ws_server: Any) -> str:
    return f"http://127.0.0.1:{ws_server.sockets[0].getsockname()[1]}/"


async def test_a_lone_update_is_acked_once_its_interval_is_over() -> None:
    server = UpdatingServer([1])
    async with server.serve() as ws_server, FlashWsClient.connect(_url(ws_server), ack_interval=0.05) as client:
        run = await client.start("app.cb", [])
        await eventually(lambda: run.queue.qsize() == 1, what="the update")
        await eventually(lambda: server.acks() == [1], what="the ack of the lone update")
        assert server.connections == 1  # receiving went on: nothing was cut or reopened


async def test_a_message_of_many_updates_is_acked_by_count_and_comes_as_one_apply() -> None:
    server = UpdatingServer([100])
    async with server.serve() as ws_server, FlashWsClient.connect(_url(ws_server), ack_interval=3600) as client:
        run = await client.start("app.cb", [])
        await eventually(lambda: server.acks() == [100], what="the ack of the whole message")
        apply = run.queue.get_nowait()
        assert [pair[1]["children"] for pair in apply.props] == list(range(1, 101))
        assert run.queue.empty()
