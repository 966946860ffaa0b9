"""How messages go onto a WebSocket: permessage-deflate only where it pays
(flash_ws/backends/hypercorn_deflate.py), and the writer's send without Quart's extra loop turn."""

from __future__ import annotations

import inspect

import pytest
from hypercorn.protocol import ws_stream
from quart.datastructures import Headers
from quart.wrappers.websocket import Websocket
from wsproto.connection import Connection, ConnectionType
from wsproto.events import TextMessage
from wsproto.extensions import PerMessageDeflate

from flash_ws import Flash
from flash_ws.backends import hypercorn_deflate as ws_compression
from flash_ws.backends.hypercorn_deflate import SizedDeflate
from flash_ws.backends.quart import QuartSocket
from tests.asgi import AsgiClient

OFFER = "permessage-deflate; client_max_window_bits"
RSV1 = 0x40


@pytest.fixture(autouse=True)
def default_threshold():
    yield
    ws_compression.install(ws_compression.DEFAULT_MIN_BYTES)


def pair(min_bytes: int) -> tuple[Connection, Connection]:
    """A server connection with SizedDeflate and a client with wsproto's own, both negotiated."""
    SizedDeflate.min_bytes = min_bytes
    server_ext, client_ext = SizedDeflate(), PerMessageDeflate()
    client_ext.finalize(server_ext.accept(OFFER))
    return (Connection(ConnectionType.SERVER, extensions=[server_ext]),
            Connection(ConnectionType.CLIENT, extensions=[client_ext]))


def update(seq: int, points: int) -> str:
    data = ",".join(["1.5"] * points)
    return f'[{{"t":"update","seq":{seq},"run":1,"props":[["out",{{"data":[{data}]}}]]}}]'


def test_small_messages_go_out_uncompressed_and_large_ones_compressed():
    server, _ = pair(1024)
    small, large = update(1, 10), update(2, 2000)
    small_frame, large_frame = server.send(TextMessage(data=small)), server.send(TextMessage(data=large))
    assert not small_frame[0] & RSV1 and small_frame.endswith(small.encode())
    assert large_frame[0] & RSV1 and len(large_frame) < len(large) // 10


def test_a_client_reads_compressed_and_uncompressed_messages_mixed_in_one_context():
    server, client = pair(300)
    texts = [update(seq, 10 if seq % 3 else 500) for seq in range(1, 40)]
    for text in texts:
        client.receive_data(server.send(TextMessage(data=text)))
    received = [event.data for event in client.events() if isinstance(event, TextMessage)]
    assert received == texts


def test_zero_compresses_every_message():
    server, _ = pair(0)
    assert server.send(TextMessage(data=update(1, 1)))[0] & RSV1


@pytest.mark.parametrize("backend", ["quart", "fastapi"])
async def test_flash_installs_its_threshold_in_hypercorn_when_it_starts_serving_not_before(backend):
    ws_compression.install(ws_compression.DEFAULT_MIN_BYTES)
    app = Flash(__name__, backend=backend, ws_compress_min_bytes=4096)
    assert SizedDeflate.min_bytes == ws_compression.DEFAULT_MIN_BYTES  # constructing it changed nothing
    client = AsgiClient(app.server)
    await client.start()  # the server's startup (hypercorn is imported in this process)
    try:
        assert ws_stream.PerMessageDeflate is SizedDeflate and SizedDeflate.min_bytes == 4096
    finally:
        await client.stop()


def test_a_negative_threshold_is_refused_by_name():
    with pytest.raises(ValueError, match="ws_compress_min_bytes"):
        Flash(__name__, ws_compress_min_bytes=-1)


def test_the_writer_sends_through_quarts_connection_without_its_extra_loop_turn():
    async def send(data):
        pass

    # Quart 0.23 (Python 3.13 only) buffers what arrives itself and takes no receive
    receive = {"receive": send} if "receive" in inspect.signature(Websocket).parameters else {}
    ws = Websocket("/", b"", "ws", Headers(), "", "1.1", [], **receive, send=send, accept=send, close=send, scope={})
    assert QuartSocket(ws).send is send  # Quart still keeps it there: else the writer falls back to ws.send


def test_a_websocket_object_without_it_is_sent_to_with_its_send():
    class Plain:
        async def send(self, data):
            pass

    plain = Plain()
    assert QuartSocket(plain).send == plain.send
