"""Uncompressed messages written as frames straight to hypercorn's stream
(flash_ws/backends/hypercorn_frames.py): what a client reads of them, on wsproto and through a real
hypercorn on loopback, and when Quart's own way is kept."""

from __future__ import annotations

import asyncio
import contextlib
import math
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypercorn.asyncio import serve
from hypercorn.config import Config
from hypercorn.protocol.ws_stream import ASGIWebsocketState
from quart import Quart, websocket
from quart.signals import websocket_sent
from websockets.asyncio.client import connect
from wsproto.connection import Connection, ConnectionState, ConnectionType
from wsproto.events import BytesMessage, Message, TextMessage
from wsproto.extensions import PerMessageDeflate

from flash_ws.backends import hypercorn_deflate
from flash_ws.backends.hypercorn_deflate import SizedDeflate
from flash_ws.backends.hypercorn_frames import BINARY, TEXT, FrameSender, frame_header, uncompressed_limit
from flash_ws.backends.quart import QuartSocket

OFFER = "permessage-deflate; client_max_window_bits"


@pytest.fixture(autouse=True)
def default_threshold():
    yield
    hypercorn_deflate.install(hypercorn_deflate.DEFAULT_MIN_BYTES)


def framed(message: str | bytes) -> bytes:
    data = message.encode() if isinstance(message, str) else message
    return frame_header(TEXT if isinstance(message, str) else BINARY, len(data)) + data


