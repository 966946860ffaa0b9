"""Who writes an update onto the page's WebSocket (flash_ws/server/connection.py): the generator's own
task while the page keeps up, the connection's writer otherwise (a burst gathers into few
messages); one of them at a time, in sequence order; a write the generator's task cannot finish
closes the connection so that the page resumes exactly."""

from __future__ import annotations

import asyncio
import json

import pytest

from flash_ws import stream_props
from flash_ws.protocol import Hello, Limits, ServerSession, decode_message
from flash_ws.protocol.frames import Start, Update
from flash_ws.server import connection as connection_module
from flash_ws.server import websocket
from flash_ws.server.runner import _emit
from flash_ws.server.sessions import Connection, LiveSession, SessionMoved


class Port:
    """A WebSocketPort that notes each message with the name of the task that sent it; while
    ``hold`` is set, a send waits for it to be cleared (a socket whose buffer is full)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []
        self.hold: asyncio.Event | None = None
        self.sending = asyncio.Event()

    async def send(self, message: str) -> None:
        self.sending.set()
        if self.hold is not None:
            await self.hold.wait()
        task = asyncio.current_task()
        self.sent.append((task.get_name() if task else "", message))

    async def close(self, code: int, reason: str) -> None:
        pass

    def seqs(self) -> list[list[int]]:
        return [[f.seq for f in decode_message(text, "server") if isinstance(f, Update)] for _task, text in self.sent]


async def connected() -> tuple[LiveSession, Connection, Port, asyncio.Task[None]]:
    """A session with run 1 active, its connection's writer running and idle."""
    core = ServerSession("tok", "ep", frozenset({"cb"}), Limits())
    core.attach(Hello())
    core.take_output()  # the welcome
    core.receive_frames([Start(1, "cb", [])])
    core.take_output()
    live, connection, port = LiveSession(core), Connection("test"), Port()
    live.connection = connection
    writer = asyncio.get_running_loop().create_task(websocket._write(port, live, connection), name="writer")
    while not connection.writer_idle:
        await asyncio.sleep(0)
    return live, connection, port, writer


def emit(live: LiveSession, k: int, name: str) -> asyncio.Task[bool]:
    return asyncio.get_running_loop().create_task(_emit(live, 1, stream_props("out", {"k": k})), name=name)


async def settle(connection: Connection) -> None:
    """Until the writer is idle with nothing left to take."""
    while not connection.writer_idle or connection.wakeup.is_set() or connection.sending.locked():
        await asyncio.sleep(0)


async def test_while_the_page_keeps_up_each_update_is_written_by_its_generators_task(monkeypatch):
    monkeypatch.setattr(connection_module, "GATHER_WINDOW", 0.0)  # every write counts as long ago
    live, connection, port, writer = await connected()
    for k in range(1, 4):
        await emit(live, k, f"producer {k}")
        await settle(connection)
    assert port.sent and [task for task, _text in port.sent] == ["producer 1", "producer 2", "producer 3"]
    assert port.seqs() == [[1], [2], [3]]
    assert json.loads(port.sent[0][1])[0]["props"] == [["out", {"k": 1}]]
    writer.cancel()


async def test_a_burst_goes_through_the_writer_and_gathers_into_few_messages(monkeypatch):
    monkeypatch.setattr(connection_module, "GATHER_WINDOW", 3600.0)  # every write counts as recent

    async def burst() -> None:
        for k in range(1, 51):
            await _emit(live, 1, stream_props("out", {"k": k}))
            await asyncio.sleep(0)

    live, connection, port, writer = await connected()
    await asyncio.get_running_loop().create_task(burst(), name="producer")
    await settle(connection)
    assert [seq for seqs in port.seqs() for seq in seqs] == list(range(1, 51))
    assert len(port.sent) < 10
    writer.cancel()


async def test_while_a_write_waits_the_next_update_waits_behind_it_in_order(monkeypatch):
    monkeypatch.setattr(connection_module, "GATHER_WINDOW", 0.0)
    live, connection, port, writer = await connected()
    port.hold = asyncio.Event()
    first = emit(live, 1, "producer 1")
    await port.sending.wait()  # the first update's own task is writing it, and waits
    second = emit(live, 2, "producer 2")
    await second  # queued: not written by its task, the writer waits for the first write
    assert port.sent == []
    port.hold.set()
    await first
    await settle(connection)
    assert port.seqs() == [[1], [2]]
    assert [task for task, _text in port.sent] == ["producer 1", "writer"]
    writer.cancel()


async def test_a_write_interrupted_by_its_runs_cancel_closes_the_connection_and_the_page_can_resume(monkeypatch):
    monkeypatch.setattr(connection_module, "GATHER_WINDOW", 0.0)
    live, connection, port, writer = await connected()
    port.hold = asyncio.Event()
    producer = emit(live, 1, "producer")
    await port.sending.wait()
    producer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await producer
    with pytest.raises(SessionMoved):  # the transport closes the socket with session_moved: the page reconnects
        await writer
    assert port.sent == []
    assert live.core.can_resume(Hello("tok", seq=0))  # the update it may have missed is still held
