"""FreezingProxy: a loopback TCP relay that can stop reading what the server sends, as a stalled client.

Until ``freeze()`` it relays both ways. While frozen it reads nothing from the server on any
connection, open or opened later, and delivers nothing to the client, but keeps every connection
open and still relays what the client sends: to the server, the page has stopped reading its
sockets. Once the relay's own small buffer (``READ_LIMIT``) and the kernel's socket buffers are
full, the server's writes no longer complete. ``thaw()`` relays again.
"""

from __future__ import annotations

import asyncio
import contextlib

from benchmarks.proxy_connection import LOOPBACK

READ_LIMIT = 16 * 1024  # bytes the relay reads ahead of a frozen client, per direction (asyncio's pause mark)
CHUNK = 16 * 1024


class FreezingProxy:
    """Listens on a free ``127.0.0.1`` port and relays to ``127.0.0.1:upstream_port``."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = 0
        self.connections = 0
        self.bytes_down = 0  # delivered server -> client
        self._thawed = asyncio.Event()
        self._thawed.set()
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def frozen(self) -> bool:
        return not self._thawed.is_set()

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._accept, LOOPBACK, 0, limit=READ_LIMIT)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    def freeze(self) -> None:
        self._thawed.clear()

    def thaw(self) -> None:
        self._thawed.set()

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        self._thawed.set()
        for writer in self._writers:
            writer.transport.abort()  # every relay ends at its next read or write
        await asyncio.gather(*self._handlers, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self.connections += 1
        server_writer = None
        self._writers.add(client_writer)
        try:
            server_reader, server_writer = await asyncio.open_connection(LOOPBACK, self.upstream_port, limit=READ_LIMIT)
            self._writers.add(server_writer)
            up = asyncio.ensure_future(self._relay(client_reader, server_writer, gated=False))
            down = asyncio.ensure_future(self._relay(server_reader, client_writer, gated=True))
            try:
                await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                up.cancel()
                down.cancel()
                await asyncio.gather(up, down, return_exceptions=True)
        except OSError:
            pass
        finally:
            for writer in (client_writer, server_writer):
                if writer is not None:
                    writer.close()
                    self._writers.discard(writer)
            self._handlers.discard(task)

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, gated: bool) -> None:
        """Copy until EOF; ``gated`` (server -> client) reads only while thawed."""
        with contextlib.suppress(OSError):
            while True:
                if gated:
                    await self._thawed.wait()
                data = await reader.read(CHUNK)
                if not data:
                    return
                if gated:
                    await self._thawed.wait()  # what was read as the freeze began waits in the relay
                    self.bytes_down += len(data)
                writer.write(data)
                await writer.drain()