@pytest.mark.parametrize("length", [0, 1, 125, 126, 65535, 65536, 70000])
@pytest.mark.parametrize("kind", [str, bytes])
def test_a_client_reads_each_frame_as_the_message_it_carries(length, kind):
    message = kind("é" * (length // 2) + "x" * (length % 2)) if kind is str else bytes(range(256)) * (length // 256) + b"y" * (length % 256)
    client = Connection(ConnectionType.CLIENT)
    client.receive_data(framed(message))
    events = [event for event in client.events() if isinstance(event, Message)]
    assert [type(event) for event in events] == [TextMessage if kind is str else BytesMessage]
    assert events[0].data == message and events[0].message_finished


def test_frames_mixed_with_wsprotos_compressed_messages_keep_the_compression_context():
    SizedDeflate.min_bytes = 300
    server_ext, client_ext = SizedDeflate(), PerMessageDeflate()
    client_ext.finalize(server_ext.accept(OFFER))
    server = Connection(ConnectionType.SERVER, extensions=[server_ext])
    client = Connection(ConnectionType.CLIENT, extensions=[client_ext])
    texts = [("x" * 500 if seq % 3 == 0 else "small") + f" {seq}" for seq in range(40)]
    for text in texts:  # as FrameSender does: small ones framed here, the others by wsproto, compressed
        client.receive_data(framed(text) if len(text) < 300 else server.send(TextMessage(data=text)))
    assert [event.data for event in client.events() if isinstance(event, TextMessage)] == texts


def test_the_size_from_which_a_connection_compresses():
    def connection(*extensions: PerMessageDeflate) -> Connection:
        for extension in extensions:
            extension.accept(OFFER)  # negotiated (wsproto keeps only the extensions that are)
        return Connection(ConnectionType.SERVER, extensions=list(extensions))

    SizedDeflate.min_bytes = 2048
    assert uncompressed_limit(connection()) == math.inf  # no permessage-deflate: every message is framed here
    assert uncompressed_limit(Connection(ConnectionType.SERVER, extensions=[SizedDeflate()])) == math.inf  # offered, not negotiated
    assert uncompressed_limit(connection(SizedDeflate())) == 2048
    assert uncompressed_limit(connection(PerMessageDeflate())) == 0  # not flash_ws's: it compresses everything
    assert uncompressed_limit(object()) == 0  # wsproto laid out otherwise: Quart's way for every message


@contextlib.asynccontextmanager
async def hypercorn_serving(app: Quart) -> AsyncIterator[str]:
    """``app`` served by a real hypercorn in this test's loop, on a loopback socket bound and
    listening before hypercorn starts: a client may connect at once (the kernel queues it)."""
    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    listening.listen(16)
    port = listening.getsockname()[1]
    config = Config()
    config.bind = [f"fd://{listening.detach()}"]  # hypercorn's from here on: it closes it
    config.accesslog = config.errorlog = None
    stop = asyncio.Event()
    server = asyncio.get_running_loop().create_task(serve(app, config, shutdown_trigger=stop.wait))
    try:
        yield f"ws://127.0.0.1:{port}/ws"
    finally:
        stop.set()
        await asyncio.wait_for(server, 10)


MESSAGES = ["a" * 10, "b" * 5000, "c" * 10, "d" * 200_000, "é" * 100, b"\x00\x01" * 40]


def sending_app(seen: dict[str, Any]) -> Quart:
    app = Quart(__name__)

    @app.websocket("/ws")
    async def ws() -> None:
        sock = QuartSocket(websocket)
        await sock.accept([])
        seen["sender"] = sock.send
        for message in MESSAGES:
            await sock.send(message)
        await websocket.receive()  # until the client leaves

    return app


async def receive_all(url: str) -> list[str | bytes]:
    async with connect(url, max_size=None) as client:  # offers permessage-deflate, as browsers do
        return [await asyncio.wait_for(client.recv(), 10) for _ in MESSAGES]


async def test_hypercorn_carries_frames_and_compressed_messages_in_order():
    hypercorn_deflate.install(1024)
    seen: dict[str, Any] = {}
    async with hypercorn_serving(sending_app(seen)) as url:
        assert await receive_all(url) == MESSAGES
    sender = seen["sender"]
    assert isinstance(sender, FrameSender)  # the stream behind Quart's WebSocket was found
    assert sender.limit == 1024  # permessage-deflate was negotiated: 5,000 bytes and more went to wsproto


async def test_an_app_listening_to_websocket_sent_still_sees_every_message():
    hypercorn_deflate.install(1024)
    sent: list[str | bytes] = []

    async def listener(message: str | bytes) -> None:
        sent.append(message)

    websocket_sent.connect(listener)
    try:
        async with hypercorn_serving(sending_app({})) as url:
            assert await receive_all(url) == MESSAGES
    finally:
        websocket_sent.disconnect(listener)
    assert sent == MESSAGES


class FakeStream:
    """What FrameSender reads of hypercorn's WSStream, and what it sends."""

    def __init__(self, **changed: Any) -> None:
        self.stream_id, self.closed, self.state = 1, False, ASGIWebsocketState.CONNECTED
        self.connection: Any = Connection(ConnectionType.SERVER)
        self.sent: list[bytes] = []
        for name, value in changed.items():
            setattr(self, name, value)

    async def send(self, event: Any) -> None:
        self.sent.append(event.data)


@pytest.mark.parametrize("changed", [
    {"closed": True},  # the socket closed: hypercorn drops what the app sends
    {"state": ASGIWebsocketState.CLOSED},  # the app closed it
    {"state": ASGIWebsocketState.HANDSHAKE},  # not accepted yet
    {"connection": None},
    {"connection": type("Closing", (), {"state": ConnectionState.LOCAL_CLOSING})()},
])
async def test_a_stream_that_is_not_open_gets_every_message_quarts_way(changed):
    stream, fallen = FakeStream(**changed), []

    async def fallback(message: str | bytes) -> None:
        fallen.append(message)

    await FrameSender(stream, fallback)("hello")  # type: ignore[arg-type]
    assert fallen == ["hello"] and stream.sent == []


async def test_an_open_stream_gets_the_frame():
    stream = FakeStream()

    async def fallback(message: str | bytes) -> None:
        raise AssertionError("sent Quart's way")

    await FrameSender(stream, fallback)("hé")  # type: ignore[arg-type]
    assert stream.sent == [b"\x81\x03" + "hé".encode()]
